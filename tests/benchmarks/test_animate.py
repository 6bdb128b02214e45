"""benchmarks/animate.py --paddlegan: its arguments (without PaddleGAN) and the config PaddleGAN is given."""
import importlib.util
import os
import subprocess
import sys

import pytest

from conftest import REPO
from ppgan.utils.config import load_config

SCRIPT = os.path.join(REPO, "benchmarks", "animate.py")


def _module(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "benchmarks", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*args):
    return subprocess.run([sys.executable, SCRIPT, "--model-only"] + list(args), capture_output=True, text=True,
                          timeout=60)


def _fake_checkout(tmp_path):
    folder = tmp_path / "PaddleGAN"
    (folder / "ppgan" / "apps").mkdir(parents=True)
    (folder / "ppgan" / "apps" / "first_order_predictor.py").write_text("")
    return str(folder)


@pytest.mark.parametrize("case,message", [
    ("missing", "--paddlegan: '{path}' does not exist; pass the folder of a PaddleGAN checkout"),
    ("not_a_checkout",
     "--paddlegan: '{path}' is not a PaddleGAN checkout (it has no ppgan/apps/first_order_predictor.py)"),
], ids=["missing", "not_a_checkout"])
def test_a_missing_checkout_is_one_line(tmp_path, case, message):
    path = str(tmp_path / "nowhere") if case == "missing" else str(tmp_path)
    proc = _run("--paddlegan", path)
    assert proc.returncode == 2
    assert proc.stderr == "animate.py: error: %s\n" % message.format(path=path)
    assert proc.stdout == ""   # nothing was prepared or measured


@pytest.mark.parametrize("extra,fragment", [
    (["--paddlegan-python", "/no/such/python"], "--paddlegan-python: '/no/such/python' is not an executable Python"),
    (["--torch-original", "/somewhere"], "--paddlegan and --torch-original cannot be combined"),
    (["--video-size", "128"], "leave --video-size out"),
], ids=["python", "torch_original", "video_size"])
def test_options_that_cannot_work_are_one_line(tmp_path, extra, fragment):
    proc = _run("--paddlegan", _fake_checkout(tmp_path), *extra)
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and fragment in proc.stderr


def test_the_child_refuses_a_folder_without_paddlegan(tmp_path):
    child = _module("paddlegan_animate")
    with pytest.raises(child.PaddleGANError, match="is not a PaddleGAN checkout"):
        child.import_first_order_predictor(str(tmp_path))


def test_paddlegan_is_given_the_vox_architecture():
    """configs/firstorder_vox_256.yaml in PaddleGAN's config format: the values of its built-in vox-256 config."""
    config = _module("animate").paddlegan_config(load_config(os.path.join(REPO, "configs",
                                                                           "firstorder_vox_256.yaml"))["model"])
    model = config["model"]
    assert model["common_params"] == {"num_kp": 10, "num_channels": 3, "estimate_jacobian": True}
    assert model["generator"]["kp_detector_cfg"] == {"temperature": 0.1, "block_expansion": 32, "max_features": 1024,
                                                     "scale_factor": 0.25, "num_blocks": 5,
                                                     "single_jacobian_map": False, "pad": 0}
    assert model["generator"]["generator_cfg"] == {
        "block_expansion": 64, "max_features": 512, "num_down_blocks": 2, "num_bottleneck_blocks": 6,
        "estimate_occlusion_map": True,
        "dense_motion_params": {"block_expansion": 64, "max_features": 1024, "num_blocks": 5, "scale_factor": 0.25,
                                "kp_variance": 0.01}}


def test_paddlegan_config_refuses_what_paddlegan_cannot_build():
    animate = _module("animate")
    model = load_config(os.path.join(REPO, "configs", "firstorder_vox_256.yaml"))["model"]
    model["common"]["align_corners"] = False
    with pytest.raises(SystemExit, match="align_corners true"):
        animate.paddlegan_config(model)
    with pytest.raises(SystemExit, match="a TPSMMModel"):
        animate.paddlegan_config(load_config(os.path.join(REPO, "configs", "tpsmm_vox_256.yaml"))["model"])


def test_paddlegan_is_given_its_mobile_nets():
    """configs/firstorder_vox_mobile_256.yaml is PaddleGAN's mobile config (mobile_net in both nets); the nets of the
    distillation's kp_detector stage (mobile detector, full generator) are one mobile_net flag each."""
    animate = _module("animate")
    mobile = load_config(os.path.join(REPO, "configs", "firstorder_vox_mobile_256.yaml"))
    model = animate.paddlegan_config(mobile["model"])["model"]["generator"]
    assert model["kp_detector_cfg"]["mobile_net"] and model["generator_cfg"]["mobile_net"]
    assert model["kp_detector_cfg"]["max_features"] == 256 and model["generator_cfg"]["block_expansion"] == 32
    mixed = dict(mobile["model"], generator=mobile["distill"]["teacher"]["generator"])
    model = animate.paddlegan_config(mixed)["model"]["generator"]
    assert model["kp_detector_cfg"]["mobile_net"] and "mobile_net" not in model["generator_cfg"]
    mobile["model"]["kp_detector"]["antialias_sigma"] = 0.5
    with pytest.raises(SystemExit, match="antialias_sigma 0.25"):
        animate.paddlegan_config(mobile["model"])
