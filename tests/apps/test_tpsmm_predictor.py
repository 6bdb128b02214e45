"""ppgan/apps/tpsmm_predictor.py: TPSMMPredictor's modes, batching, errors and exported backends."""
import json
import os

import numpy as np
import pytest

from conftest import require_onnx
from ppgan.apps import FirstOrderPredictor, TPSMMPredictor, demo, predictor_class
from ppgan.apps.tpsmm_predictor import MODES
from ppgan.models import build_nets
from ppgan.utils.checkpoint import read_weights, save_weights
from ppgan.utils.errors import CheckpointError, InputError


def _video(rng, t=5, size=64):
    frames = np.full((t, size, size, 3), 0.1, np.float32)
    for i in range(t):
        frames[i, 10 + 3 * i:34 + 3 * i, 12:40] = (0.9, 0.6, 0.2)
    return frames + rng.uniform(0, 0.05, frames.shape).astype(np.float32)


def test_modes_shapes_and_batching(tiny_tpsmm_config, tiny_tpsmm_weights, rng):
    video = _video(rng)
    out = {}
    for mode in ("relative", "standard", "avd", "relative-affine"):
        single = TPSMMPredictor(tiny_tpsmm_config, tiny_tpsmm_weights, mode=mode, backend="dygraph")
        batched = TPSMMPredictor(tiny_tpsmm_config, tiny_tpsmm_weights, mode=mode, batch_size=3, backend="dygraph")
        frames, kp = single.animate(video[0], video, return_keypoints=True)
        assert frames.shape == (5, 64, 64, 3) and frames.dtype == np.float32 and 0 <= frames.min() <= frames.max() <= 1
        assert kp["fg_kp"].shape == (5, 10, 2)
        np.testing.assert_allclose(batched.animate(video[0], iter(video)), frames, atol=1e-5)
        out[mode] = kp["fg_kp"]
    # relative motion starts from the source's own points; standard copies the driving ones
    source_kp = TPSMMPredictor(tiny_tpsmm_config, tiny_tpsmm_weights, mode="standard", backend="dygraph").animate(
        video[0], video[:1], return_keypoints=True)[1]["fg_kp"][0]
    np.testing.assert_allclose(out["relative"][0], source_kp, atol=1e-6)
    np.testing.assert_allclose(out["relative-affine"][0], source_kp, atol=1e-6)
    assert np.abs(out["avd"] - out["standard"]).max() > 1e-3


def test_initial_frame_and_best_frame(tiny_tpsmm_config, tiny_tpsmm_weights, rng):
    video = _video(rng)
    predictor = TPSMMPredictor(tiny_tpsmm_config, tiny_tpsmm_weights, backend="dygraph")
    assert predictor.find_best_frame(video[3], video) == 3
    _, kp = predictor.animate(video[0], video, return_keypoints=True, initial_frame=video[2])
    _, source_kp = predictor.animate(video[0], video[:1], return_keypoints=True, initial_frame=video[0])
    np.testing.assert_allclose(kp["fg_kp"][2], source_kp["fg_kp"][0], atol=1e-6)


def test_avd_needs_an_avd_network(tiny_tpsmm_config, tiny_tpsmm_weights, tmp_path):
    weights = read_weights(tiny_tpsmm_weights)
    del weights["avd_network"]
    path = str(tmp_path / "no_avd.pdparams")
    save_weights(weights, path)
    TPSMMPredictor(tiny_tpsmm_config, path, mode="relative", backend="dygraph")   # fine without one
    with pytest.raises(CheckpointError, match="mode 'avd' needs an AVD network"):
        TPSMMPredictor(tiny_tpsmm_config, path, mode="avd", backend="dygraph")


def test_the_mode_defaults_to_the_configs(tiny_tpsmm_config, tiny_tpsmm_weights, tmp_path, rng):
    """mode=None takes the config's animate.mode ('relative' where it sets none, as the original's configs), and
    an export made from that config keeps it; a mode given wins."""
    from ppgan.apps.export import read_manifest

    assert TPSMMPredictor(tiny_tpsmm_config, tiny_tpsmm_weights, backend="dygraph").mode == "relative"
    tiny_tpsmm_config["animate"] = {"mode": "relative-affine"}
    predictor = TPSMMPredictor(tiny_tpsmm_config, tiny_tpsmm_weights, backend="dygraph")
    assert predictor.mode == "relative-affine"
    given = TPSMMPredictor(tiny_tpsmm_config, tiny_tpsmm_weights, mode="standard", backend="dygraph")
    assert given.mode == "standard" and given.animation_defaults() == {"mode": "relative-affine"}
    video = _video(rng)
    explicit = TPSMMPredictor(tiny_tpsmm_config, tiny_tpsmm_weights, mode="relative-affine", backend="dygraph")
    np.testing.assert_array_equal(predictor.animate(video[0], video), explicit.animate(video[0], video))

    folder = str(tmp_path / "exported")
    from ppgan.apps.export import export_model
    graphs = given.graphs
    export_model(graphs["kp_detector"].kp_detector, graphs["source_encoder"].generator, folder, (64, 64),
                 model="TPSMMModel", animate=given.animation_defaults())
    assert read_manifest(folder)["animate"] == {"mode": "relative-affine"}
    assert TPSMMPredictor(model_dir=folder, backend="inference").mode == "relative-affine"
    assert TPSMMPredictor(model_dir=folder, mode="relative", backend="inference").mode == "relative"
    manifest_path = os.path.join(folder, "manifest.json")
    with open(manifest_path) as f:
        manifest = json.load(f)
    del manifest["animate"]  # an export made before exports recorded the mode: the original's default
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)
    assert TPSMMPredictor(model_dir=folder, backend="inference").mode == "relative"

    tiny_tpsmm_config["animate"] = {"mode": "sideways"}
    with pytest.raises(InputError, match="animate.mode must be one of"):
        TPSMMPredictor(tiny_tpsmm_config, tiny_tpsmm_weights, mode="relative", backend="dygraph")


def test_the_command_lines_offer_the_predictors_modes():
    """demo.py keeps its own copy of the modes (its --help does not import Paddle): the same list."""
    assert demo.TPSMM_MODES == MODES


def test_wrong_family_and_options(tiny_tpsmm_config, tiny_tpsmm_weights, tiny_config, tiny_weights):
    assert predictor_class(tiny_tpsmm_config) is TPSMMPredictor
    assert predictor_class(tiny_config) is FirstOrderPredictor
    with pytest.raises(InputError, match="animate it with TPSMMPredictor"):
        FirstOrderPredictor(tiny_tpsmm_config, tiny_tpsmm_weights, backend="dygraph")
    with pytest.raises(InputError, match="animate it with FirstOrderPredictor"):
        TPSMMPredictor(tiny_config, tiny_weights, backend="dygraph")
    with pytest.raises(InputError, match="mode must be one of"):
        TPSMMPredictor(tiny_tpsmm_config, tiny_tpsmm_weights, mode="absolute")
    with pytest.raises(CheckpointError, match="do not fit"):
        TPSMMPredictor(tiny_tpsmm_config, tiny_weights, backend="dygraph")


@pytest.mark.parametrize("backend,image_warp", [("inference", "bilinear"), ("onnx", "bilinear"),
                                                ("inference", "bicubic"), ("onnx", "bicubic")])
def test_exported_backends_match_dygraph(tiny_tpsmm_config, tiny_tpsmm_weights, backend, image_warp, rng):
    if backend == "onnx":
        require_onnx()
    tiny_tpsmm_config["model"]["inpainting_network"]["image_warp"] = image_warp
    video = _video(rng)
    frames = {name: TPSMMPredictor(tiny_tpsmm_config, tiny_tpsmm_weights, mode="avd", batch_size=2,
                                   backend=name).animate(video[0], video) for name in ("dygraph", backend)}
    assert np.abs(frames[backend] - frames["dygraph"]).max() <= 1e-4


def test_weights_from_training_nets_load(tiny_tpsmm_config, tmp_path):
    """A weights file holding every net (as training writes it) animates; the background predictor is unused."""
    nets = build_nets(tiny_tpsmm_config["model"])
    path = str(tmp_path / "all.pdparams")
    save_weights({k: {n: v.numpy() for n, v in net.state_dict().items()} for k, net in nets.items()}, path)
    predictor = TPSMMPredictor(tiny_tpsmm_config, path, backend="dygraph")
    assert set(predictor.graphs) == {"kp_detector", "source_encoder", "frame_generator", "avd_network"}
