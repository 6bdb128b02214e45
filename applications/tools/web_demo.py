#!/usr/bin/env python
"""A web page for animating a photo with a driving video (Gradio; the webui extra); see --help."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from ppgan.utils.cli import quiet_warnings, run_program  # noqa: E402

quiet_warnings()


def main(argv=None):
    from ppgan.apps.web_demo import main as web_demo
    return web_demo(argv)


if __name__ == "__main__":
    run_program(main)
