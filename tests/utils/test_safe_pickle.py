"""Weight files are read without running them: arrays and plain containers only, and nothing else runs."""
import os
import pickle
import re
from collections import OrderedDict

import numpy as np
import paddle
import pytest

from ppgan.utils.checkpoint import read_weights
from ppgan.utils.errors import CheckpointError
from ppgan.utils.safe_pickle import read_pdparams

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _RunsCode:
    """Unpickled by calling os.system(command): what a crafted weights file does to paddle.load."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def _malicious(tmp_path, payload_name="ran"):
    marker = tmp_path / payload_name
    path = tmp_path / "evil.pdparams"
    state = {"kp_detector": {"weight": np.zeros(3, np.float32)}, "generator": _RunsCode("touch '%s'" % marker)}
    with open(path, "wb") as f:
        pickle.dump(state, f, protocol=4)
    return str(path), marker


def test_a_pdparams_that_calls_os_system_is_refused_and_nothing_runs(tmp_path):
    path, marker = _malicious(tmp_path)
    with pytest.raises(CheckpointError) as info:
        read_weights(path)
    message = str(info.value)
    assert path in message and ("posix.system" in message or "os.system" in message)
    assert "never unpickled as code" in message
    assert not marker.exists()


def test_the_cli_refuses_it_with_one_line_and_exit_2(tmp_path, capsys):
    from ppgan.apps import demo
    from ppgan.utils.cli import run
    path, marker = _malicious(tmp_path)
    config = os.path.join(demo.DEFAULT_MODEL_DIR, "config.yaml")
    with pytest.raises(SystemExit) as exit_info:
        run(demo.main, ["--config", config, "--weight_path", path, "--source_image", "x.png",
                        "--driving_video", "y.mp4", "--output", str(tmp_path / "out.mp4")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1
    assert not marker.exists()


def test_what_paddle_save_writes_reads_as_paddle_load_reads_it(tmp_path):
    net = paddle.nn.Sequential(paddle.nn.Conv2D(2, 3, 3), paddle.nn.BatchNorm2D(3))
    optimizer = paddle.optimizer.Adam(parameters=net.parameters())
    net(paddle.randn([1, 2, 5, 5])).mean().backward()
    optimizer.step()
    state = {"generator": net.state_dict(), "optimizer_generator": optimizer.state_dict(), "epoch": 3,
             "iteration": 12, "scheduler": {"last_epoch": 2, "lr": 0.5}, "stage": "avd", "none": None,
             "pair": (1, 2.5), "items": [True, "a"]}
    path = str(tmp_path / "checkpoint.pdparams")
    paddle.save(state, path)
    ours, theirs = read_pdparams(path), paddle.load(path, return_numpy=True)

    def same(a, b):
        if isinstance(b, dict):
            assert isinstance(a, dict) and a.keys() == b.keys()
            for key in b:
                same(a[key], b[key])
        elif isinstance(b, (list, tuple)):
            assert type(a) is type(b) and len(a) == len(b)
            for x, y in zip(a, b):
                same(x, y)
        elif isinstance(b, np.ndarray):
            assert isinstance(a, np.ndarray) and a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
        else:
            assert a == b and type(a) is type(b)

    same(ours, theirs)
    assert set(ours["generator"]) == set(net.state_dict())


def test_the_shipped_models_read_as_with_paddle_load():
    from ppgan.apps import demo
    for folder in demo.SHIPPED_MODEL_DIRS.values():
        path = os.path.join(folder, "weights.pdparams")
        ours, theirs = read_weights(path), paddle.load(path, return_numpy=True)
        assert ours.keys() == theirs.keys()
        for net in theirs:
            assert ours[net].keys() == theirs[net].keys()
            for key, value in theirs[net].items():
                np.testing.assert_array_equal(ours[net][key], value)


def test_big_arrays_cut_in_slices_are_joined(tmp_path):
    whole = np.arange(12, dtype=np.float32).reshape(3, 4)
    state = {"w@@.0": whole.ravel()[:5], "w@@.1": whole.ravel()[5:], "b": np.ones(2, np.float32),
             "UnpackBigParamInfor@@": {"w": {"OriginShape": (3, 4), "slices": ["w@@.0", "w@@.1"]}},
             "StructuredToParameterName@@": {"w": "linear_0.w_0", "b": "linear_0.b_0"}}
    path = tmp_path / "big.pdparams"
    with open(path, "wb") as f:
        pickle.dump(state, f, protocol=2)
    out = read_pdparams(str(path))
    assert sorted(out) == ["b", "w"]
    np.testing.assert_array_equal(out["w"], whole)


@pytest.mark.parametrize("value", [np.array([object()], dtype=object), OrderedDict(a=np.array(["x"], dtype=object))])
def test_object_arrays_are_refused(tmp_path, value):
    path = tmp_path / "objects.pdparams"
    with open(path, "wb") as f:
        pickle.dump({"generator": value}, f, protocol=4)
    with pytest.raises(CheckpointError):
        read_weights(str(path))


def test_truncated_and_non_pickle_files_give_one_error(tmp_path):
    good = tmp_path / "good.pdparams"
    paddle.save({"generator": {"w": paddle.ones([4])}}, str(good))
    cut = tmp_path / "cut.pdparams"
    cut.write_bytes(good.read_bytes()[:40])
    text = tmp_path / "text.pdparams"
    text.write_text("not weights")
    for path in (cut, text):
        with pytest.raises(CheckpointError, match="corrupt/truncated"):
            read_weights(str(path))


def test_no_code_reads_weights_with_unrestricted_unpickling():
    """paddle.load and pickle.load / loads / Unpickler run what a file names: only safe_pickle may unpickle."""
    pattern = re.compile(r"\bpaddle\.load\(|\bpickle\.loads?\(|\bpickle\.Unpickler\b|\bnp\.load\([^)]*allow_pickle=True")
    # paddlegan_animate.py runs inside PaddleGAN's own environment (it cannot import this project) on the file the
    # benchmark itself wrote, which PaddleGAN's constructor has already read with paddle.load
    allowed = {os.path.join("ppgan", "utils", "safe_pickle.py"), os.path.join("benchmarks", "paddlegan_animate.py")}
    found = []
    for top in ("ppgan", "tools", "applications", "benchmarks", "test_tipc"):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(folder, name)
                relative = os.path.relpath(path, ROOT)
                with open(path, encoding="utf-8") as f:
                    for number, line in enumerate(f, 1):
                        if pattern.search(line) and relative not in allowed:
                            found.append("%s:%d: %s" % (relative, number, line.strip()))
    assert not found, "\n".join(found)
