"""Unpickling weight files without running them: only arrays, plain values and containers come out.

A pickle is a program: unpickling calls whatever callables the file names (``os.system`` included), so a
crafted ``.pdparams`` runs code in ``paddle.load``. Weight files are untrusted input (downloaded, shared,
converted), so every one the project reads goes through :class:`RestrictedUnpickler`: a callable the file
names is looked up in an allow-list (containers, numpy's array and scalar rebuilders), anything else stops the
read with one :class:`CheckpointError` before it is called.

:func:`read_pdparams` reads what ``paddle.save`` writes (Paddle 2.x and 3.x: tensors pickled as
``(name, ndarray)`` pairs or as bare arrays, an optional name table, big arrays split in slices) as nested
dicts / lists / tuples of numpy arrays and plain values, as ``paddle.load(path, return_numpy=True)`` returns
them.
"""
import collections
import pickle

import numpy as np

from .errors import CheckpointError

NAME_TABLE = "StructuredToParameterName@@"   # paddle.save's structured-name -> parameter-name table
BIG_PARAMS = "UnpackBigParamInfor@@"          # paddle.save (protocol 2/3): arrays over 4 GB cut into slices
NUMERIC_KINDS = "biufc"                       # bool, signed, unsigned, float, complex: arrays of numbers only


def _numpy_global(name):
    """numpy's array / scalar rebuilders: numpy 2 moved numpy.core to numpy._core, pickles name either."""
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray
    return getattr(multiarray, name)


def _latin1_bytes(text, encoding="latin1"):
    """Pickle protocols 2 and 3 write bytes as _codecs.encode(text, 'latin1'); no other codec is taken."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise CheckpointError("the file asks for bytes in the %r codec; only latin1 is read" % (encoding,))
    return text.encode("latin1")


PLAIN_GLOBALS = {
    ("_codecs", "encode"): _latin1_bytes,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("builtins", "complex"): complex,
    ("builtins", "tuple"): tuple,   # paddle.save pickles a Tensor as tuple((name, ndarray))
}
NUMPY_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    for _name in ("_reconstruct", "scalar"):
        NUMPY_GLOBALS[(_module, _name)] = _numpy_global(_name)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals of `allowed` ({(module, name): object}); any other global
    raises CheckpointError, without importing or calling it."""

    def __init__(self, file, allowed, persistent_load=None, encoding="utf-8"):
        super().__init__(file, encoding=encoding)
        self._allowed = allowed
        self._persistent = persistent_load

    def find_class(self, module, name):
        if (module, name) in self._allowed:
            return self._allowed[(module, name)]
        raise CheckpointError(
            "the file contains a Python object of type %s.%s; only arrays and plain containers are read (a "
            "weights file is untrusted input and is never unpickled as code). Save the nets' state_dict()s "
            "instead." % (module, name))

    def persistent_load(self, pid):
        if self._persistent is None:
            raise pickle.UnpicklingError("unexpected persistent id %r" % (pid,))
        return self._persistent(pid)


def _is_tensor_pair(obj):
    """paddle.save's pickled Tensor: a (name, ndarray) tuple."""
    return type(obj) is tuple and len(obj) == 2 and isinstance(obj[0], str) and isinstance(obj[1], np.ndarray)


def plain_values(obj, path="the file"):
    """`obj` with every (name, ndarray) pair replaced by its array; raises CheckpointError on anything but
    dicts, lists, tuples, sets, numeric arrays and plain scalars (an object array could hide anything)."""
    if _is_tensor_pair(obj):
        obj = obj[1]
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in NUMERIC_KINDS:
            raise CheckpointError("%s holds an array of %s, not of numbers" % (path, obj.dtype))
        return obj
    if isinstance(obj, np.generic):
        if obj.dtype.kind not in NUMERIC_KINDS:
            raise CheckpointError("%s holds a numpy value of %s, not a number" % (path, obj.dtype))
        return obj
    if obj is None or type(obj) in (bool, int, float, complex, str, bytes, slice):
        return obj
    if type(obj) in (dict, collections.OrderedDict):
        out = type(obj)()
        for key, value in obj.items():
            out[plain_values(key, path)] = plain_values(value, path)
        return out
    if type(obj) in (list, tuple, set, frozenset):
        return type(obj)(plain_values(value, path) for value in obj)
    raise CheckpointError("%s holds a %s, which is not an array or a plain container" % (path, type(obj).__name__))


def _join_big_params(state):
    """Undo paddle.save's slicing of arrays over 4 GB (protocols 2 and 3)."""
    info = state.pop(BIG_PARAMS)
    for key, entry in info.items():
        slices = [state.pop(name) for name in entry["slices"]]
        state[key] = np.concatenate([np.asarray(s).ravel() for s in slices]).reshape(entry["OriginShape"])
    return state


def read_pdparams(path):
    """What `paddle.load(path, return_numpy=True)` returns for a file of `paddle.save`, read without running
    code: nested dicts / lists / tuples of numpy arrays and plain values. Raises CheckpointError for a global
    outside the allow-list (nothing it names is imported or called) and pickle's own errors for a file that is
    no pickle or is truncated."""
    with open(path, "rb") as f:
        obj = RestrictedUnpickler(f, {**PLAIN_GLOBALS, **NUMPY_GLOBALS}, encoding="latin1").load()
    if isinstance(obj, dict):
        if BIG_PARAMS in obj:
            obj = _join_big_params(obj)
        obj.pop(NAME_TABLE, None)
    return plain_values(obj, "'%s'" % path)
