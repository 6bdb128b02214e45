"""ppgan/models/tpsmm_model.py: the thin-plate spline model's training stages (losses, schedule, steps, config
errors) and its evaluation interface (keypoint normalisation)."""
import copy
import math

import numpy as np
import paddle
import pytest

from conftest import TINY_TPSMM_MODEL
from ppgan.models import build_model, model_family
from ppgan.models import tpsmm_model
from ppgan.models.criterions import Vgg19
from ppgan.models.tpsmm_model import (KeypointNormalizer, TPSMMAVDStage, TPSMMModel, dropout_probability,
                                      random_scale)
from ppgan.models.training import TrainingDiverged, check_frame_size
from ppgan.modules.geometry import affine_relative_control_points, movement_scale, relative_control_points
from ppgan.solver import build_solver
from ppgan.utils.config import deep_merge, load_config
from ppgan.utils.errors import CheckpointError, ConfigError

SIZE = 32
BG_START = 1


def _config(model=None, **train):
    """A small TPSMM config at 32x32 (narrow ResNet18s), pixel loss; `train` keys override (nested dicts merge)."""
    if model is None:
        model = copy.deepcopy(TINY_TPSMM_MODEL)
        for net in ("kp_detector", "bg_predictor"):
            model[net]["backbone"]["block_expansion"] = 8
    base = {"scales": [1, 0.5], "bg_start": BG_START, "dropout_epoch": 2, "dropout_inc_epoch": 1,
            "dropout_startp": 0.1, "dropout_maxp": 0.3,
            "loss_weights": {"perceptual": [0, 0, 0, 0, 0], "pixel": 10, "equivariance_value": 10, "warp_loss": 10,
                             "bg": 10}}
    return load_config({"model": model, "dataset": {"frame_shape": [SIZE, SIZE, 3]}, "train": deep_merge(base, train),
                        "train_avd": {"lr": 1e-3, "epoch_milestones": [2], "batch_size": 2}})


def _batch(seed=0):
    rs = np.random.RandomState(seed)
    return {k: paddle.to_tensor(rs.rand(2, 3, SIZE, SIZE).astype("float32")) for k in ("source", "driving")}


def _solver(model, cfg):
    return build_solver(model.optimizer_specs(), model.nets, cfg[model.train_section], model.train_section)


def _trainable(net):
    return [p.numpy().copy() for p in net.parameters() if not p.stop_gradient]


def _changed(before, net):
    return any(not np.array_equal(a, p.numpy()) for a, p in zip(before, [p for p in net.parameters()
                                                                         if not p.stop_gradient]))


def test_dropout_schedule_is_the_originals():
    train = {"dropout_epoch": 35, "dropout_maxp": 0.3, "dropout_startp": 0.1, "dropout_inc_epoch": 10}
    for epoch in range(35):
        assert dropout_probability(epoch, train) == pytest.approx(min(epoch / 10 * 0.3 + 0.1, 0.3))
    assert dropout_probability(12, train) == pytest.approx(0.3)          # the fixture's train_dropout pass
    assert dropout_probability(35, train) is None and dropout_probability(40, train) is None
    # p = 0 before dropout_epoch still means dropout softmax (the original's dropout_flag), not None
    assert dropout_probability(0, dict(train, dropout_startp=0)) == 0.0


def test_losses_follow_the_epoch():
    model = build_model(_config())
    model.train()
    losses, generated = model.generator_losses(**_batch(), epoch=0)
    assert set(losses) == {"pixel", "equivariance_value", "warp_loss"}        # no background before bg_start
    assert {"prediction", "deformed", "occlusion_map", "contribution_maps", "warped_encoder_maps", "kp_source",
            "kp_driving", "transformed_frame", "transformed_kp"} <= set(generated)
    assert tuple(generated["kp_source"]["fg_kp"].shape) == (2, 10, 2)
    losses, _ = model.generator_losses(**_batch(), epoch=BG_START)
    assert set(losses) == {"pixel", "equivariance_value", "warp_loss", "bg"}
    assert all(math.isfinite(float(v)) for v in losses.values())


def test_dropout_draw_is_replayed_and_drops_transforms():
    model = build_model(_config())
    model.train()
    draw = paddle.to_tensor(np.array([[0.5, 0.1, 0.99], [0.5, 0.99, 0.1]], "float32"))  # p = 0.1 at epoch 0
    _, generated = model.generator_losses(**_batch(), epoch=0, dropout_draw=draw)
    maps = generated["contribution_maps"].numpy()
    assert np.all(maps[0, 2] == 0) and np.all(maps[1, 1] == 0) and np.all(maps[:, 0] > 0)


def test_zero_weights_switch_losses_off():
    model = build_model(_config(loss_weights={"equivariance_value": 0, "warp_loss": 0, "bg": 0}))
    losses, generated = model.generator_losses(**_batch(), epoch=5)
    assert set(losses) == {"pixel"} and "transformed_frame" not in generated


def test_gradient_loss_joins_the_reconstruction_when_weighted():
    model = build_model(_config(loss_weights={"gradient": 10, "equivariance_value": 0, "warp_loss": 0, "bg": 0}))
    losses, _ = model.generator_losses(**_batch(), epoch=5)
    assert set(losses) == {"pixel", "gradient"} and float(losses["gradient"]) > 0


def test_perceptual_loss_with_given_vgg():
    model = build_model(_config(loss_weights={"perceptual": [1, 1, 1, 1, 1], "pixel": 0}), vgg=Vgg19())
    losses, _ = model.generator_losses(**_batch(), epoch=0)
    assert float(losses["perceptual"]) > 0 and "pixel" not in losses


def test_background_loss_is_zero_for_inverse_affines():
    a = paddle.to_tensor(np.array([[[1.1, 0.1, 0.2], [0.0, 0.9, -0.1], [0, 0, 1]]], "float32"))
    inverse = paddle.linalg.inv(a)
    assert float(tpsmm_model.background_loss(a, inverse, 10)) == pytest.approx(0, abs=1e-6)
    assert float(tpsmm_model.background_loss(a, a, 10)) > 0


def test_one_adam_for_the_motion_model_and_one_for_the_background():
    cfg = _config(lr_generator=3e-4)
    model = build_model(cfg)
    specs = {s.name: s for s in model.optimizer_specs()}
    assert specs["generator"].nets == ("kp_detector", "dense_motion_network", "inpainting_network")
    assert specs["bg_predictor"].nets == ("bg_predictor",)
    optimizers, schedulers = _solver(model, cfg)
    count = sum(len([p for p in model.nets[n].parameters() if not p.stop_gradient]) for n in specs["generator"].nets)
    assert len(optimizers["generator"]._parameter_list) == count
    for name in ("generator", "bg_predictor"):
        assert (optimizers[name]._beta1, optimizers[name]._beta2) == (0.5, 0.999)
        assert optimizers[name].regularization._coeff == pytest.approx(1e-4)
        assert schedulers[name].get_lr() == pytest.approx(3e-4)


def test_train_iter_steps_the_background_predictor_from_bg_start(monkeypatch):
    cfg = _config()
    model = build_model(cfg)
    model.train()
    optimizers, _ = _solver(model, cfg)
    clipped = []
    real_clip = tpsmm_model.clip_grad_norm_inf

    def recording_clip(parameters, max_norm):
        parameters = list(parameters)
        clipped.append(next(n for n, net in model.nets.items() if parameters[0] is next(iter(net.parameters()))))
        assert max_norm == 10
        return real_clip(parameters, max_norm)
    monkeypatch.setattr(tpsmm_model, "clip_grad_norm_inf", recording_clip)

    before = {n: _trainable(net) for n, net in model.nets.items()}
    values, _ = model.train_iter(_batch(), optimizers, epoch=0)
    assert set(values) == {"pixel", "equivariance_value", "warp_loss"}
    assert clipped == ["kp_detector", "dense_motion_network"]        # never the inpainting network
    for name in ("kp_detector", "dense_motion_network", "inpainting_network"):
        assert _changed(before[name], model.nets[name]), name
    assert not _changed(before["bg_predictor"], model.bg_predictor)

    clipped.clear()
    values, _ = model.train_iter(_batch(1), optimizers, epoch=BG_START)
    assert "bg" in values
    assert clipped == ["kp_detector", "dense_motion_network", "bg_predictor"]
    assert _changed(before["bg_predictor"], model.bg_predictor)
    assert all(p.grad is None or float(paddle.abs(p.grad).sum()) == 0 for net in model.nets.values()
               for p in net.parameters())   # gradients cleared after the steps


def test_checkpoint_nets_of_the_first_stage():
    model = build_model(_config())
    assert set(model.nets) == {"kp_detector", "dense_motion_network", "inpainting_network", "bg_predictor"}
    no_bg = copy.deepcopy(TINY_TPSMM_MODEL)
    no_bg.pop("bg_predictor")
    model = build_model(_config(model=no_bg, loss_weights={"bg": 0}))
    assert "bg_predictor" not in model.nets and [s.name for s in model.optimizer_specs()] == ["generator"]
    assert model.train_iter(_batch(), _solver(model, _config(model=no_bg, loss_weights={"bg": 0}))[0],
                            epoch=5)[0].keys() == {"pixel", "equivariance_value", "warp_loss"}


def test_non_finite_loss_stops_before_any_update():
    cfg = _config()
    model = build_model(cfg)
    model.train()
    batch = _batch()
    batch["driving"] = batch["driving"] * float("nan")
    before = {n: _trainable(net) for n, net in model.nets.items()}
    with pytest.raises(TrainingDiverged, match="loss pixel"):
        model.train_iter(batch, _solver(model, cfg)[0], epoch=BG_START)
    assert not any(_changed(before[n], net) for n, net in model.nets.items())


@pytest.mark.parametrize("train, key", [
    ({"loss_weights": {"perceptual": [10, 10, 10, 10, 10]}}, "train.vgg19_weights"),
    ({"loss_weights": {"pixel": 0}}, "train.loss_weights"),
    ({"dropout_inc_epoch": 0}, "train.dropout_inc_epoch"),
    ({"dropout_maxp": 1.5}, "train.dropout_maxp"),
    ({"bg_start": -1}, "train.bg_start"),
])
def test_config_errors_name_the_key(train, key):
    with pytest.raises(ConfigError) as info:
        build_model(_config(**train))
    assert info.value.key_path == key


def test_background_loss_needs_a_background_predictor():
    model = copy.deepcopy(TINY_TPSMM_MODEL)
    model.pop("bg_predictor")
    with pytest.raises(ConfigError, match="model.bg_predictor is missing") as info:
        build_model(_config(model=model))
    assert info.value.key_path == "train.loss_weights.bg"


def test_unknown_keys_and_stages_are_errors():
    with pytest.raises(ConfigError, match="train.loss_weights.generator_gan"):
        _config(loss_weights={"generator_gan": 1})
    with pytest.raises(ConfigError, match="no training stage 'avdd'; its stages: train, avd"):
        build_model(_config(), stage="avdd")
    fomm = load_config({"model": {"kp_detector": {"name": "KPDetector", "backbone": {"name": "Hourglass"}},
                                  "generator": {"name": "OcclusionAwareGenerator"}}})
    with pytest.raises(ConfigError, match="FirstOrderModel has no training stage 'avd'; its stages: train, kp_detector, generator, both"):
        build_model(fomm, stage="avd")


def test_check_frame_size_runs_on_the_animation_nets():
    model = build_model(_config())
    check_frame_size(*model.animation_nets(model.nets), (SIZE, SIZE, 3))
    with pytest.raises(ConfigError, match="cannot process 36x36"):
        check_frame_size(*model.animation_nets(model.nets), (36, 36, 3))


# --- the AVD stage ------------------------------------------------------------------------------------
def test_random_scale_scales_each_item_and_axis():
    paddle.seed(3)
    kp = {"fg_kp": paddle.ones([64, 10, 2])}
    scaled = random_scale(kp, 0.25)["fg_kp"].numpy()
    factors = scaled[:, 0, :]
    assert np.all(scaled == factors[:, None, :])                     # one factor per item and axis
    assert factors.min() >= 0.75 and factors.max() <= 1.25 and factors.std() > 0.05


def test_avd_stage_trains_the_avd_network_alone():
    cfg = _config()
    model = build_model(cfg, stage="avd")
    assert isinstance(model, TPSMMAVDStage) and model.train_section == "train_avd"
    assert model.requires_weights and "--load" in model.requires_weights
    assert set(model.nets) == {"kp_detector", "dense_motion_network", "inpainting_network", "bg_predictor",
                               "avd_network"}
    optimizers, schedulers = _solver(model, cfg)
    assert list(optimizers) == ["avd_network"] and optimizers["avd_network"].regularization is None
    model.train()
    assert model.avd_network.training and not model.kp_detector.training and not model.inpainting_network.training
    before = {n: [v.numpy().copy() for v in net.state_dict().values()] for n, net in model.nets.items()}
    values, generated = model.train_iter(_batch(), optimizers, epoch=0)
    assert set(values) == {"rec_kp"} and values["rec_kp"] > 0
    assert {"kp_source", "kp_driving", "kp_norm"} <= set(generated)
    for name, net in model.nets.items():
        after = [v.numpy() for v in net.state_dict().values()]
        changed = any(not np.array_equal(a, b) for a, b in zip(before[name], after))
        assert changed == (name == "avd_network"), name   # frozen nets: weights and BatchNorm statistics kept


def test_avd_loss_is_the_keypoint_reconstruction():
    cfg = _config()
    model = build_model(cfg, stage="avd")
    model.train()
    paddle.seed(5)
    losses, generated = model.avd_losses(**_batch())
    expected = cfg["train_avd"]["lambda_shift"] * np.abs(generated["kp_driving"]["fg_kp"].numpy()
                                                         - generated["kp_norm"]["fg_kp"].numpy()).mean()
    assert float(losses["rec_kp"]) == pytest.approx(expected, rel=1e-5)


def test_avd_schedule_drops_after_the_milestone_epoch():
    """As the original's scheduler.step(epoch): the rate of epoch e + 1 is divided once e reaches a milestone."""
    cfg = _config()
    model = build_model(cfg, stage="avd")
    _, schedulers = _solver(model, cfg)
    rates = []
    for _ in range(4):
        rates.append(schedulers["avd_network"].get_lr())
        schedulers["avd_network"].step()
    assert rates == pytest.approx([1e-3, 1e-3, 1e-3, 1e-4])          # milestone 2: epochs 0-2 at the full rate


def test_avd_stage_needs_the_avd_section():
    model = copy.deepcopy(TINY_TPSMM_MODEL)
    model.pop("avd_network")
    with pytest.raises(ConfigError) as info:
        build_model(_config(model=model), stage="avd")
    assert info.value.key_path == "model.avd_network"


def test_avd_stage_picture_animates_other_identities():
    model = build_model(_config(), stage="avd")
    model.train()
    batch = _batch()
    source, driving, out = model.visuals(batch, {})
    np.testing.assert_array_equal(driving.numpy(), batch["driving"].numpy()[[1, 0]])
    assert tuple(out["prediction"].shape) == (2, 3, SIZE, SIZE) and "kp_norm" in out
    assert model.avd_network.training and not model.kp_detector.training   # modes restored


# --- evaluation interface -----------------------------------------------------------------------------
def test_evaluation_sections_and_modes():
    family = model_family(_config()["model"])
    assert family is TPSMMModel
    assert family.evaluation_sections({"mode": "relative"}) == family.inference_sections + ("bg_predictor",)
    assert family.evaluation_sections({"mode": "avd"})[-1] == "avd_network"
    with pytest.raises(ConfigError) as info:
        family.evaluation_sections({"mode": "affine"})
    assert info.value.key_path == "animate.mode"
    with pytest.raises(CheckpointError, match="--stage avd"):
        family.keypoint_normalizer({"mode": "avd"}, {"kp_detector": None})


def test_keypoint_normalizer_modes():
    rs = np.random.RandomState(0)
    kp_source, kp_driving, kp_initial = ({"fg_kp": paddle.to_tensor(rs.uniform(-0.8, 0.8, (1, 10, 2))
                                                                    .astype("float32"))} for _ in range(3))
    relative = KeypointNormalizer("relative")
    scale = relative.scale(kp_source, kp_initial)
    assert scale == pytest.approx(movement_scale(kp_source["fg_kp"].numpy(), kp_initial["fg_kp"].numpy()))
    np.testing.assert_allclose(relative(kp_source, kp_driving, kp_initial, scale)["fg_kp"].numpy(),
                               relative_control_points(kp_source, kp_driving, kp_initial, scale)["fg_kp"].numpy())
    affine = KeypointNormalizer("relative-affine")
    assert affine.scale(kp_source, kp_initial) == 1.0
    as_numpy = ({"fg_kp": kp["fg_kp"].numpy()} for kp in (kp_source, kp_driving, kp_initial))
    np.testing.assert_allclose(affine(kp_source, kp_driving, kp_initial, 1.0)["fg_kp"].numpy(),
                               affine_relative_control_points(*as_numpy)["fg_kp"], atol=1e-7)
    standard = KeypointNormalizer("standard")
    assert standard.scale(kp_source, kp_initial) == 1.0
    assert standard(kp_source, kp_driving, kp_initial, 1.0) is kp_driving
    avd = build_model(_config(), stage="avd").avd_network
    avd.train()
    normalizer = TPSMMModel.keypoint_normalizer({"mode": "avd"}, {"avd_network": avd})
    assert not avd.training
    with paddle.no_grad():
        np.testing.assert_allclose(normalizer(kp_source, kp_driving, kp_initial, 1.0)["fg_kp"].numpy(),
                                   avd(kp_source, kp_driving)["fg_kp"].numpy())


def _region_config(region_dir="data/regions"):
    cfg = _config(loss_weights={"region": 10, "equivariance_value": 0, "warp_loss": 0, "bg": 0})
    cfg["dataset"]["region_dir"] = region_dir
    return cfg


def test_region_loss_is_the_l1_inside_the_driving_regions():
    model = build_model(_region_config())
    batch = _batch()
    empty = paddle.zeros([2, 1, SIZE, SIZE])
    losses, _ = model.generator_losses(**batch, epoch=5, region=empty)
    assert set(losses) == {"pixel", "region"} and float(losses["region"]) == 0
    eyes = np.zeros((2, 1, SIZE, SIZE), "float32")
    eyes[:, :, 8:14, 6:26] = 1
    losses, generated = model.generator_losses(**batch, epoch=5, region=paddle.to_tensor(eyes))
    assert float(losses["region"]) > 0
    # the training step reads the batch's driving_region
    optimizers, _ = _solver(model, _region_config())
    values, _ = model.train_iter(dict(batch, driving_region=paddle.to_tensor(eyes)), optimizers, epoch=5)
    assert values["region"] > 0


def test_region_loss_needs_region_maps():
    with pytest.raises(ConfigError, match="train.loss_weights.region.*dataset.region_dir.*--regions"):
        build_model(_region_config(region_dir=None))
    model = build_model(_region_config())
    with pytest.raises(ConfigError, match="train.loss_weights.region.*dataset.region_dir"):
        model.generator_losses(**_batch(), epoch=5)


def _landmark_config(indices=(0, 1, 5), landmark_dir="data/landmarks"):
    cfg = _config(loss_weights={"landmark": 10, "equivariance_value": 0, "warp_loss": 0, "bg": 0},
                  landmark_keypoints=list(indices) if indices is not None else None)
    cfg["dataset"]["landmark_dir"] = landmark_dir
    return cfg


def test_landmark_loss_pulls_the_chosen_keypoints():
    from ppgan.models.training import LandmarkLoss
    cfg = _landmark_config()
    loss = LandmarkLoss(cfg["train"], 15, cfg["dataset"])
    kp = paddle.to_tensor(np.random.RandomState(0).uniform(-1, 1, (2, 15, 2)).astype("float32"))
    on_them = paddle.index_select(kp, paddle.to_tensor([0, 1, 5]), axis=1)
    assert float(loss([(kp, on_them)])) == pytest.approx(0, abs=1e-7)
    shifted = on_them.numpy() + 0.1
    shifted[0, 2] = np.nan                      # unknown: left out, not counted
    assert float(loss([(kp, paddle.to_tensor(shifted))])) == pytest.approx(10 * 0.1, rel=1e-5)
    with pytest.raises(ConfigError, match="train.landmark_keypoints.*3 keypoints.*4 landmarks"):
        loss([(kp, paddle.zeros([2, 4, 2]))])
    model = build_model(cfg)
    landmarks = paddle.to_tensor(np.zeros((2, 3, 2), "float32"))
    losses, generated = model.generator_losses(**_batch(), epoch=5, landmarks=(landmarks, landmarks))
    assert float(losses["landmark"]) > 0
    optimizers, _ = _solver(model, cfg)
    values, _ = model.train_iter(dict(_batch(), source_landmarks=landmarks, driving_landmarks=landmarks), optimizers,
                                 epoch=5)
    assert values["landmark"] > 0


@pytest.mark.parametrize("indices, landmark_dir, match", [
    (None, "data/landmarks", "train.landmark_keypoints.*distinct keypoint \\(0 to 9\\)"),
    ((0, 0), "data/landmarks", "train.landmark_keypoints"),
    ((0, 10), "data/landmarks", "train.landmark_keypoints"),
    ((None, None), "data/landmarks", "train.landmark_keypoints.*or null to leave it out"),
    ((0, 1), None, "train.loss_weights.landmark.*dataset.landmark_dir.*--landmarks"),
])
def test_landmark_loss_config_errors(indices, landmark_dir, match):
    with pytest.raises(ConfigError, match=match):
        build_model(_landmark_config(indices, landmark_dir))
