#!/usr/bin/env python
"""The FOMM paper's metrics (L1, AKD, MKR, AED) between a folder of real and a folder of generated videos; see --help."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppgan.utils.cli import quiet_warnings, run_program  # noqa: E402

quiet_warnings()


def main(argv=None):
    from ppgan.engine.video_metrics import main as evaluate_videos
    return evaluate_videos(argv)


if __name__ == "__main__":
    run_program(main)
