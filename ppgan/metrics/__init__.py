"""Evaluation metrics."""
from .reconstruction import l1_distance, RunningMean  # noqa: F401
