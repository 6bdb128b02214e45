"""Reconstruction quality: the paper's L1 between reconstructed and real frames (Sec. 4, Table 1)."""
import numpy as np


def l1_distance(prediction, target):
    """Mean absolute difference of two image arrays/tensors in [0, 1] (per element)."""
    prediction = prediction.numpy() if hasattr(prediction, "numpy") else np.asarray(prediction)
    target = target.numpy() if hasattr(target, "numpy") else np.asarray(target)
    return float(np.abs(prediction.astype(np.float64) - target.astype(np.float64)).mean())


class RunningMean:
    """A mean over items added in chunks, weighted by how many items each chunk holds."""

    def __init__(self):
        self.total = 0.0
        self.count = 0

    def add(self, value, count=1):
        self.total += float(value) * count
        self.count += count

    @property
    def value(self):
        return self.total / self.count if self.count else float("nan")
