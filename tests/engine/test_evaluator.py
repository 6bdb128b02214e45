"""ppgan/engine/evaluator.py: the reconstruction of test videos, here with the thin-plate spline model's background
predictor, which the original TPSMM's reconstruction.py applies to every (frame 0, frame) pair."""
import copy
import logging

import numpy as np
import paddle
import pytest

from conftest import TINY_TPSMM_MODEL
from ppgan.engine import launch
from ppgan.engine.evaluator import reconstruct, reconstruction_chunks
from ppgan.models import build_nets
from ppgan.models.firstorder_model import FirstOrderModel
from ppgan.modules.bg_motion import BGMotionPredictor
from ppgan.utils.checkpoint import save_weights
from ppgan.utils.config import load_config

SIZE = 32
NUM_FRAMES = 5
BATCH = 2   # chunks of 2, 2 and 1 frames


class _Videos:
    """A test set of videos held in memory, with the dataset interface the evaluator reads."""

    def __init__(self, videos):
        self.videos = videos

    def __len__(self):
        return len(self.videos)

    def video_name(self, index):
        return "video%d.mp4" % index

    def iter_frames(self, index):
        return iter(self.videos[index])


def _config(bg=True):
    model = copy.deepcopy(TINY_TPSMM_MODEL)
    del model["avd_network"]
    for net in ("kp_detector", "bg_predictor"):
        model[net]["backbone"]["block_expansion"] = 8   # narrow ResNet18s: fast
    if not bg:
        model["bg_predictor"] = None
    return load_config({"model": model, "dataset": {"frame_shape": [SIZE, SIZE, 3]}})


def _state(config):
    """Seeded weights of every net: control points spread by a random output layer, and a background predictor
    whose affine is neither the identity nor the same for every frame."""
    paddle.seed(5)
    nets = build_nets(config["model"])
    state = {k: {n: v.numpy() for n, v in net.state_dict().items()} for k, net in nets.items() if net is not None}
    rng = np.random.RandomState(5)
    kp = state["kp_detector"]
    kp["fg_encoder.fc.bias"] = rng.uniform(-0.8, 0.8, kp["fg_encoder.fc.bias"].shape).astype(np.float32)
    kp["fg_encoder.fc.weight"] = (rng.standard_normal(kp["fg_encoder.fc.weight"].shape) * 0.05).astype(np.float32)
    bg = state["bg_predictor"]
    bg["bg_encoder.fc.bias"] = np.array([0.95, 0.08, 0.05, -0.06, 1.04, -0.04], np.float32)
    bg["bg_encoder.fc.weight"] = (rng.standard_normal(bg["bg_encoder.fc.weight"].shape) * 0.02).astype(np.float32)
    return state


def _frames(seed=0):
    """A short video: a smooth random picture drifting sideways, plus noise."""
    rng = np.random.RandomState(seed)
    base = rng.uniform(0, 1, (3, SIZE // 4, SIZE // 4)).repeat(4, 1).repeat(4, 2)
    return [np.clip(np.roll(base, i, axis=2) + rng.uniform(-0.05, 0.05, base.shape), 0, 1).astype(np.float32)
            for i in range(NUM_FRAMES)]


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory):
    """(config, weights path, evaluation_nets' dict) of the tiny model with a background predictor."""
    config = _config()
    path = str(tmp_path_factory.mktemp("weights") / "tpsmm_bg.pdparams")
    save_weights(_state(config), path)
    return config, path, launch.evaluation_nets(config, path, False)


def _one_by_one(nets, frames, bg_predictor):
    """The original's reconstruction loop: per frame, keypoints, background affine from (frame 0, frame), dense
    motion without dropout, inpainting."""
    source = paddle.to_tensor(frames[0][None])
    predictions = []
    with paddle.no_grad():
        kp_source = nets["kp_detector"](source)
        for frame in frames:
            driving = paddle.to_tensor(frame[None])
            kp_driving = nets["kp_detector"](driving)
            bg_param = bg_predictor(source, driving) if bg_predictor is not None else None
            motion = nets["dense_motion_network"](source, kp_driving, kp_source, bg_param=bg_param)
            predictions.append(nets["inpainting_network"](source, motion)["prediction"].numpy()[0])
    return np.stack(predictions)


def _chunked(evaluation, frames, bg_predictor):
    out = [o for _, _, o in reconstruction_chunks(evaluation["kp_detector"], evaluation["generator"], frames, BATCH,
                                                  bg_predictor)]
    assert [o["prediction"].shape[0] for o in out] == [2, 2, 1]
    return np.concatenate([o["prediction"].numpy() for o in out])


def _nets(evaluation):
    """The nets of evaluation_nets' dict by their names, in eval mode (as the evaluator runs them)."""
    generator = evaluation["generator"]
    for net in (evaluation["kp_detector"], generator, evaluation["bg_predictor"]):
        if net is not None:
            net.eval()
    return {"kp_detector": evaluation["kp_detector"], "dense_motion_network": generator.dense_motion_network,
            "inpainting_network": generator.inpainting_network}


def test_reconstruction_applies_the_background_predictor_as_the_original(evaluation):
    _, _, ev = evaluation
    bg_predictor = ev["bg_predictor"]
    assert isinstance(bg_predictor, BGMotionPredictor)
    frames = _frames()
    expected = _one_by_one(_nets(ev), frames, bg_predictor)
    np.testing.assert_allclose(_chunked(ev, frames, bg_predictor), expected, atol=2e-5)
    without = _one_by_one(_nets(ev), frames, None)
    assert np.abs(expected - without).max() > 1e-2   # the background motion matters: the test can fail

    seen = {}
    bg_predictor.train()   # reconstruct puts it in eval mode, as the other nets
    result = reconstruct(ev["kp_detector"], ev["generator"], _Videos([frames]), None, None, batch_size=BATCH,
                         progress=False, bg_predictor=bg_predictor,
                         on_chunk=lambda name, driving, out: seen.setdefault(name, []).append(out))
    truth = np.stack(frames)
    assert result["l1"] == pytest.approx(np.abs(expected - truth).mean(), rel=1e-5)
    assert result["l1"] != pytest.approx(np.abs(without - truth).mean(), rel=1e-3)
    outs = seen["video0"]
    np.testing.assert_allclose(np.concatenate([o["prediction"].numpy() for o in outs]), expected, atol=2e-5)
    assert all(o["kp_source"]["fg_kp"].shape == o["kp_driving"]["fg_kp"].shape for o in outs)


def test_evaluate_run_reconstructs_with_the_background_predictor(evaluation, monkeypatch, tmp_path, capsys):
    """--evaluate-only's reconstruction applies it (its printed L1 is the original's per-frame computation)."""
    config, _, ev = evaluation
    frames = _frames(1)
    import ppgan.datasets
    monkeypatch.setattr(ppgan.datasets, "build_dataset", lambda cfg, split: _Videos([frames]))
    config = copy.deepcopy(config)
    config["reconstruction"]["format"] = ".gif"
    config["train"]["batch_size"] = BATCH
    assert launch.evaluate_run(ev, config, str(tmp_path), False) == 0
    printed = float(capsys.readouterr().out.strip().splitlines()[-1].split(":")[1])
    expected = np.abs(_one_by_one(_nets(ev), frames, ev["bg_predictor"]) - np.stack(frames)).mean()
    assert printed == pytest.approx(expected, abs=2e-6)
    assert (tmp_path / "reconstruction" / "video0.gif").is_file()


@pytest.fixture
def models_log(caplog):
    root = logging.getLogger("ppgan")
    propagate, root.propagate = root.propagate, True
    caplog.set_level(logging.WARNING, logger="ppgan.models")
    yield caplog
    root.propagate = propagate


def test_weights_without_the_background_predictor_reconstruct_without_it(tmp_path, models_log):
    """The config has one, the weights not (e.g. a file stripped to the animation's nets): a warning, and the
    reconstruction without background motion, which is what the original computes with such weights (it keeps
    its predictor's initial weights: the identity transform)."""
    config = _config()
    state = _state(config)
    del state["bg_predictor"]
    path = str(tmp_path / "no_bg.pdparams")
    save_weights(state, path)
    ev = launch.evaluation_nets(config, path, False)
    assert ev["bg_predictor"] is None
    assert "the weights hold none" in models_log.text and "model.bg_predictor to null" in models_log.text
    frames = _frames()
    without = _one_by_one(_nets(ev), frames, None)
    np.testing.assert_allclose(_chunked(ev, frames, ev["bg_predictor"]), without, atol=2e-5)
    initial = build_nets(config["model"], ["bg_predictor"])["bg_predictor"]
    initial.eval()
    np.testing.assert_allclose(_one_by_one(_nets(ev), frames, initial), without, atol=1e-6)


def test_no_background_predictor_without_one_in_the_config(evaluation, models_log):
    """A config without one (the original's bg: False) ignores one in the weights, silently; FOMM has none."""
    _, path, _ = evaluation
    assert launch.evaluation_nets(_config(bg=False), path, False)["bg_predictor"] is None
    assert models_log.text == ""
    assert FirstOrderModel.background_predictor({"kp_detector": None}, {"kp_detector": None}) is None


def test_fomm_evaluation_has_no_background_predictor(tiny_config, tiny_weights):
    config = load_config(tiny_config)
    assert launch.evaluation_nets(config, tiny_weights, False)["bg_predictor"] is None
