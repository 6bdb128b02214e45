"""ppgan/__init__.py: what importing the package sets up before Paddle loads."""
import subprocess
import sys

import paddle

ZLIB_USE = "import zlib; zlib.decompress(zlib.compress(b'ppgan' * 10)); import numpy.random"


def _python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_zlib_works_after_paddle_when_ppgan_is_imported_first():
    """Paddle 2.6.2's libpaddle.so has zlib's functions of its own: a process that loads it before the system zlib
    crashes at its first zlib use (numpy.random's import decompresses); importing ppgan first loads zlib first."""
    ours = _python("import ppgan, paddle; " + ZLIB_USE)
    assert ours.returncode == 0, ours.stderr[-2000:]
    if paddle.__version__.split(".")[0] == "2":  # the control: Paddle first, then zlib
        assert _python("import paddle; " + ZLIB_USE).returncode != 0
