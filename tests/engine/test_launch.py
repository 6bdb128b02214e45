"""tools/main.py --evaluate-only --metrics: the paper's AKD, MKR and AED on the reconstructions of the shipped FOMM
(synthetic cartoon faces, which dlib finds in most real frames), equal to tools/evaluate_videos.py on the written
PNG strips; bad metric requests are one line and exit code 2."""
import os
import re

import numpy as np
import pytest

from ppgan.datasets.synthetic import write_dataset
from ppgan.engine import launch, video_metrics
from ppgan.utils.cli import run

from conftest import REPO

MODEL = os.path.join(REPO, "ppgan", "apps", "default_model")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synthetic"))
    write_dataset(root, size=64, num_train=1, num_test=2, chunks_per_id=1, num_frames=6, fmt="png", seed=0)
    return root


def _main(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        run(lambda a: launch.main(a, "tools/main.py", evaluate=True), list(argv))
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def _common(data, out):
    return ["-c", os.path.join(MODEL, "config.yaml"), "-o", "dataset.root_dir=%s" % data, "animate.num_pairs=1",
            "--evaluate-only", "--load", os.path.join(MODEL, "weights.pdparams"), "--output-dir", out, "--no-progress"]


def test_metrics_printed_before_the_l1_line_and_equal_to_evaluate_videos(data, tmp_path, capsys):
    out = str(tmp_path / "eval")
    code, printed, err = _main(capsys, *_common(data, out), "--metrics", "akd", "mkr", "aed")
    assert code == 0, err
    lines = printed.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["AKD", "MKR", "AED", "reconstruction L1"]
    values = {line.split(":")[0]: float(line.split(":")[1]) for line in lines}
    assert all(np.isfinite(values[k]) for k in ("AKD", "MKR", "AED")), values
    folder = os.path.join(out, "reconstruction")
    names = sorted(n[:-4] for n in os.listdir(folder) if n.endswith(".npz"))
    assert names == sorted(os.path.splitext(n)[0] for n in os.listdir(os.path.join(data, "test")))
    assert {"metrics.csv", "summary.json"} <= set(os.listdir(folder))
    # the same figures from the written PNG strips by the standalone tool
    code, table, _ = _evaluate_videos(capsys, "--real", os.path.join(data, "test"), "--generated",
                                      os.path.join(folder, "png"), "--image_shape", "64,64", "--metrics", "akd",
                                      "mkr", "aed", "--no-progress")
    row = table.strip().splitlines()[-1].split()
    assert code == 0 and row[0] == "all"
    assert [float(v) for v in row[2:5]] == pytest.approx([values["AKD"], values["MKR"], values["AED"]], abs=2e-6)


def _evaluate_videos(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        run(video_metrics.main, list(argv))
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_config_key_asks_for_them_and_l1_alone_adds_nothing(data, tmp_path, capsys):
    code, printed, _ = _main(capsys, *_common(data, str(tmp_path / "a")), "-o", "reconstruction.metrics=[mkr]")
    assert code == 0 and [line.split(":")[0] for line in printed.strip().splitlines()] == ["MKR", "reconstruction L1"]
    code, printed, _ = _main(capsys, *_common(data, str(tmp_path / "b")), "--metrics", "l1")
    assert code == 0 and printed.strip().splitlines()[0].startswith("reconstruction L1")
    assert not os.path.exists(str(tmp_path / "b" / "reconstruction" / "metrics.csv"))


@pytest.mark.parametrize("extra, message", [
    (["--metrics", "fid"], "unknown metric 'fid'"),
    (["--metrics", "aed", "-o", "reconstruction.kind=body"], "re-identification"),
    (["--metrics", "akd", "-o", "reconstruction.kind=hand"], "reconstruction.kind.*must be face or body"),
    (["--metrics", "akd", "-o", "reconstruction.detectors={face_detector: haar}"], "landmarks"),
    (["--metrics", "akd", "-o", "reconstruction.detectors={detector: dlib}"], "reconstruction.detectors.detector"),
])
def test_bad_metric_requests_fail_before_any_video(data, tmp_path, capsys, extra, message):
    out = str(tmp_path / "eval")
    code, printed, err = _main(capsys, *_common(data, out), *extra)
    assert code == 2 and printed == "" and re.search(message, err), err
    assert not os.path.exists(os.path.join(out, "reconstruction"))


def test_metrics_without_evaluate_only(data, tmp_path, capsys):
    code, _, err = _main(capsys, "-c", os.path.join(MODEL, "config.yaml"), "--metrics", "akd")
    assert code == 2 and "--metrics applies to --evaluate-only" in err
