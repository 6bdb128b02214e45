#!/usr/bin/env python
"""Animate an avatar live from a camera or a video played as one; see --help."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from ppgan.utils.cli import quiet_warnings, run_program  # noqa: E402

quiet_warnings()


def main(argv=None):
    from ppgan.apps.live_demo import main as live
    return live(argv)


if __name__ == "__main__":
    run_program(main)
