"""Shared behaviour of the command-line tools: one-line errors and exit code 2."""
import argparse
import logging
import sys
import warnings

from .cpu import configure_math_library
from .errors import PPGanError
from .logger import setup_logging


def quiet_warnings():
    """Hide third-party import-time warnings that say nothing to a user of the tools."""
    warnings.filterwarnings("ignore", message=".*ccache.*")


def height_width(text):
    """argparse type of an 'H,W' frame size flag: (H, W) of positive integers."""
    try:
        height, width = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("expected H,W such as 256,256, got %r" % text) from None
    if height < 1 or width < 1:
        raise argparse.ArgumentTypeError("H and W must be positive, got %r" % text)
    return height, width


def add_face_detector_arguments(parser, which="face detector (ppgan.detectors): dlib (68-landmark stack of the "
                                                        "eval extra) or haar (OpenCV's frontal cascade)"):
    """--detector (a FACE_DETECTORS name, described by `which`) and --method (dlib's) of a tool that finds faces;
    `face_detector_config(args.detector, args.method)` turns them into a detector config."""
    parser.add_argument("--detector", default="dlib", help="%s (default: %%(default)s)" % which)
    parser.add_argument("--method", default="hog", choices=("hog", "cnn", "hog_then_cnn"),
                        help="dlib's detector: hog (fast, frontal faces), cnn (turned faces too, ~20x slower) or "
                             "hog_then_cnn (the CNN on frames where HOG finds nothing) (default: %(default)s)")


def run(main, argv=None):
    """Call `main(argv)`; a project error prints 'error: <message>' and exits 2, Ctrl-C exits 130."""
    quiet_warnings()
    setup_logging(logging.INFO)
    try:
        code = main(argv)
    except PPGanError as e:
        print("error: %s" % e, file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)


def run_program(main):
    """What a program's `if __name__ == "__main__":` calls: MKL's fastest safe CPU path
    (ppgan.utils.cpu.configure_math_library, before the first computation), then :func:`run`.

    Tests call :func:`run` in-process instead, so one pytest process keeps a single MKL code path from its
    first test to its last (MKL reads the setting once, at its first call).
    """
    configure_math_library()
    run(main)

