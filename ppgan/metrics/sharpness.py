"""Sharpness of generated frames: how much high-frequency energy a reconstruction keeps.

A decoder trained with an L1 loss alone tends to blur; the L1 figure does not show it (a blurred frame
can be close on average). The variance of the Laplacian of a frame's grey levels measures its edges and
fine texture; the ratio of that of the generated frames to that of the real ones is ~0 for a blob and 1
for as sharp as the truth.
"""
import cv2

from ppgan.utils.video import as_uint8_rgb

from .reconstruction import RunningMean


def laplacian(frame):
    """The Laplacian (float64) of a uint8 RGB frame's grey levels."""
    return cv2.Laplacian(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), cv2.CV_64F)


def laplacian_variance(frame):
    """Variance of the Laplacian of a uint8 RGB frame's grey levels: its high-frequency energy (sharpness)."""
    return float(laplacian(frame).var())


class Sharpness:
    """`on_chunk` of the evaluator's `reconstruct`: mean Laplacian variance of the predicted and of the real
    (driving) frames, and their ratio."""

    def __init__(self):
        self.generated, self.real = RunningMean(), RunningMean()

    def __call__(self, name, driving, out):
        for mean, frames in ((self.generated, out["prediction"]), (self.real, driving)):
            for frame in frames.numpy().transpose(0, 2, 3, 1):
                mean.add(laplacian_variance(as_uint8_rgb(frame)))

    @property
    def ratio(self):
        return self.generated.value / self.real.value
