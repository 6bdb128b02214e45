#!/usr/bin/env python
"""List or clean the export cache (the models exported once per frame size for the fast backends); see --help."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppgan.utils.cli import quiet_warnings, run  # noqa: E402

quiet_warnings()


def main(argv=None):
    from ppgan.apps.cache import main as cache
    return cache(argv)


if __name__ == "__main__":
    run(main)
