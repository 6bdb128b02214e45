"""PaddleGAN's mobile first order nets: a checkpoint written by PaddleGAN's own code loads unchanged and the nets
compute what PaddleGAN's compute (fixture: tests/data/record_paddlegan_mobile.py)."""
import json
import os

import numpy as np
import paddle
import pytest

from conftest import REPO
from ppgan.apps.first_order_predictor import FirstOrderPredictor
from ppgan.models import build_inference_nets
from ppgan.models.generators.mobile import MobileOcclusionAwareGenerator
from ppgan.modules.mobile import MobileDenseMotionNetwork, MobileHourglass, MobileKPDetector
from ppgan.utils.checkpoint import load_weights, read_weights
from ppgan.utils.config import load_config

DATA = os.path.join(REPO, "tests", "data")
WEIGHTS = os.path.join(DATA, "paddlegan_mobile.pdparams")
SYNTHETIC = os.path.join(REPO, "configs", "firstorder_synthetic_mobile_64.yaml")
VOX = os.path.join(REPO, "configs", "firstorder_vox_mobile_256.yaml")


@pytest.fixture(scope="module")
def recorded():
    return np.load(os.path.join(DATA, "paddlegan_mobile_outputs.npz"))


@pytest.fixture(scope="module")
def nets():
    config = load_config(SYNTHETIC)
    built = build_inference_nets(config["model"])
    load_weights(built, read_weights(WEIGHTS), "the PaddleGAN fixture")
    return built["kp_detector"], built["generator"]


def _run(nets, recorded, training):
    kp_detector, generator = nets
    for net in nets:
        net.train() if training else net.eval()
    try:
        with paddle.no_grad():
            source, driving = paddle.to_tensor(recorded["source"]), paddle.to_tensor(recorded["driving"])
            kp_source, kp_driving = kp_detector(source), kp_detector(driving)
            out = generator(source, kp_driving=kp_driving, kp_source=kp_source)
    finally:
        for net in nets:
            net.eval()
    out.update({"kp_source/" + k: v for k, v in kp_source.items()})
    out.update({"kp_driving/" + k: v for k, v in kp_driving.items()})
    return {k: v.numpy() for k, v in out.items() if not isinstance(v, dict)}


def test_the_config_builds_the_mobile_classes(nets):
    kp_detector, generator = nets
    assert isinstance(kp_detector, MobileKPDetector) and isinstance(kp_detector.predictor, MobileHourglass)
    assert isinstance(generator, MobileOcclusionAwareGenerator)
    assert isinstance(generator.dense_motion_network, MobileDenseMotionNetwork)
    assert isinstance(generator.dense_motion_network.hourglass, MobileHourglass)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_outputs_equal_paddlegans(nets, recorded, mode):
    """Inference mode (running BatchNorm statistics from the file) and training mode (batch statistics)."""
    out = _run(nets, recorded, training=mode == "train")
    keys = [k[len(mode) + 1:] for k in recorded.files if k.startswith(mode + "/")]
    assert {"kp_source/value", "kp_driving/jacobian", "prediction"} <= set(keys)
    for key in keys:
        np.testing.assert_allclose(out[key], recorded["%s/%s" % (mode, key)], rtol=0, atol=1e-5, err_msg=key)


def test_full_size_names_and_shapes_are_paddlegans():
    """configs/firstorder_vox_mobile_256.yaml has the parameters (names and shapes) of PaddleGAN's full-size
    mobile nets, i.e. of its released vox-mobile.pdparams."""
    with open(os.path.join(DATA, "paddlegan_mobile_vox256_shapes.json")) as f:
        expected = json.load(f)
    built = build_inference_nets(load_config(VOX)["model"])
    for name, shapes in expected.items():
        assert {k: list(v.shape) for k, v in built[name].state_dict().items()} == shapes, name


def test_predictor_animates_with_paddlegans_checkpoint(recorded):
    predictor = FirstOrderPredictor(config=SYNTHETIC, weight_path=WEIGHTS, backend="dygraph", image_size=32)
    source = recorded["source"][0].transpose(1, 2, 0)
    driving = recorded["driving"].transpose(0, 2, 3, 1)
    frames = predictor.animate(source, driving)
    assert frames.shape == (2, 32, 32, 3) and np.isfinite(frames).all()
