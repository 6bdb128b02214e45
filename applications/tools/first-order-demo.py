#!/usr/bin/env python
"""Animate a source image with a driving video (First Order Motion Model); see --help."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from ppgan.utils.cli import quiet_warnings, run_program  # noqa: E402

quiet_warnings()


def main(argv=None):
    from ppgan.apps.demo import main as demo
    return demo(argv)


if __name__ == "__main__":
    run_program(main)
