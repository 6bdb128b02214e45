#!/usr/bin/env python
"""Train and/or evaluate a motion model (First Order or Thin-Plate Spline; PaddleGAN-style entry point); see --help."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppgan.utils.cli import quiet_warnings, run_program  # noqa: E402

quiet_warnings()


def main(argv=None):
    from ppgan.engine.launch import main as launch
    return launch(argv, "tools/main.py", evaluate=True)


if __name__ == "__main__":
    run_program(main)
