"""The export cache: the models that backend 'auto' / 'onnx' / 'inference' exported once per frame size, under
`ppgan.utils.io.cache_root()`/exports, listed, bounded and cleaned.

A shipped 64x64 model's export takes 5-21 MB, FOMM's 256x256 vox model's 457 MB, so a few tries of released
models fill gigabytes. After each new export the least recently used exports are removed until the cache is at
most PPGAN_CACHE_MAX_MB megabytes (default 2048), sparing any used in the last few minutes (another process
may be running it); an export is not started when the disk would keep less than RESERVE_MB free after it
(its size estimated from the nets' weights).
`python tools/cache.py` lists the cache and `python tools/cache.py clean` empties it.
"""
import argparse
import json
import os
import shutil
import time

from ppgan.utils.errors import InputError
from ppgan.utils.io import cache_root
from ppgan.utils.logger import get_logger

logger = get_logger("ppgan.apps")

LIMIT_VARIABLE = "PPGAN_CACHE_MAX_MB"
DEFAULT_LIMIT_MB = 2048
RESERVE_MB = 256  # an export is not started when the disk holding the cache would keep less free than this after it
# An export's bytes per byte of the nets' parameters and buffers: Paddle Inference parameters plus ONNX graphs hold
# the weights about twice (2.1x measured for the shipped TPSMM), and a margin for the graph files.
EXPORT_BYTES_PER_WEIGHT_BYTE = 2.5
IN_USE_SECONDS = 600  # exports used this recently are never removed automatically
_MB = 1024 * 1024


def exports_root():
    """The folder holding one folder per export."""
    return os.path.join(cache_root(), "exports")


def limit_bytes():
    """The cache's bound in bytes: $PPGAN_CACHE_MAX_MB megabytes (0 or less: no bound), else DEFAULT_LIMIT_MB."""
    text = os.environ.get(LIMIT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_LIMIT_MB * _MB
    try:
        value = float(text)
    except ValueError:
        raise InputError("%s=%r is not a number of megabytes; set it to e.g. 2048, or 0 for no bound"
                         % (LIMIT_VARIABLE, text)) from None
    return None if value <= 0 else int(value * _MB)


def folder_bytes(folder):
    """Bytes of the files under `folder`."""
    total = 0
    for parent, _, names in os.walk(folder):
        for name in names:
            try:
                total += os.lstat(os.path.join(parent, name)).st_size
            except OSError:  # removed meanwhile
                pass
    return total


def touch(folder):
    """Record that the export `folder` was used now (its last use orders what is removed first)."""
    try:
        os.utime(folder)
    except OSError:  # a read-only cache still serves
        pass


def entries():
    """The exports in the cache, least recently used first: dicts of path, bytes, last_used (epoch seconds) and,
    from the manifest, model, image_size and weights (None where unreadable)."""
    root = exports_root()
    found = []
    if not os.path.isdir(root):
        return found
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if not os.path.isdir(path):
            continue
        entry = {"path": path, "bytes": folder_bytes(path), "last_used": os.stat(path).st_mtime, "model": None,
                 "image_size": None, "weights": None}
        try:
            with open(os.path.join(path, "manifest.json")) as f:
                manifest = json.load(f)
            entry.update(model=manifest.get("model", "FirstOrderModel"), image_size=manifest.get("image_size"),
                         weights=(manifest.get("source") or {}).get("weights"))
        except (OSError, ValueError, AttributeError):
            pass  # an unfinished or foreign folder: listed, and removed like the others
        found.append(entry)
    return sorted(found, key=lambda e: e["last_used"])


def remove(entry):
    """Delete one export folder (an entry of :func:`entries`)."""
    shutil.rmtree(entry["path"], ignore_errors=True)


def prune(limit=None, keep=(), now=None, in_use_seconds=IN_USE_SECONDS):
    """Remove the least recently used exports until the cache holds at most `limit` bytes (default
    :func:`limit_bytes`), never those in `keep` or used in the last `in_use_seconds`; returns the entries removed."""
    limit = limit_bytes() if limit is None else limit
    if limit is None:
        return []
    now = time.time() if now is None else now
    found = entries()
    total = sum(e["bytes"] for e in found)
    kept = {os.path.abspath(k) for k in keep}
    removed = []
    for entry in found:
        if total <= limit:
            break
        if os.path.abspath(entry["path"]) in kept or now - entry["last_used"] < in_use_seconds:
            continue
        remove(entry)
        removed.append(entry)
        total -= entry["bytes"]
    if removed:
        logger.info("removed %d least recently used export(s) (%.0f MB) from the cache %s to keep it under %.0f MB "
                    "(%s)", len(removed), sum(e["bytes"] for e in removed) / _MB, exports_root(), limit / _MB,
                    LIMIT_VARIABLE)
    return removed


def export_bytes(*nets):
    """The estimated size in bytes of an export of these Paddle layers (None entries are skipped): their
    parameters' and buffers' bytes times EXPORT_BYTES_PER_WEIGHT_BYTE."""
    total = 0
    for net in nets:
        if net is None:
            continue
        for tensor in net.state_dict().values():
            total += int(tensor.numel()) * tensor.element_size()
    return int(total * EXPORT_BYTES_PER_WEIGHT_BYTE)


def check_free_space(folder, needed_bytes=0, reserve_mb=RESERVE_MB):
    """An InputError when writing `needed_bytes` (an export's estimated size, :func:`export_bytes`) into `folder`
    would leave the disk holding it (or its nearest existing parent) with less than `reserve_mb` megabytes free: an
    export must not fill the disk."""
    probe = os.path.abspath(folder)
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    free = shutil.disk_usage(probe).free
    if free - needed_bytes < reserve_mb * _MB:
        raise InputError("the disk holding the export cache %s has %.0f MB free, and this export (about %.0f MB) "
                         "would leave less than the %d MB an export keeps free; clean the cache (python tools/cache.py "
                         "clean), set PPGAN_CACHE_DIR to a folder on another disk, or animate without exporting "
                         "(--backend dygraph)" % (cache_root(), free / _MB, needed_bytes / _MB, reserve_mb))


def _size(n):
    return "%.1f MB" % (n / _MB) if n < 1024 * _MB else "%.2f GB" % (n / 1024.0 / _MB)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="cache.py",
        description="The export cache (%s unless PPGAN_CACHE_DIR says otherwise): the models the demo, the predictors "
                    "and the live demo export once per frame size for the fast backends. Without a command: list "
                    "it. Bounded by %s megabytes (default %d): after each new export the least recently used are "
                    "removed." % (os.path.join("~", ".cache", "ppgan-fomm", "exports"), LIMIT_VARIABLE,
                                  DEFAULT_LIMIT_MB))
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("list", help="each export: size, last use, model, frame size, weights (the default)")
    clean = commands.add_parser("clean", help="remove exports (all, unless --older_than or --max_mb says which); "
                                "they are made again when needed")
    clean.add_argument("--older_than", type=float, default=None, metavar="DAYS",
                       help="only the exports not used for this many days")
    clean.add_argument("--max_mb", type=float, default=None, metavar="MB",
                       help="only the least recently used ones, until the cache holds at most MB megabytes")
    return parser


def main(argv=None):
    """tools/cache.py: list or clean the export cache; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "clean":
        if args.older_than is not None and args.max_mb is not None:
            raise InputError("give either --older_than or --max_mb, not both")
        if args.max_mb is not None:
            if args.max_mb < 0:
                raise InputError("--max_mb must be at least 0, got %g" % args.max_mb)
            removed = prune(int(args.max_mb * _MB), in_use_seconds=0)
        else:
            if args.older_than is not None and args.older_than < 0:
                raise InputError("--older_than must be at least 0 days, got %g" % args.older_than)
            cutoff = time.time() - (args.older_than or 0) * 86400
            removed = [e for e in entries() if args.older_than is None or e["last_used"] < cutoff]
            for entry in removed:
                remove(entry)
        print("removed %d export(s), %s, from %s" % (len(removed), _size(sum(e["bytes"] for e in removed)),
                                                      exports_root()))
        return 0
    found = entries()
    limit = limit_bytes()
    print("%s: %d export(s), %s%s" % (exports_root(), len(found), _size(sum(e["bytes"] for e in found)),
                                       "" if limit is None else " (bound: %s, %s)" % (_size(limit), LIMIT_VARIABLE)))
    for entry in reversed(found):  # most recently used first
        size = entry["image_size"]
        print("  %-9s  last used %s  %-15s %-9s %s" % (
            _size(entry["bytes"]), time.strftime("%Y-%m-%d %H:%M", time.localtime(entry["last_used"])),
            entry["model"] or "(unreadable)", "%dx%d" % (size[1], size[0]) if size else "",
            entry["weights"] or os.path.basename(entry["path"])))
    return 0
