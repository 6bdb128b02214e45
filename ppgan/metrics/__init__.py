"""Evaluation metrics."""
from .reconstruction import l1_distance, RunningMean  # noqa: F401
from .sharpness import laplacian_variance, Sharpness  # noqa: F401
