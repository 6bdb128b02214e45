"""Read PyTorch checkpoints (legacy and zip formats) into numpy without PyTorch and without
unpickling arbitrary objects: only tensors, storages, containers and plain values are allowed.
"""
import io
import pickle
import struct
import zipfile
from collections import OrderedDict

import numpy as np

from ppgan.utils.errors import CheckpointError
from ppgan.utils.safe_pickle import PLAIN_GLOBALS, RestrictedUnpickler

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
    "UntypedStorage": np.uint8,
}


class _StorageType:
    """Stands in for torch.<X>Storage classes: only remembers the element type."""

    def __init__(self, name):
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


def _bfloat16_storage():
    st = _StorageType("UntypedStorage")
    st.name = "BFloat16Storage"
    st.dtype = np.dtype(np.uint16)  # widened to float32 in _as_array
    return st


class _Storage:
    """A flat typed buffer read from the checkpoint."""

    def __init__(self, storage_type, data=None):
        self.storage_type = storage_type
        self.data = data


def _as_array(storage, offset, size, stride):
    data = storage.data
    if data is None:
        raise CheckpointError("the checkpoint references tensor data that is missing (the file is truncated?)")
    if storage.storage_type.name == "BFloat16Storage":
        data = (data.astype(np.uint32) << 16).view(np.float32)
    size = tuple(int(s) for s in size)
    if not size:
        return np.array(data[offset], copy=True)
    itemsize = data.dtype.itemsize
    needed = offset + sum((s - 1) * st for s, st in zip(size, stride)) + 1 if all(size) else 0
    if needed > data.size:
        raise CheckpointError("a tensor in the checkpoint points past the end of its data (corrupt file?)")
    view = np.lib.stride_tricks.as_strided(data[offset:], shape=size,
                                           strides=tuple(int(s) * itemsize for s in stride))
    return np.array(view, copy=True)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    return _as_array(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    return data


def _rebuild_from_type_v2(func, new_type, args, state):
    return func(*args)


class _LazyTensor:
    """A tensor whose storage is filled after the main pickle (legacy format)."""


_ALLOWED = {
    **PLAIN_GLOBALS,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch.nn.parameter", "Parameter"): "Parameter",
    ("torch", "Tensor"): "Tensor",
}


class _TorchUnpickler(RestrictedUnpickler):
    """The restricted unpickler with PyTorch's tensor rebuilders and storage types (`overrides` replace
    allowed globals)."""

    def __init__(self, file, persistent_load, overrides=None):
        super().__init__(file, {**_ALLOWED, **(overrides or {})}, persistent_load)

    def find_class(self, module, name):
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if module == "torch" and name == "BFloat16Storage":
            return _bfloat16_storage()
        return super().find_class(module, name)


def _load_zip(path):
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise CheckpointError("'%s' is not a readable PyTorch zip checkpoint: %s" % (path, e)) from e
    with archive:
        names = archive.namelist()
        pkl = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
        if not pkl:
            raise CheckpointError("'%s' is a zip file but not a PyTorch checkpoint (no data.pkl)" % path)
        prefix = pkl[0][: -len("data.pkl")]
        byteorder = prefix + "byteorder"
        if byteorder in names and archive.read(byteorder).decode().strip() != "little":
            raise CheckpointError("'%s' was saved on a big-endian machine; this is not supported" % path)
        cache = {}

        def persistent_load(pid):
            if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
                raise CheckpointError("unexpected persistent id %r in '%s'" % (pid, path))
            storage_type, key = pid[1], str(pid[2])
            if key not in cache:
                try:
                    raw = archive.read(prefix + "data/" + key)
                except KeyError:
                    raise CheckpointError("'%s' lacks the data record '%s' (truncated file?)" % (path, key))
                dtype = storage_type.dtype
                cache[key] = _Storage(storage_type, np.frombuffer(raw[: len(raw) // dtype.itemsize * dtype.itemsize],
                                                                  dtype=dtype))
            return cache[key]

        try:
            return _TorchUnpickler(io.BytesIO(archive.read(pkl[0])), persistent_load).load()
        except CheckpointError:
            raise
        except Exception as e:
            raise CheckpointError("cannot read '%s': %s" % (path, e)) from e


def _load_legacy(path, f):
    def plain(stream):
        return _TorchUnpickler(stream, lambda pid: (_ for _ in ()).throw(
            CheckpointError("unexpected persistent id in a header"))).load()

    magic = plain(f)
    if magic != LEGACY_MAGIC:
        raise CheckpointError("'%s' is not a PyTorch checkpoint" % path)
    protocol = plain(f)
    if protocol != LEGACY_PROTOCOL:
        raise CheckpointError("'%s' has an unsupported legacy protocol version %r" % (path, protocol))
    sys_info = plain(f)
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise CheckpointError("'%s' was saved on a big-endian machine; this is not supported" % path)
    storages = {}
    views = []

    def persistent_load(pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise CheckpointError("unexpected persistent id %r in '%s'" % (pid, path))
        _, storage_type, root_key, _location, _numel, view_metadata = pid
        root_key = str(root_key)
        if root_key not in storages:
            storages[root_key] = _Storage(storage_type)
        if view_metadata is None:
            return storages[root_key]
        view_key, offset, view_size = view_metadata
        view = _Storage(storage_type)
        views.append((view, storages[root_key], int(offset), int(view_size)))
        return view

    # Tensors are rebuilt after their storages are read, so collect the calls first.
    pending = []

    def deferred_rebuild(storage, storage_offset, size, stride, *rest):
        holder = _LazyTensor()
        pending.append((holder, storage, storage_offset, size, stride))
        return holder

    result = _TorchUnpickler(f, persistent_load,
                                  {("torch._utils", "_rebuild_tensor_v2"): deferred_rebuild}).load()
    keys = plain(f)
    if not isinstance(keys, list):
        raise CheckpointError("'%s' has a malformed storage table" % path)
    for key in keys:
        storage = storages.get(str(key))
        if storage is None:
            raise CheckpointError("'%s' has data for an unknown storage %r" % (path, key))
        header = f.read(8)
        if len(header) != 8:
            raise CheckpointError("'%s' is truncated (a tensor's data is missing)" % path)
        (numel,) = struct.unpack("<q", header)
        nbytes = numel * storage.storage_type.dtype.itemsize
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise CheckpointError("'%s' is truncated (a tensor's data is cut short)" % path)
        storage.data = np.frombuffer(raw, dtype=storage.storage_type.dtype)
    for view, root, offset, size in views:
        if root.data is None:
            raise CheckpointError("'%s' is truncated (a tensor's data is missing)" % path)
        view.data = root.data[offset: offset + size]
    arrays = {id(holder): _as_array(storage, offset, size, stride)
              for holder, storage, offset, size, stride in pending}
    return _replace_lazy(result, arrays)


def _replace_lazy(obj, arrays):
    if isinstance(obj, _LazyTensor):
        return arrays[id(obj)]
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, OrderedDict) else {}
        for k, v in obj.items():
            out[k] = _replace_lazy(v, arrays)
        return out
    if isinstance(obj, list):
        return [_replace_lazy(v, arrays) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_replace_lazy(v, arrays) for v in obj)
    return obj


def load_torch_checkpoint(path):
    """Read a `torch.save` file into nested dicts/lists of numpy arrays and plain values."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            if head[:2] == b"PK":
                return _load_zip(path)
            f.seek(0)
            try:
                return _load_legacy(path, f)
            except CheckpointError:
                raise
            except (pickle.UnpicklingError, EOFError, ValueError, TypeError, struct.error, AttributeError,
                    IndexError, KeyError, UnicodeDecodeError) as e:
                raise CheckpointError("'%s' is not a PyTorch checkpoint or is corrupt (%s: %s)"
                                      % (path, type(e).__name__, e)) from e
    except FileNotFoundError:
        raise CheckpointError("checkpoint '%s' does not exist" % path) from None
    except IsADirectoryError:
        raise CheckpointError("checkpoint '%s' is a directory, not a file" % path) from None
    except PermissionError as e:
        raise CheckpointError("cannot read checkpoint '%s': %s" % (path, e)) from None
