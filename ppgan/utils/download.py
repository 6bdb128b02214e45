"""Released weight files other projects publish: where each is published, where a copy is looked for on this
machine, and the one function that downloads.

Nothing is downloaded unless a caller asks for a release by name with ``download=True`` (PaddleGAN's documented
``FirstOrderPredictor()`` without weights, ``--mobile_net`` without ``--weight_path``). A copy already on the
machine is used first: the project's cache (``ppgan.utils.io.cache_root()``/weights) or PaddleGAN's own
(~/.cache/ppgan), where a PaddleGAN user has them already. With ``PPGAN_OFFLINE=1`` (the tests set it) or without a
network the caller gets one line naming the URL and the argument to pass instead.

PaddleGAN publishes no checksums for these files; a download is checked by reading it as weights (nothing in it is
run: ppgan.utils.safe_pickle) before it takes its name, and its SHA-256 is logged and written beside it.
"""
import collections
import hashlib
import os

from .errors import CheckpointError
from .io import atomic_path, cache_root
from .logger import get_logger

logger = get_logger("ppgan.download")

Release = collections.namedtuple("Release", "url what")

BCEBOS = "https://paddlegan.bj.bcebos.com/"
# name -> where PaddleGAN publishes it and what it is
RELEASES = {
    "vox-cpk": Release(BCEBOS + "applications/first_order_model/vox-cpk.pdparams",
                       "PaddleGAN's First Order Motion Model for faces (VoxCeleb, 256x256)"),
    "vox-cpk-512": Release(BCEBOS + "applications/first_order_model/vox-cpk-512.pdparams",
                           "PaddleGAN's First Order Motion Model for faces (VoxCeleb, 512x512)"),
    "vox-mobile": Release(BCEBOS + "applications/first_order_model/vox-mobile.pdparams",
                          "PaddleGAN's mobile First Order Motion Model for faces (VoxCeleb, 256x256)"),
    "GPEN-512": Release(BCEBOS + "models/GPEN-512.pdparams", "PaddleGAN's GPEN face enhancer (512x512)"),
}
# other names PaddleGAN has used for the same file
ALIASES = {"vox-mobile": ("vox_mobile.pdparams",)}


def release(name):
    """The Release called `name` (a CheckpointError listing the names otherwise)."""
    if name not in RELEASES:
        raise CheckpointError("no released weights called %r; known: %s" % (name, ", ".join(sorted(RELEASES))))
    return RELEASES[name]


def file_name(name):
    """The file name of release `name` (the URL's last part)."""
    return release(name).url.rsplit("/", 1)[1]


def weights_dir():
    """Where downloaded releases are kept: cache_root()/weights."""
    return os.path.join(cache_root(), "weights")


def paddlegan_weights_dir():
    """Where PaddleGAN keeps the weights it downloaded (its WEIGHTS_HOME)."""
    return os.path.join(os.path.expanduser("~"), ".cache", "ppgan")


def candidates(name):
    """The paths a copy of release `name` is looked for at, in order."""
    names = (file_name(name),) + ALIASES.get(name, ())
    return [os.path.join(folder, n) for folder in (weights_dir(), paddlegan_weights_dir()) for n in names]


def find_release(name):
    """The path of a copy of release `name` on this machine, or None."""
    for path in candidates(name):
        if os.path.isfile(path):
            return path
    return None


def offline():
    """True when downloads are refused: PPGAN_OFFLINE set to anything but '', '0' or 'false'."""
    return os.environ.get("PPGAN_OFFLINE", "").strip().lower() not in ("", "0", "false")


def _missing(name, flag, reason):
    rel = release(name)
    return CheckpointError("%s (%s) %s: download %s yourself and pass %s=<that file> (or put it in %s)"
                           % (rel.what, file_name(name), reason, rel.url, flag, weights_dir()))


def release_path(name, flag="weight_path", download=False, check=None):
    """The local path of release `name`: a copy on this machine, else (with `download`) a fresh download.

    flag: how the caller's user passes a path instead (named in the error). check(path): raises if a download is
    not the expected file (e.g. reads it as weights). Offline, or without `download`, a missing file is one
    CheckpointError naming the URL and `flag`.
    """
    found = find_release(name)
    if found is not None:
        return found
    if not download:
        raise _missing(name, flag, "is not on this machine")
    if offline():
        raise _missing(name, flag, "is not on this machine and PPGAN_OFFLINE forbids downloading it")
    return _download(name, flag, check)


def _download(name, flag, check):
    """Download release `name` into weights_dir() (atomically, checked by `check`); the one network access."""
    import urllib.error
    import urllib.request

    from tqdm import tqdm

    rel = release(name)
    path = os.path.join(weights_dir(), file_name(name))
    logger.info("downloading %s from %s", rel.what, rel.url)
    digest = hashlib.sha256()
    try:
        with atomic_path(path) as tmp:
            with urllib.request.urlopen(rel.url, timeout=30) as response, open(tmp, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=file_name(name)) as bar:
                    for chunk in iter(lambda: response.read(1 << 20), b""):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
            if check is not None:
                check(tmp)
    except (urllib.error.URLError, OSError) as e:
        raise _missing(name, flag, "could not be downloaded (%s)" % getattr(e, "reason", e)) from None
    with open(path + ".sha256", "w") as f:
        f.write("%s  %s\n" % (digest.hexdigest(), file_name(name)))
    logger.info("saved %s (sha256 %s)", path, digest.hexdigest())
    return path
