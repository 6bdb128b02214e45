#!/usr/bin/env python
"""Animate a source image with a driving video using an exported model (Paddle Inference or ONNX Runtime); see --help."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppgan.utils.cli import quiet_warnings, run_program  # noqa: E402

quiet_warnings()


def main(argv=None):
    from ppgan.apps.deploy_cli import inference_main
    return inference_main(argv)


if __name__ == "__main__":
    run_program(main)
