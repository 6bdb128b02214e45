"""OpenCV's Haar cascade as a registered face detector: lazy loading and clear errors when OpenCV lacks it.
(Detection itself is checked on drawn faces in tests/apps/test_face_crop.py and on real media in
tests/apps/test_real_media.py.)"""
import subprocess
import sys

import cv2
import numpy as np
import pytest

from ppgan.detectors import DetectorUnavailable, build_face_detector, haar
from ppgan.utils.errors import InputError, PPGanError


@pytest.fixture
def fresh_cascade():
    """Forget the cached cascade before and after a test that tampers with its lookup."""
    haar._cascade.cache_clear()
    yield
    haar._cascade.cache_clear()


def test_cascade_loaded_once(monkeypatch, fresh_cascade):
    made = []
    real = cv2.CascadeClassifier

    def counting(path):
        made.append(path)
        return real(path)

    monkeypatch.setattr(cv2, "CascadeClassifier", counting)
    detector = build_face_detector("haar")
    image = np.full((64, 64, 3), 100, np.uint8)
    assert detector.detect(image) == [] and build_face_detector("haar").detect(image) == []
    assert len(made) == 1 and made[0].endswith(haar.CASCADE_FILE)


def test_import_does_not_load_the_cascade():
    code = ("import cv2; del cv2.CascadeClassifier; import ppgan.apps.face_crop; from ppgan.detectors import haar; "
            "print(haar._cascade.cache_info().currsize)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"


def test_missing_cascade_is_a_clear_error(monkeypatch, tmp_path, fresh_cascade):
    monkeypatch.setattr(haar, "_cascade_candidates", lambda: [str(tmp_path / haar.CASCADE_FILE)])
    with pytest.raises(DetectorUnavailable, match=r"not found in .*pip install 'opencv-python-headless>=4.5,<5'"):
        build_face_detector("haar").detect(np.zeros((64, 64, 3), np.uint8))
    assert issubclass(DetectorUnavailable, PPGanError)


def test_corrupt_cascade_and_opencv_without_cascades(monkeypatch, tmp_path, fresh_cascade):
    bad = tmp_path / haar.CASCADE_FILE
    bad.write_text("not a cascade")
    monkeypatch.setattr(haar, "_cascade_candidates", lambda: [str(bad)])
    with pytest.raises(DetectorUnavailable, match="could not load"):
        build_face_detector("haar").detect(np.zeros((64, 64, 3), np.uint8))
    haar._cascade.cache_clear()
    monkeypatch.delattr(cv2, "CascadeClassifier")
    with pytest.raises(DetectorUnavailable, match="no CascadeClassifier.*<5"):
        build_face_detector("haar").detect(np.zeros((64, 64, 3), np.uint8))


def test_arguments_checked():
    with pytest.raises(InputError, match="min_size_fraction"):
        build_face_detector({"name": "haar", "min_size_fraction": 0})
    with pytest.raises(PPGanError, match="unknown key for HaarFaceDetector.*min_neighbors"):
        build_face_detector({"name": "haar", "min_neighbours": 3})
