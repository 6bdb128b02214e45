"""One logger per package, configured once for command-line tools."""
import logging
import sys


def get_logger(name="ppgan"):
    """Return the project logger (child loggers share its handler)."""
    return logging.getLogger(name)


def setup_logging(level=logging.INFO, log_file=None):
    """Send project log records to stderr (and to `log_file` if given)."""
    root = logging.getLogger("ppgan")
    root.setLevel(level)
    root.propagate = False  # Paddle attaches its own handler to the root logger
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s %(message)s", "%H:%M:%S"))
        root.addHandler(handler)
    if log_file:
        fh = logging.FileHandler(log_file)
        fh.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s %(name)s: %(message)s"))
        root.addHandler(fh)
    return root
