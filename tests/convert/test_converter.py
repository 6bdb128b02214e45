import io
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from conftest import PARITY_MODELS, REPO, parity_path, tpsmm_parity_path
from ppgan.convert import convert, convert_state_dict, load_torch_checkpoint
from ppgan.utils.checkpoint import read_weights
from ppgan.utils.errors import CheckpointError

TOOL = os.path.join(REPO, "tools", "convert_torch_weights.py")


@pytest.mark.parametrize("model", PARITY_MODELS)
def test_reader_matches_recorded_weights(model):
    """Legacy (vox) and zip (others) checkpoints read bit-exactly, with no PyTorch involved."""
    ckpt = load_torch_checkpoint(parity_path(model, "checkpoint.pth.tar"))
    recorded = np.load(parity_path(model, "weights.npz"))
    for key in recorded.files:
        net, name = key.split("/", 1)
        np.testing.assert_array_equal(ckpt[net][name], recorded[key], err_msg=key)
    assert isinstance(ckpt["epoch"], int)
    assert "state" in ckpt["optimizer_generator"]


def test_reader_agrees_with_torch_load():
    torch = pytest.importorskip("torch")
    path = parity_path("vox", "checkpoint.pth.tar")
    ours = load_torch_checkpoint(path)
    theirs = torch.load(path, map_location="cpu", weights_only=True)
    for net in ("generator", "kp_detector", "discriminator"):
        assert list(ours[net]) == list(theirs[net])
        for key, value in theirs[net].items():
            np.testing.assert_array_equal(ours[net][key], value.numpy())


def test_converted_names():
    state = {"module.first.norm.running_mean": np.zeros(2, np.float32),
             "module.first.norm.running_var": np.ones(2, np.float32),
             "module.first.norm.num_batches_tracked": np.array(3),
             "discs.1.conv.weight_orig": np.zeros((1, 2, 1, 1), np.float32)}
    out = convert_state_dict(state)
    assert sorted(out) == ["discs.1.conv.weight_orig", "first.norm._mean", "first.norm._variance"]


def _zip_checkpoint(path, payload):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", payload)
    path.write_bytes(buf.getvalue())


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-checkpoint",))


def test_arbitrary_objects_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth.tar"
    _zip_checkpoint(path, pickle.dumps({"generator": _Evil()}, protocol=2))
    with pytest.raises(CheckpointError, match="never unpickled"):
        load_torch_checkpoint(str(path))
    assert not (tmp_path / "pwned-by-checkpoint").exists()


def test_bad_files(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_torch_checkpoint(str(tmp_path / "missing.pth.tar"))
    with pytest.raises(CheckpointError, match="directory"):
        load_torch_checkpoint(str(tmp_path))
    text = tmp_path / "config.pth.tar"
    text.write_text("model_params: {}\n")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_torch_checkpoint(str(text))
    for model in ("vox", "mgif"):  # legacy and zip, cut short
        data = open(parity_path(model, "checkpoint.pth.tar"), "rb").read()
        for cut in (100, len(data) // 2, len(data) - 10):
            trunc = tmp_path / ("trunc-%s-%d.pth" % (model, cut))
            trunc.write_bytes(data[:cut])
            with pytest.raises(CheckpointError):
                load_torch_checkpoint(str(trunc))
    plain = tmp_path / "plain.pth"
    _zip_checkpoint(plain, pickle.dumps({"something": 1}, protocol=2))
    with pytest.raises(CheckpointError, match="not a First Order Motion Model checkpoint"):
        convert(str(plain), str(tmp_path / "out.pdparams"))


def test_wrong_architecture_lists_every_mismatch(tmp_path):
    out = tmp_path / "mgif.pdparams"
    with pytest.raises(CheckpointError) as err:
        convert(parity_path("mgif", "checkpoint.pth.tar"), str(out), config=parity_path("vox", "config.yaml"))
    message = str(err.value)
    assert "jacobian.weight: file (4, 11, 7, 7) vs model (40, 11, 7, 7)" in message
    assert "jacobian.bias" in message
    assert not out.exists()


def test_convert_roundtrip_with_optimizers(tmp_path):
    out = tmp_path / "vox.pdparams"
    convert(parity_path("vox", "checkpoint.pth.tar"), str(out), config=parity_path("vox", "config.yaml"),
            include_optimizers=True)
    weights = read_weights(str(out))
    recorded = np.load(parity_path("vox", "weights.npz"))
    np.testing.assert_array_equal(weights["generator"]["first.norm._mean"], recorded["generator/first.norm.running_mean"])
    assert weights["epoch"] == 3
    assert "torch_optimizer_generator" in weights
    assert [f for f in os.listdir(tmp_path) if f != "vox.pdparams"] == []  # no temporary files left


def _run(*args):
    return subprocess.run([sys.executable, TOOL] + list(args), capture_output=True, text=True, timeout=300)


def test_cli(tmp_path):
    out = tmp_path / "sub" / "vox.pdparams"
    ok = _run("--input", parity_path("vox", "checkpoint.pth.tar"), "--output", str(out),
              "--config", parity_path("vox", "config.yaml"))
    assert ok.returncode == 0, ok.stderr
    assert out.exists()
    bad = _run("--input", str(tmp_path / "nope.pth.tar"), "--output", str(tmp_path / "x.pdparams"))
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("error:") and "Traceback" not in bad.stderr
    assert not (tmp_path / "x.pdparams").exists()
    usage = _run("--help")
    assert usage.returncode == 0 and "--with-optimizers" in usage.stdout


@pytest.mark.parametrize("model", ["vox", "zero-order"])
def test_paddle_state_dicts_translate_back_to_the_original_names(model):
    """to_torch_state_dict inverts convert_state_dict (BatchNorm's num_batches_tracked comes back as 0)."""
    from ppgan.convert.converter import to_torch_state_dict

    weights = np.load(parity_path(model, "weights.npz"))
    for net in ("kp_detector", "generator"):
        original = {k.split("/", 1)[1]: weights[k] for k in weights.files if k.startswith(net + "/")}
        back = to_torch_state_dict(convert_state_dict(original, net))
        assert sorted(back) == sorted(original)
        for key, value in original.items():
            if key.endswith("num_batches_tracked"):
                assert back[key] == 0
            else:
                np.testing.assert_array_equal(back[key], value)


def test_tpsmm_checkpoint_converts_every_net_with_linear_weights_transposed(tmp_path):
    path = tpsmm_parity_path("tpsmm-vox", "checkpoint.pth.tar")
    original = load_torch_checkpoint(path)
    out = tmp_path / "tpsmm.pdparams"
    weights = convert(path, str(out), config=tpsmm_parity_path("tpsmm-vox", "config.yaml"), include_optimizers=True)
    assert {"kp_detector", "dense_motion_network", "inpainting_network", "bg_predictor", "avd_network"} <= set(weights)
    assert "torch_optimizer" in weights and "torch_optimizer_bg_predictor" in weights
    np.testing.assert_array_equal(weights["kp_detector"]["fg_encoder.fc.weight"],
                                  original["kp_detector"]["fg_encoder.fc.weight"].T)
    np.testing.assert_array_equal(weights["avd_network"]["decoder.9.weight"], original["avd_network"]["decoder.9.weight"].T)
    np.testing.assert_array_equal(weights["bg_predictor"]["bg_encoder.bn1._variance"],
                                  original["bg_predictor"]["bg_encoder.bn1.running_var"])
    assert read_weights(str(out))["epoch"] == original["epoch"]


def test_tpsmm_checkpoint_with_a_fomm_config_is_refused(tmp_path):
    out = tmp_path / "x.pdparams"
    with pytest.raises(CheckpointError, match="generator: absent from the file") as err:
        convert(tpsmm_parity_path("tpsmm-vox", "checkpoint.pth.tar"), str(out), config=parity_path("vox", "config.yaml"))
    assert "kp_detector: " in str(err.value) and not out.exists()


def test_linear_weights_translate_back_to_pytorch_layout():
    from ppgan.convert.converter import to_torch_state_dict

    original = load_torch_checkpoint(tpsmm_parity_path("tpsmm-vox", "checkpoint.pth.tar"))["avd_network"]
    back = to_torch_state_dict(convert_state_dict(original, "avd_network"))
    assert sorted(back) == sorted(original)
    for key, value in original.items():
        if not key.endswith("num_batches_tracked"):  # comes back as 0: eval mode never reads it
            np.testing.assert_array_equal(back[key], value)
