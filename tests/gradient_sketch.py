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
