"""OpenCV's frontal-face Haar cascade (Viola & Jones): boxes only, no landmarks; fast, but misses tilted,
turned or grimacing faces. Kept for installations without the `eval` extra and as a choice (`haar`)."""
import functools
import os

import cv2
import numpy as np

from ppgan.utils.errors import InputError

from .base import Face, FaceDetector, largest_first, rgb_uint8
from .builder import FACE_DETECTORS, DetectorUnavailable

CASCADE_FILE = "haarcascade_frontalface_default.xml"
# Haar detection cost grows with pixels while accuracy does not; faces worth animating stay
# well above the cascade's 24-pixel window at this size.
_DETECT_MAX_SIDE = 1024
_CASCADE_WINDOW = 24
_INSTALL_HINT = "pip install 'opencv-python-headless>=4.5,<5' (OpenCV 4 wheels ship the Haar cascades)"


def _cascade_candidates():
    """Paths where the frontal-face cascade may live: the OpenCV wheel's data folder, then system installs."""
    folders = []
    data = getattr(cv2, "data", None)
    if data is not None and getattr(data, "haarcascades", None):
        folders.append(data.haarcascades)
    folders.append(os.path.join(os.path.dirname(os.path.abspath(cv2.__file__)), "data"))
    folders += ["/usr/share/opencv4/haarcascades", "/usr/share/opencv/haarcascades",
                "/usr/local/share/opencv4/haarcascades", "/usr/local/share/opencv/haarcascades"]
    return [os.path.join(folder, CASCADE_FILE) for folder in folders]


def cascade_path():
    """Path of OpenCV's frontal-face Haar cascade; raises DetectorUnavailable if none is installed."""
    candidates = _cascade_candidates()
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise DetectorUnavailable(
        "face detection needs OpenCV's %s, not found in %s (OpenCV %s); %s, or use --crop none"
        % (CASCADE_FILE, ", ".join(sorted({os.path.dirname(p) for p in candidates})), cv2.__version__,
           _INSTALL_HINT))


@functools.lru_cache(maxsize=None)
def _cascade():
    # Loaded on first use, not at import: most runs never crop and OpenCV 5 has no cascades.
    if not hasattr(cv2, "CascadeClassifier"):
        raise DetectorUnavailable("OpenCV %s has no CascadeClassifier (removed in OpenCV 5); %s, or use --crop none"
                                  % (cv2.__version__, _INSTALL_HINT))
    path = cascade_path()
    unreadable = DetectorUnavailable("OpenCV could not load the face cascade %s (corrupt file?); reinstall it: %s"
                                     % (path, _INSTALL_HINT))
    try:
        detector = cv2.CascadeClassifier(path)
    except (cv2.error, SystemError) as e:  # a malformed XML surfaces as SystemError wrapping cv2.error
        raise unreadable from e
    if detector.empty():
        raise unreadable
    return detector


@FACE_DETECTORS.register("haar")
class HaarFaceDetector(FaceDetector):
    """Frontal faces by OpenCV's Haar cascade, as boxes (brows to chin) without landmarks.

    min_size_fraction: smallest face side reported, as a fraction of the image's shorter side.
    scale_factor, min_neighbors: OpenCV's pyramid step and the number of overlapping raw detections a face
      needs (higher = fewer false positives, more missed faces).
    """

    has_landmarks = False

    def __init__(self, min_size_fraction=0.08, scale_factor=1.1, min_neighbors=5):
        if not 0 < min_size_fraction <= 1:
            raise InputError("min_size_fraction must be in (0, 1], got %r" % (min_size_fraction,))
        self.min_size_fraction = float(min_size_fraction)
        self.scale_factor, self.min_neighbors = float(scale_factor), int(min_neighbors)

    def detect(self, image):
        # No histogram equalisation: the cascade already normalises each window by its variance,
        # and a global remap distorts faces in images with large flat areas.
        gray = cv2.cvtColor(rgb_uint8(image, "image for face detection"), cv2.COLOR_RGB2GRAY)
        h, w = gray.shape
        scale = min(1.0, _DETECT_MAX_SIDE / float(max(h, w)))
        if scale < 1.0:
            gray = cv2.resize(gray, (max(1, int(round(w * scale))), max(1, int(round(h * scale)))),
                              interpolation=cv2.INTER_AREA)
        min_side = max(_CASCADE_WINDOW, int(round(self.min_size_fraction * min(gray.shape))))
        if min_side > min(gray.shape):
            return []
        # the score is the number of raw detections merged into the box
        found, neighbours = _cascade().detectMultiScale2(gray, scaleFactor=self.scale_factor,
                                                         minNeighbors=self.min_neighbors, minSize=(min_side, min_side))
        boxes = np.asarray(found).reshape(-1, 4)
        scores = np.asarray(neighbours, np.float64).reshape(-1)
        return largest_first(Face(tuple(int(round(v / scale)) for v in box), float(score))
                             for box, score in zip(boxes, scores))
