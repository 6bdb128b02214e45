"""One logger per package, configured once for command-line tools; noise of native libraries filtered."""
import contextlib
import logging
import os
import sys
import tempfile


def get_logger(name="ppgan"):
    """Return the project logger (child loggers share its handler)."""
    return logging.getLogger(name)


class _StderrHandler(logging.StreamHandler):
    """A handler writing to whatever sys.stderr is when a record is emitted (not the stream of the moment it
    was made: a redirected or replaced stderr, e.g. a test's captured one that is closed later, is followed)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def setup_logging(level=logging.INFO, log_file=None):
    """Send project log records to stderr (and to `log_file` if given)."""
    root = logging.getLogger("ppgan")
    root.setLevel(level)
    root.propagate = False  # Paddle attaches its own handler to the root logger
    if not root.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s %(message)s", "%H:%M:%S"))
        root.addHandler(handler)
    if log_file:
        fh = logging.FileHandler(log_file)
        fh.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s %(name)s: %(message)s"))
        root.addHandler(fh)
    return root


@contextlib.contextmanager
def drop_native_messages(*patterns):
    """Hide the lines matching any of the regular expressions `patterns` that native code (Paddle's glog)
    writes to the process's standard error while the block runs; the other lines are written back, in order,
    when it ends."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [line for line in held.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if not any(pattern.search(line) for pattern in patterns)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
