"""A compact, checkable summary of a gradient tensor: its norm and K seeded random projections.

The full float64 gradients of the original model are tens of MB; what a parity test needs from
each tensor is its relative L2 distance to ours, ||g - r|| / ||r||. With R a K x n matrix of
independent N(0, 1/K) entries, ||R x||^2 / ||x||^2 follows chi^2_K / K, so ||R g - R r|| / ||r||
estimates that distance (for K = 32 it lies within 0.55x..1.45x of the true value with
probability > 99%). R is drawn from a seed derived from the tensor's name, so the recorder and
the test draw the same matrix on any machine.
"""
import zlib

import numpy as np

K = 32


def _projection(key, size):
    rng = np.random.RandomState(zlib.crc32(key.encode("utf-8")))
    return rng.standard_normal((K, size)) / np.sqrt(K)


def sketch(key, grad):
    """(norm, projections) of `grad` (any shape) for the tensor named `key`."""
    flat = np.asarray(grad, dtype=np.float64).ravel()
    return np.linalg.norm(flat), _projection(key, flat.size) @ flat


def distance(key, grad, ref_norm, ref_projections):
    """Estimated ||grad - ref|| (absolute) from the reference's sketch."""
    flat = np.asarray(grad, dtype=np.float64).ravel()
    return float(np.linalg.norm(_projection(key, flat.size) @ flat - ref_projections))


# The TPSMM fixtures (../shared/parity-tpsmm) record a gradient as its L2 norm and 16 projections sum(g * r_j)
# onto standard normal tensors r_j of the parameter's (PyTorch) shape, drawn from the parameter's name.
TPSMM_PROJECTIONS = 16


def tpsmm_projections(key, grad):
    """The 16 projections of `grad` (PyTorch's shape) the TPSMM fixtures hold for the tensor named `key`
    ('<net>/<param>'). Drawn one r_j at a time: the same numbers as one (16,) + shape draw, in less memory."""
    return tpsmm_projections_of_many(key, [grad])[0]


def tpsmm_projections_of_many(key, grads):
    """tpsmm_projections of several gradients of the tensor `key`, (len(grads), 16), from one set of draws."""
    flats = np.stack([np.asarray(g, dtype=np.float64).ravel() for g in grads], axis=1)
    rng = np.random.RandomState(zlib.crc32(key.encode("utf-8")) & 0x7fffffff)
    return np.stack([rng.standard_normal(flats.shape[0]) @ flats for _ in range(TPSMM_PROJECTIONS)], axis=1)


def tpsmm_relative_distance(key, grad, ref_norm, ref_projections):
    """Estimated ||grad - ref|| / ||ref|| from the reference's norm and projections: E[(r . x)^2] = ||x||^2 for
    r ~ N(0, I), so ||P x|| / 4 estimates ||x|| (within 0.66x..1.34x with probability 95%, 0.57x..1.46x with
    probability 99%: chi with 16 degrees of freedom, over 4)."""
    diff = tpsmm_projections(key, grad) - np.asarray(ref_projections, dtype=np.float64)
    return float(np.linalg.norm(diff) / np.sqrt(TPSMM_PROJECTIONS) / ref_norm)
