#!/usr/bin/env python
"""Train a motion model (training only; same config and flags as tools/main.py)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppgan.utils.cli import quiet_warnings, run_program  # noqa: E402

quiet_warnings()


def main(argv=None):
    from ppgan.engine.launch import main as launch
    return launch(argv, "tools/train.py", evaluate=False)


if __name__ == "__main__":
    run_program(main)
