"""The generator's border_correction equals PaddleGAN's inference=True generator on PaddleGAN's own recording.

tests/data/record_paddlegan_border.py ran PaddleGAN's FirstOrderPredictor.make_animation (relative, adapted
scale, batch 1) on small seeded models and saved its weights in PaddleGAN's layout; the project animates the
same frames with those files, through the dygraph predictor and the exported graphs.
"""
import json
import os

import numpy as np
import pytest

from conftest import REPO, require_onnx
from ppgan.apps import FirstOrderPredictor

DATA = os.path.join(REPO, "tests", "data")
CASES = ("same_size", "resized")
PARITY = 1e-5   # against PaddleGAN's frames
STATIC = 1e-4   # exported graphs against the dygraph predictor (the project's bound for every static backend)


@pytest.fixture(scope="module")
def recording():
    return np.load(os.path.join(DATA, "paddlegan_border.npz"))


def project_config(paddlegan_config, border_correction):
    """The project's config of a FOMM described in PaddleGAN's config format."""
    model = paddlegan_config["model"]
    kp, gen = model["generator"]["kp_detector_cfg"], model["generator"]["generator_cfg"]
    motion = gen["dense_motion_params"]

    def hourglass(params):
        return {"name": "Hourglass", **{k: params[k] for k in ("block_expansion", "max_features", "num_blocks")}}

    return {"model": {
        "common": dict(model["common_params"], align_corners=True),
        "kp_detector": {"name": "KPDetector", "temperature": kp["temperature"], "scale_factor": kp["scale_factor"],
                        "backbone": hourglass(kp)},
        "generator": {"name": "OcclusionAwareGenerator", "border_correction": border_correction,
                      **{k: gen[k] for k in ("block_expansion", "max_features", "num_down_blocks",
                                             "num_bottleneck_blocks", "estimate_occlusion_map")},
                      "dense_motion": {"name": "DenseMotionNetwork", "scale_factor": motion["scale_factor"],
                                       "backbone": hourglass(motion)}}}}


def animate(recording, case, border_correction, **kwargs):
    config = project_config(json.loads(str(recording[case + "/config"])), border_correction)
    predictor = FirstOrderPredictor(config, os.path.join(DATA, "paddlegan_border_%s.pdparams" % case),
                                    relative=True, adapt_scale=True, batch_size=1, **kwargs)
    return predictor.animate(recording["source"], list(recording["driving"]))


@pytest.mark.parametrize("case", CASES)
def test_border_correction_equals_paddlegan(recording, case):
    expected = recording[case + "/prediction"]
    frames = animate(recording, case, True, backend="dygraph")
    assert frames.shape == expected.shape
    assert np.abs(frames - expected).max() <= PARITY
    np.testing.assert_array_equal(animate(recording, case, 5, backend="dygraph"), frames)  # true is 5 pixels


@pytest.mark.parametrize("case", CASES)
def test_without_it_the_frames_differ_at_the_borders(recording, case):
    expected = recording[case + "/prediction"]
    diff = np.abs(animate(recording, case, 0, backend="dygraph") - expected).max(axis=(0, 3))
    border = np.ones_like(diff, bool)
    border[8:-8, 8:-8] = False   # the band (5 feature pixels = 10 frame pixels here) and a little more
    assert diff[border].max() > 100 * PARITY
    assert diff[border].mean() > diff[~border].mean()


@pytest.mark.parametrize("backend", ["inference", "onnx"])
def test_exported_graphs_keep_the_correction(recording, backend, tmp_path, monkeypatch):
    if backend == "onnx":
        require_onnx()
    monkeypatch.setenv("PPGAN_CACHE_DIR", str(tmp_path))
    reference = animate(recording, "resized", True, backend="dygraph")
    frames = animate(recording, "resized", True, backend=backend)
    assert np.abs(frames - reference).max() <= STATIC
    assert np.abs(frames - recording["resized/prediction"]).max() <= STATIC
