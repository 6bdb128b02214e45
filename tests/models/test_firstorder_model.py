import copy
import math

import numpy as np
import paddle
import pytest

from conftest import TINY_MODEL
from ppgan.models import build_model
from ppgan.models.criterions import Vgg19
from ppgan.models.firstorder_model import TrainingDiverged
from ppgan.solver import build_optimizers, build_schedulers
from ppgan.utils.config import load_config
from ppgan.utils.errors import ConfigError


def _config(**weights):
    loss_weights = {"perceptual": [0, 0, 0, 0, 0], "pixel": 10, "generator_gan": 1, "discriminator_gan": 1,
                    "feature_matching": [10, 10], "equivariance_value": 10, "equivariance_jacobian": 10}
    loss_weights.update(weights)
    return load_config({"model": copy.deepcopy(TINY_MODEL), "dataset": {"frame_shape": [32, 32, 3]},
                        "train": {"scales": [1, 0.5], "loss_weights": loss_weights}})


def _batch(seed=0):
    rs = np.random.RandomState(seed)
    return {k: paddle.to_tensor(rs.rand(2, 3, 32, 32).astype("float32")) for k in ("source", "driving")}


def _optimizers(model, cfg):
    names = ["kp_detector", "generator"] + (["discriminator"] if model.trains_discriminator else [])
    return build_optimizers(model.nets, build_schedulers(cfg["train"], names))


def test_train_iter_updates_every_net_and_reports_each_loss():
    cfg = _config()
    model = build_model(cfg)
    model.train()
    before = {n: [p.numpy().copy() for p in net.parameters() if not p.stop_gradient] for n, net in model.nets.items()}
    values, generated = model.train_iter(_batch(), _optimizers(model, cfg))
    assert set(values) == {"pixel", "gen_gan", "feature_matching", "equivariance_value", "equivariance_jacobian",
                           "disc_gan"}
    assert all(math.isfinite(v) for v in values.values())
    assert {"prediction", "kp_source", "kp_driving", "transformed_frame", "transformed_kp"} <= set(generated)
    for name, net in model.nets.items():
        after = [p.numpy() for p in net.parameters() if not p.stop_gradient]
        assert any(not np.array_equal(a, b) for a, b in zip(before[name], after)), name


def test_discriminator_is_trained_only_when_the_generator_uses_it():
    model = build_model(_config(generator_gan=0, feature_matching=[0, 0]))
    assert not model.uses_discriminator and not model.trains_discriminator
    losses, _ = model.generator_losses(**_batch())
    assert set(losses) == {"pixel", "equivariance_value", "equivariance_jacobian"}
    assert build_model(_config(discriminator_gan=0)).trains_discriminator is False


def test_losses_switch_off_with_zero_weights():
    model = build_model(_config(generator_gan=0, feature_matching=[0, 0], equivariance_value=0,
                                equivariance_jacobian=0))
    losses, generated = model.generator_losses(**_batch())
    assert set(losses) == {"pixel"} and "transformed_frame" not in generated


def test_gradient_loss_joins_the_reconstruction_when_weighted():
    model = build_model(_config(generator_gan=0, feature_matching=[0, 0], equivariance_value=0,
                                equivariance_jacobian=0, gradient=10))
    losses, _ = model.generator_losses(**_batch())
    assert set(losses) == {"pixel", "gradient"} and float(losses["gradient"]) > 0


def test_perceptual_loss_with_given_vgg():
    cfg = _config(perceptual=[1, 1, 1, 1, 1], pixel=0)
    model = build_model(cfg, vgg=Vgg19())
    losses, _ = model.generator_losses(**_batch())
    assert float(losses["perceptual"]) > 0


@pytest.mark.parametrize("weights, match", [
    ({"perceptual": [10, 10, 10, 10, 10]}, "train.vgg19_weights"),
    ({"perceptual": [0, 0, 0, 0, 0], "pixel": 0}, "no reconstruction loss"),
])
def test_config_errors(weights, match):
    with pytest.raises(ConfigError, match=match):
        build_model(_config(**weights))


def test_gan_loss_without_discriminator_is_an_error():
    cfg = _config()
    cfg["model"].pop("discriminator")
    with pytest.raises(ConfigError, match="model.discriminator is missing"):
        build_model(cfg)


def test_feature_matching_needs_the_adversarial_loss():
    with pytest.raises(ConfigError, match="feature_matching"):
        build_model(_config(generator_gan=0))


def test_jacobian_loss_needs_jacobians():
    cfg = _config()
    cfg["model"]["common"]["estimate_jacobian"] = False
    with pytest.raises(ConfigError, match="estimate_jacobian"):
        build_model(cfg)


def test_non_finite_loss_stops_before_any_update():
    cfg = _config(generator_gan=0, feature_matching=[0, 0])
    model = build_model(cfg)
    model.train()
    batch = _batch()
    batch["driving"] = batch["driving"] * float("nan")
    trainable = [p for p in model.generator.parameters() if not p.stop_gradient]
    weights = [p.numpy().copy() for p in trainable]
    with pytest.raises(TrainingDiverged, match="NaN"):
        model.train_iter(batch, _optimizers(model, cfg))
    assert all(np.array_equal(a, p.numpy()) for a, p in zip(weights, trainable))


def test_nan_loss_is_reported_by_name():
    cfg = _config(generator_gan=0, feature_matching=[0, 0], equivariance_jacobian=0)
    cfg["model"]["common"]["estimate_jacobian"] = False
    model = build_model(cfg)
    model.train()
    batch = _batch()
    batch["driving"] = batch["driving"] * float("nan")
    with pytest.raises(TrainingDiverged, match="loss pixel"):
        model.train_iter(batch, _optimizers(model, cfg))


def test_region_loss_reads_the_driving_regions():
    cfg = _config(region=10, generator_gan=0, feature_matching=[0, 0])
    with pytest.raises(ConfigError, match="train.loss_weights.region.*dataset.region_dir"):
        build_model(cfg)
    cfg["dataset"]["region_dir"] = "data/regions"
    model = build_model(cfg)
    region = np.zeros((2, 1, 32, 32), "float32")
    region[:, :, 10:20, 10:20] = 1
    losses, _ = model.generator_losses(**_batch(), region=paddle.to_tensor(region))
    assert float(losses["region"]) > 0 and float(losses["pixel"]) > 0
    values, _ = model.train_iter(dict(_batch(), driving_region=paddle.to_tensor(region)), _optimizers(model, cfg))
    assert values["region"] > 0


def test_landmark_loss_places_fomm_keypoints():
    cfg = _config(landmark=10, generator_gan=0, feature_matching=[0, 0])
    cfg["train"]["landmark_keypoints"] = [0, 3]
    cfg["dataset"]["landmark_dir"] = "data/landmarks"
    model = build_model(cfg)
    landmarks = paddle.to_tensor(np.full((2, 2, 2), 0.5, "float32"))
    losses, generated = model.generator_losses(**_batch(), landmarks=(landmarks, landmarks))
    expected = 10 * np.mean([np.abs(generated[k]["value"].numpy()[:, [0, 3]] - 0.5).mean()
                             for k in ("kp_source", "kp_driving")])
    assert float(losses["landmark"]) == pytest.approx(expected, rel=1e-5)
    # null leaves a landmark out: FOMM's 10 keypoints can take the renderer's 11 landmarks, one of them skipped
    cfg["train"]["landmark_keypoints"] = [0, None, 3]
    model = build_model(cfg)
    three = paddle.to_tensor(np.concatenate([np.full((2, 1, 2), 0.5), np.full((2, 1, 2), 9.0),
                                             np.full((2, 1, 2), 0.5)], axis=1).astype("float32"))
    losses, generated = model.generator_losses(**_batch(), landmarks=(three, three))
    expected = 10 * np.mean([np.abs(generated[k]["value"].numpy()[:, [0, 3]] - 0.5).mean()
                             for k in ("kp_source", "kp_driving")])
    assert float(losses["landmark"]) == pytest.approx(expected, rel=1e-5)
