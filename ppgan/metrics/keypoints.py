"""The FOMM paper's motion and identity metrics (Sec. 4, Table 3), per frame, as the authors' evaluation code
(pose-evaluation: cmp_kp.py, cmp_with_missing.py, cmp.py) computes them; a dataset's figure is the mean of the
per-frame values over every frame of every video (:func:`mean_over_frames`), frames without a value skipped.

* AKD, average keypoint distance: per frame, the mean of |x_real - x_gen| and |y_real - y_gen| over the
  keypoints found in both frames (the mean of the two coordinates' absolute differences, not the Euclidean
  distance the paper's wording suggests); a frame where no keypoint is found in both has no value.
* MKR, missing keypoint rate: per frame, the fraction of the keypoints found in the real frame that are missing
  in the generated one; a frame whose real keypoints are all missing has no value.
* AED, average euclidean distance: per frame, the *squared* L2 distance between the identity embeddings of the
  real and the generated frame; a frame where either has no embedding has no value.

Keypoints are (K, 2) pixel (x, y) arrays with x = -1 where a keypoint is missing (ppgan.detectors.MISSING: a
face detector that finds no face gives 68 missing points); embeddings are 1-D arrays, all NaN when missing.
"""
import numpy as np

from ppgan.detectors.base import MISSING
from ppgan.utils.registry import Registry

METRICS = Registry("metric")


def _points(kp):
    kp = np.asarray(kp, np.float64)
    if kp.ndim != 2 or kp.shape[1] != 2:
        raise ValueError("keypoints must be (K, 2), got shape %s" % (kp.shape,))
    return kp


def keypoint_distance(real, generated):
    """AKD of one frame: mean |difference| of the coordinates of the keypoints present in both; NaN if none."""
    real, generated = _points(real), _points(generated)
    present = (real[:, 0] != MISSING) & (generated[:, 0] != MISSING)
    if not present.any():
        return float("nan")
    return float(np.mean(np.abs(real[present] - generated[present])))


def missing_keypoint_rate(real, generated):
    """MKR of one frame: the fraction of the real frame's keypoints missing in the generated one; NaN if the
    real frame has none."""
    real, generated = _points(real), _points(generated)
    found = real[:, 0] != MISSING
    if not found.any():
        return float("nan")
    return float(np.sum(found & (generated[:, 0] == MISSING)) / np.sum(found))


def embedding_distance(real, generated):
    """AED of one frame: the squared L2 distance of two identity embeddings; NaN if either is missing."""
    real, generated = np.asarray(real, np.float64), np.asarray(generated, np.float64)
    if np.isnan(real).any() or np.isnan(generated).any():
        return float("nan")
    return float(np.sum((real - generated) ** 2))


def mean_over_frames(values):
    """The mean of per-frame values, skipping NaN (frames without a value); NaN when no frame has one."""
    values = np.asarray(values, np.float64).reshape(-1)
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


class FrameMetric:
    """A metric computed per (real, generated) frame pair from their features (`needs`: 'image' (uint8 RGB),
    'keypoints', 'embedding') and averaged over frames by :func:`mean_over_frames`."""

    needs = ()

    def frame_value(self, real, generated):
        raise NotImplementedError

    def frame_values(self, real, generated):
        """Per-frame values for (T, ...) arrays of the feature this metric needs."""
        return np.array([self.frame_value(r, g) for r, g in zip(real, generated)], np.float64)


@METRICS.register("l1")
class L1(FrameMetric):
    """The paper's reconstruction L1: mean absolute difference of the two frames' pixels in [0, 1]."""

    needs = ("image",)
    label = "L1"

    def frame_value(self, real, generated):
        return float(np.mean(np.abs(real.astype(np.float64) - generated.astype(np.float64))) / 255.0)


@METRICS.register("akd")
class AKD(FrameMetric):
    """Average keypoint distance (pixels): :func:`keypoint_distance`."""

    needs = ("keypoints",)
    label = "AKD"

    def frame_value(self, real, generated):
        return keypoint_distance(real, generated)


@METRICS.register("mkr")
class MKR(FrameMetric):
    """Missing keypoint rate: :func:`missing_keypoint_rate`."""

    needs = ("keypoints",)
    label = "MKR"

    def frame_value(self, real, generated):
        return missing_keypoint_rate(real, generated)


@METRICS.register("aed")
class AED(FrameMetric):
    """Average euclidean distance of identity embeddings (squared L2): :func:`embedding_distance`."""

    needs = ("embedding",)
    label = "AED"

    def frame_value(self, real, generated):
        return embedding_distance(real, generated)
