#!/usr/bin/env python
"""Export a First Order Motion Model as Paddle static graphs (and ONNX) for deployment; see --help."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppgan.utils.cli import quiet_warnings, run  # noqa: E402

quiet_warnings()


def main(argv=None):
    from ppgan.apps.deploy_cli import export_main
    return export_main(argv)


if __name__ == "__main__":
    run(main)
