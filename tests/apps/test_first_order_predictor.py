import numpy as np
import paddle
import pytest

from ppgan.apps import FirstOrderPredictor
from ppgan.utils.errors import CheckpointError, ConfigError, InputError


@pytest.fixture
def predictor(tiny_config, tiny_weights):
    return FirstOrderPredictor(tiny_config, tiny_weights)


def _video(rng, t=4, size=32):
    return rng.uniform(0, 1, (t, size, size, 3)).astype(np.float32)


def test_animate_shapes_and_range(predictor, rng):
    frames = predictor.animate(rng.uniform(0, 1, (32, 32, 3)), _video(rng))
    assert frames.shape == (4, 32, 32, 3) and frames.dtype == np.float32
    assert frames.min() >= 0 and frames.max() <= 1


def test_batched_equals_unbatched_and_iterables(tiny_config, tiny_weights, rng):
    source, video = rng.uniform(0, 1, (32, 32, 3)), _video(rng, 5)
    one = FirstOrderPredictor(tiny_config, tiny_weights, batch_size=1).animate(source, video)
    three = FirstOrderPredictor(tiny_config, tiny_weights, batch_size=3).animate(source, iter(list(video)))
    np.testing.assert_allclose(one, three, atol=1e-6)


def test_input_kinds(predictor, rng):
    base = (rng.uniform(0, 1, (32, 32, 3)) * 255).astype(np.uint8)
    video = (_video(rng, 2) * 255).astype(np.uint8)
    assert predictor.animate(base, video).shape == (2, 32, 32, 3)
    assert predictor.animate(base[:, :, 0], video).shape == (2, 32, 32, 3)  # grayscale
    rgba = np.concatenate([base, np.full((32, 32, 1), 255, np.uint8)], axis=2)
    np.testing.assert_allclose(predictor.animate(rgba, video), predictor.animate(base, video), atol=1e-6)
    assert predictor.animate(base.astype(np.uint16) * 257, video).shape == (2, 32, 32, 3)
    # Other sizes and aspect ratios are centre-cropped then resized to the configured 32x32.
    assert predictor.animate(rng.uniform(0, 1, (50, 80, 3)), video).shape == (2, 32, 32, 3)


def test_bad_inputs(predictor, rng):
    video = _video(rng, 2)
    with pytest.raises(InputError, match="no frames"):
        predictor.animate(rng.uniform(0, 1, (32, 32, 3)), [])
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        predictor.animate(rng.uniform(0, 255, (32, 32, 3)), video)
    with pytest.raises(InputError, match="shape"):
        predictor.animate(np.zeros((32, 32, 5)), video)
    with pytest.raises(InputError, match="NaN"):
        predictor.animate(np.full((32, 32, 3), np.nan), video)


def test_constructor_errors(tiny_config, tiny_weights, tmp_path):
    with pytest.raises(CheckpointError, match="convert_torch_weights"):
        FirstOrderPredictor(tiny_config, None)
    with pytest.raises(CheckpointError, match="does not exist"):
        FirstOrderPredictor(tiny_config, str(tmp_path / "missing.pdparams"))
    junk = tmp_path / "junk.pdparams"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="cannot read"):
        FirstOrderPredictor(tiny_config, str(junk))
    tiny_config["model"]["common"]["num_kp"] = 5
    with pytest.raises(CheckpointError, match="do not fit"):
        FirstOrderPredictor(tiny_config, tiny_weights)
    tiny_config["model"]["kp_detector"]["temprature"] = 1
    with pytest.raises(ConfigError, match="temprature"):
        FirstOrderPredictor(tiny_config, tiny_weights)


def test_image_size_comes_from_the_config_including_base_files(tiny_config, tiny_weights, tmp_path):
    import yaml
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(tiny_config))
    (tmp_path / "child.yaml").write_text("_base_: base.yaml\nmodel: {kp_detector: {temperature: 0.2}}\n")
    assert FirstOrderPredictor(str(tmp_path / "child.yaml"), tiny_weights).image_size == (32, 32)
    del tiny_config["dataset"]
    assert FirstOrderPredictor(tiny_config, tiny_weights).image_size is None  # the source's own size


def test_gradients_stay_enabled_while_frames_are_consumed(predictor, rng):
    """paddle.no_grad is global: a half-consumed animation must not switch gradients off for the caller."""
    frames = predictor.iter_animate(rng.uniform(0, 1, (32, 32, 3)), _video(rng, 4))
    next(frames)
    x = paddle.to_tensor([1.0], stop_gradient=False)
    (x * 2).sum().backward()
    assert x.grad is not None


def test_cpu_threads_do_not_change_results(tiny_config, tiny_weights, rng):
    source, video = rng.uniform(0, 1, (32, 32, 3)), _video(rng, 3)
    one = FirstOrderPredictor(tiny_config, tiny_weights, num_threads=1).animate(source, video)
    two = FirstOrderPredictor(tiny_config, tiny_weights, num_threads=2).animate(source, video)
    np.testing.assert_allclose(one, two, atol=1e-5)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InputError, match="num_threads"):
            FirstOrderPredictor(tiny_config, tiny_weights, num_threads=bad)
