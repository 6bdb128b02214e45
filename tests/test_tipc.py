"""test_tipc: the train -> evaluate -> export -> infer chain passes, and fails when a number is off."""
import os
import subprocess

import pytest

from conftest import REPO

# trains and exports through the TIPC chain: the slow set (pytest.ini), which CI runs too
pytestmark = pytest.mark.slow

CONFIG = os.path.join(REPO, "test_tipc", "configs", "FOMM", "train_infer_python.txt")
SCRIPT = os.path.join(REPO, "test_tipc", "test_train_inference_python.sh")


def _config(tmp_path, **changes):
    """The chain's config with data and outputs in tmp_path and some values replaced."""
    changes = dict({"data_dir": str(tmp_path / "data"), "output_dir": str(tmp_path / "output")}, **changes)
    lines = []
    with open(CONFIG) as f:
        for line in f:
            key = line.split(":", 1)[0]
            lines.append("%s:%s\n" % (key, changes[key]) if key in changes else line)
    path = str(tmp_path / "train_infer_python.txt")
    with open(path, "w") as f:
        f.writelines(lines)
    return path


def _chain(config, mode, *extra):
    return subprocess.run(["bash", SCRIPT, config, mode] + list(extra), capture_output=True, text=True, timeout=900)


def _recorded(key):
    with open(CONFIG) as f:
        return float(next(line for line in f if line.startswith(key + ":")).split(":", 1)[1])


def test_lite_train_lite_infer_passes_and_a_wrong_metric_fails(tmp_path):
    proc = _chain(_config(tmp_path), "lite_train_lite_infer")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "TIPC lite_train_lite_infer passed" in proc.stdout
    for step in ("train", "eval", "export", "infer"):
        assert os.path.isfile(str(tmp_path / "output" / "lite_train_lite_infer" / (step + ".log")))
    wrong = _config(tmp_path, lite_train_lite_infer_metric=_recorded("lite_train_lite_infer_metric") * 1.2)
    proc = _chain(wrong, "lite_train_lite_infer")
    assert proc.returncode == 1
    assert "WRONG" in proc.stdout and "passed" not in proc.stdout


def test_whole_infer_checks_the_given_model(tmp_path):
    config = _config(tmp_path)
    proc = _chain(config, "whole_infer")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    weights = os.path.join(REPO, "ppgan", "apps", "default_model", "weights.pdparams")
    proc = _chain(config, "whole_infer", weights, str(_recorded("whole_infer_metric") * 0.8))
    assert proc.returncode == 1 and "WRONG" in proc.stdout


@pytest.mark.parametrize("args", [["no_such.txt", "lite_train_lite_infer"], [CONFIG, "whole_train"]])
def test_bad_arguments_exit_2(args):
    proc = subprocess.run(["bash", SCRIPT] + args, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")
