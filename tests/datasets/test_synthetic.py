import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

from ppgan.datasets import build_dataset
from ppgan.datasets.synthetic import FORMATS, make_video, plan, write_dataset
from ppgan.utils.config import SECTIONS
from ppgan.utils.errors import InputError

TOOL = os.path.join(REPO, "tools", "make_synthetic_dataset.py")


def test_videos_are_deterministic_and_move_smoothly():
    a = make_video(3, 0, 0, num_frames=8, size=32)
    assert a.shape == (8, 32, 32, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, make_video(3, 0, 0, num_frames=8, size=32))
    assert not np.array_equal(a, make_video(4, 0, 0, num_frames=8, size=32))
    steps = np.abs(np.diff(a.astype(np.float32), axis=0)).mean(axis=(1, 2, 3))
    assert steps.min() > 0  # every frame moves
    other_identity = make_video(3, 1, 0, num_frames=8, size=32)
    assert np.abs(a.astype(np.float32) - other_identity).mean() > 2 * steps.mean()
    same_identity = make_video(3, 0, 1, num_frames=8, size=32)
    # another chunk of the same person: same background in the corner
    np.testing.assert_allclose(a[0, :2, :2].astype(float), same_identity[0, :2, :2], atol=2)


def test_plan_keeps_test_identities_apart():
    jobs = plan(5, 3, 2)
    train_ids = {i for part, i, _ in jobs if part == "train"}
    test_ids = {i for part, i, _ in jobs if part == "test"}
    assert train_ids == {0, 1, 2} and test_ids == {3, 4} and len(jobs) == 8


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_is_a_frames_dataset(tmp_path, fmt):
    out = tmp_path / "syn"
    written = write_dataset(str(out), size=32, num_train=2, num_test=2, chunks_per_id=2, num_frames=4, fmt=fmt)
    assert [os.path.basename(p) for p in written["train"]] == [n + ("." + fmt if fmt != "folder" else "")
                                                              for n in ("face0#0", "face0#1")]
    assert all(os.path.exists(p) for p in written["train"] + written["test"])
    assert sorted(os.listdir(out)) == ["test", "train"] and sorted(os.listdir(tmp_path)) == ["syn"]
    cfg = dict(SECTIONS["dataset"], root_dir=str(out), frame_shape=[32, 32, 3], id_sampling=True)
    train, test = build_dataset(cfg, "train"), build_dataset(cfg, "test")
    assert len(train) == 1 and len(test) == 2 and test.num_frames(1) == 4
    assert train[0]["source"].shape == (3, 32, 32)


def test_existing_folder_needs_force(tmp_path):
    out = tmp_path / "syn"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="not empty.*--force"):
        write_dataset(str(out), size=16, num_train=1, num_test=1, num_frames=2)
    write_dataset(str(out), size=16, num_train=1, num_test=1, num_frames=2, force=True)
    write_dataset(str(out), size=16, num_train=2, num_test=1, num_frames=2, force=True)
    assert sorted(os.listdir(out)) == ["keep.txt", "test", "train"]
    assert len(os.listdir(out / "train")) == 2


def test_regions_are_written_beside_the_videos_and_never_left_stale(tmp_path):
    from ppgan.datasets.synthetic import make_region_video
    out = tmp_path / "syn"
    write_dataset(str(out), size=32, num_train=2, num_test=1, num_frames=3, regions=True)
    assert sorted(os.listdir(out)) == ["regions", "test", "train"]
    for part in ("train", "test"):
        assert sorted(os.listdir(out / "regions" / part)) == sorted(os.listdir(out / part))
    regions = make_region_video(0, 0, 1, 3, 32)
    video = make_video(0, 0, 1, 3, 32)
    assert regions.shape == video.shape and set(np.unique(regions)) == {0, 255}
    inside = regions[..., 0] > 0
    # eyes and mouth: a few percent of the frame, in its middle, where the face is not the background
    assert 0.005 < inside.mean() < 0.1 and not inside[:, :, :4].any() and not inside[:, :, -4:].any()
    write_dataset(str(out), size=32, num_train=2, num_test=1, num_frames=3, force=True)
    assert sorted(os.listdir(out)) == ["test", "train"]


def _tool(*args):
    return subprocess.run([sys.executable, TOOL] + list(args), capture_output=True, text=True, timeout=120,
                          check=False)


def test_command_line(tmp_path):
    out = str(tmp_path / "syn")
    args = ["--out", out, "--size", "16", "--num-train", "3", "--num-test", "2", "--num-frames", "3", "--seed", "5"]
    ok = _tool(*args)
    assert ok.returncode == 0, ok.stderr
    assert sorted(os.listdir(os.path.join(out, "train"))) == ["face0#0.png", "face0#1.png", "face1#0.png"]
    assert sorted(os.listdir(os.path.join(out, "test"))) == ["face2#0.png", "face2#1.png"]
    assert ("train with: python tools/main.py -c configs/firstorder_synthetic_64.yaml -o dataset.root_dir=%s "
            "dataset.frame_shape=[16,16,3]" % out) in ok.stderr + ok.stdout
    again = _tool(*args)
    assert again.returncode == 2
    lines = [line for line in again.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "--force" in lines[0]
    regions = _tool("--out", str(tmp_path / "syn"), "--size", "16", "--num-train", "1", "--num-test", "1",
                    "--num-frames", "2", "--regions", "--force")
    assert regions.returncode == 0, regions.stderr
    assert sorted(os.listdir(os.path.join(out, "regions", "train"))) == ["face0#0.png"]
    assert "dataset.region_dir=%s/regions train.loss_weights.region=10" % out in regions.stderr + regions.stdout
    bad = _tool("--out", str(tmp_path / "x"), "--num-frames", "1")
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error:") and "Traceback" not in bad.stderr
    assert sorted(os.listdir(tmp_path)) == ["syn"]


def test_the_suggested_command_adds_only_the_overrides_the_config_needs():
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_synthetic_dataset", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    cwd = os.getcwd()
    try:
        os.chdir(REPO)
        assert tool.train_command("data/synthetic", 64) == "python tools/main.py -c configs/firstorder_synthetic_64.yaml"
        assert tool.train_command("data/synthetic400/", 64) == (
            "python tools/main.py -c configs/firstorder_synthetic_wide_64.yaml")
        assert tool.train_command("data/synthetic", 32).endswith("_64.yaml -o dataset.frame_shape=[32,32,3]")
        assert tool.train_command("data/synthetic", 64, regions=True).endswith(
            "_64.yaml -o dataset.region_dir=data/synthetic/regions train.loss_weights.region=10")
    finally:
        os.chdir(cwd)
    for name, config in tool.CONFIG_OF_FOLDER.items():   # each config reads that folder at that size
        from ppgan.utils.config import load_config
        dataset = load_config(os.path.join(REPO, config))["dataset"]
        assert dataset["root_dir"] == name and list(dataset["frame_shape"]) == [tool.CONFIG_SIZE] * 2 + [3]


def test_landmarks_sit_on_the_features_they_name():
    from ppgan.datasets.cross_identity import region_masks
    from ppgan.datasets.synthetic import (LANDMARK_FLIP, LANDMARKS, _rng, face_landmarks, make_landmarks,
                                          random_identity, random_motion)
    assert [LANDMARKS[i] for i in LANDMARK_FLIP][:2] == ["right_brow", "right_upper_lid"]
    identity, motion = random_identity(_rng(0, 3)), random_motion(_rng(0, 3, 1, 1), 32)
    points = make_landmarks(0, 3, 1, 32, 64)
    assert points.shape == (32, len(LANDMARKS), 2)

    def pixel(point):
        return tuple(int(round(v)) for v in (np.asarray(point) + 1) / 2 * 63)[::-1]   # (row, col)
    shut = int(np.argmin(motion["eyes_open"]))
    assert motion["eyes_open"][shut] < 0.15 and np.isnan(points[shut, 9:]).all()
    opened = int(np.argmax(motion["eyes_open"]))
    masks = region_masks(identity, motion, opened, 64)
    for name in ("left_upper_lid", "right_upper_lid", "left_pupil", "right_pupil"):
        row, col = pixel(points[opened, LANDMARKS.index(name)])
        assert masks["eyes"][row - 1:row + 2, col - 1:col + 2].any(), name
    for name in ("left_mouth_corner", "right_mouth_corner", "lower_lip"):
        row, col = pixel(points[opened, LANDMARKS.index(name)])
        assert masks["mouth"][row - 1:row + 2, col - 1:col + 2].any(), name
    # a blink lowers the lids towards the brows' opposite side: the lid-to-brow distance grows
    lid, brow = LANDMARKS.index("left_upper_lid"), LANDMARKS.index("left_brow")
    gap = np.linalg.norm(points[:, lid] - points[:, brow], axis=1)
    assert gap[shut] > gap[opened] + 0.02
    # the mouth opening lowers the lower lip away from the nose
    lip, nose = LANDMARKS.index("lower_lip"), LANDMARKS.index("nose")
    drop = np.linalg.norm(points[:, lip] - points[:, nose], axis=1) / motion["scale"]
    assert np.corrcoef(drop, motion["mouth_open"])[0, 1] > 0.9
    np.testing.assert_array_equal(points[opened], face_landmarks(identity, motion, opened, 64))


def test_landmarks_are_written_beside_the_videos(tmp_path):
    out = tmp_path / "syn"
    write_dataset(str(out), size=32, num_train=2, num_test=1, num_frames=3, landmarks=True)
    assert sorted(os.listdir(out)) == ["landmarks", "test", "train"]
    assert sorted(os.listdir(out / "landmarks" / "train")) == ["face0#0.png.npz", "face0#1.png.npz"]
    with np.load(str(out / "landmarks" / "train" / "face0#1.png.npz"), allow_pickle=False) as data:
        from ppgan.datasets.synthetic import LANDMARK_FLIP, make_landmarks
        np.testing.assert_allclose(data["points"], make_landmarks(0, 0, 1, 3, 32), atol=1e-6)
        assert tuple(data["flip"]) == LANDMARK_FLIP
    write_dataset(str(out), size=32, num_train=2, num_test=1, num_frames=3, force=True)
    assert sorted(os.listdir(out)) == ["test", "train"]
