"""Small file helpers shared by everything that writes results."""
import contextlib
import os
import tempfile


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_file_next_to(path):
    """Create an empty hidden file beside `path`, same extension, with the permissions a new file gets.

    mkstemp makes files readable by their owner only; results renamed from it would keep that mode.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    base, ext = os.path.splitext(os.path.basename(path))
    fd, tmp = tempfile.mkstemp(prefix="." + base + ".", suffix=".tmp" + ext, dir=folder)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    return tmp


def temp_dir_next_to(path, suffix=".tmp"):
    """Create an empty hidden folder beside `path` with the permissions a new folder gets."""
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(path) + ".", suffix=suffix, dir=parent)
    os.chmod(tmp, 0o777 & ~_umask())
    return tmp


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to `path` for tools that write by name; rename on success."""
    path = os.fspath(path)
    tmp = temp_file_next_to(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file next to `path`; rename it onto `path` only if the block succeeds."""
    with atomic_path(path) as tmp:
        with open(tmp, mode) as f:
            yield f


def cache_root():
    """Where the project keeps what it makes or fetches once (model exports, released weights a user asked to
    download): $PPGAN_CACHE_DIR or ~/.cache/ppgan-fomm."""
    return os.environ.get("PPGAN_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "ppgan-fomm")
