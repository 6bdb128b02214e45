"""What every detector returns, and the conversions they share.

A face is a :class:`Face`: its box (x, y, w, h) in integer pixels (x to the right, y down, as OpenCV), a
detection score, and its landmarks, a (68, 2) float array of (x, y) pixel positions in the iBUG 300-W order
(jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67; the scheme of dlib's predictor and of the
face-alignment network the FOMM paper's AKD uses) or None for a detector that finds boxes only.
Body keypoints are a (18, 2) float array in OpenPose's COCO-18 order (:data:`OPENPOSE_18`); a keypoint the
estimator did not find is (-1, -1), the convention of the authors' evaluation code (pose-evaluation).
"""
from typing import NamedTuple, Optional

import numpy as np

from ppgan.utils.video import as_uint8_rgb

MISSING = -1.0
NUM_FACE_LANDMARKS = 68
OPENPOSE_18 = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
               "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
               "right_eye", "left_eye", "right_ear", "left_ear")


class Face(NamedTuple):
    """One detected face: `box` (x, y, w, h) ints, `score` (the detector's confidence, its own scale) and
    `landmarks` ((68, 2) float64 pixel (x, y), or None)."""
    box: tuple
    score: float
    landmarks: Optional[np.ndarray] = None


def rgb_uint8(image, what="image"):
    """An image (uint8 RGB, or float in [0, 1], grey or RGBA) as contiguous uint8 RGB HxWx3 for the detectors."""
    return as_uint8_rgb(image, what)


def _overlap(box, other):
    x, y, w, h = box
    kx, ky, kw, kh = other
    iw = min(x + w, kx + kw) - max(x, kx)
    ih = min(y + h, ky + kh) - max(y, ky)
    return iw * ih if iw > 0 and ih > 0 else 0


def largest_first(faces, overlap=0.5):
    """Faces sorted by box area, largest first, without those covered more than `overlap` of their area by a
    larger kept one (a detector's duplicate of one face at two scales)."""
    kept = []
    for face in sorted(faces, key=lambda f: f.box[2] * f.box[3], reverse=True):
        w, h = face.box[2:]
        if all(_overlap(face.box, k.box) <= overlap * w * h for k in kept):
            kept.append(face)
    return kept


def missing_points(count):
    """A (count, 2) array of :data:`MISSING`: keypoints of a frame where nothing was found."""
    return np.full((int(count), 2), MISSING, np.float64)


class FaceDetector:
    """A face detector: `detect(image)` -> list of :class:`Face`, largest first. `has_landmarks` says whether
    the faces carry 68 landmarks (needed for AKD and for aligned identity embeddings)."""

    has_landmarks = False

    def detect(self, image):
        raise NotImplementedError


class FaceEmbedder:
    """A face identity embedder: `embed(image, face=None)` -> 1-D float64 descriptor, or None when the frame
    has no usable face. `face` (from a FaceDetector) spares a second detection. `dimension` is its length."""

    dimension = None

    def embed(self, image, face=None):
        raise NotImplementedError


class FaceEnhancer:
    """A face restorer: `enhance(faces)` takes a (N, H, W, 3) float32 RGB batch in [0, 1] of square face crops and
    returns the restored batch, same shape and range. `size` is the side its network works at."""

    size = None

    def enhance(self, faces):
        raise NotImplementedError


class PoseEstimator:
    """A body pose estimator: `estimate(image)` -> (18, 2) float64 pixel (x, y) in :data:`OPENPOSE_18` order,
    (-1, -1) where a keypoint is not found (every row when there is no person)."""

    keypoint_names = OPENPOSE_18

    def estimate(self, image):
        raise NotImplementedError
