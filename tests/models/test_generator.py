import numpy as np
import paddle

from ppgan.models import build_nets


def _kp(batch, k, rng):
    return {"value": paddle.to_tensor(rng.uniform(-0.5, 0.5, (batch, k, 2)).astype(np.float32)),
            "jacobian": paddle.to_tensor(np.tile(np.eye(2, dtype=np.float32), (batch, k, 1, 1)))}


def test_generator_outputs(tiny_config, rng):
    gen = build_nets(tiny_config["model"], ["generator"])["generator"]
    gen.eval()
    kp = _kp(2, 4, rng)
    out = gen(paddle.rand([2, 3, 32, 32]), kp, kp)
    assert out["prediction"].shape == [2, 3, 32, 32]
    pred = out["prediction"].numpy()
    assert pred.min() >= 0 and pred.max() <= 1
    assert out["deformed"].shape == [2, 3, 32, 32]
    assert out["occlusion_map"].shape == [2, 1, 16, 16]  # resized to the 8x8 features inside


def test_generator_without_dense_motion(tiny_config, rng):
    tiny_config["model"]["generator"]["dense_motion"] = None
    gen = build_nets(tiny_config["model"], ["generator"])["generator"]
    out = gen(paddle.rand([1, 3, 32, 32]), _kp(1, 4, rng), _kp(1, 4, rng))
    assert set(out) == {"prediction"}


def test_align_corners_changes_the_warp(tiny_config, rng):
    """Both conventions run; they differ (the flow maps [-1, 1] to pixel centres vs pixel edges)."""
    src = paddle.rand([1, 3, 32, 32])
    kp_s, kp_d = _kp(1, 4, rng), _kp(1, 4, rng)
    outs = []
    for flag in (True, False):
        tiny_config["model"]["common"]["align_corners"] = flag
        paddle.seed(0)
        gen = build_nets(tiny_config["model"], ["generator"])["generator"]
        gen.eval()
        outs.append(gen(src, kp_d, kp_s)["deformed"].numpy())
    assert np.abs(outs[0] - outs[1]).max() > 1e-3


def test_encode_warp_decode_equals_forward(tiny_config, rng):
    gen = build_nets(tiny_config["model"], ["generator"])["generator"]
    gen.eval()
    src, kp_s, kp_d = paddle.rand([2, 3, 32, 32]), _kp(2, 4, rng), _kp(2, 4, rng)
    features = gen.animate_features(gen.encode(src), src, kp_d, kp_s)
    np.testing.assert_array_equal(gen.decode(features).numpy(), gen(src, kp_d, kp_s)["prediction"].numpy())


def _generator(config, border_correction):
    config["model"]["generator"]["border_correction"] = border_correction
    paddle.seed(0)
    gen = build_nets(config["model"], ["generator"])["generator"]
    gen.eval()
    return gen


def test_border_correction_values(tiny_config):
    """0 / false: off (the original's generator); true: PaddleGAN's 5 pixels; anything else is one config error."""
    import pytest

    from ppgan.utils.errors import ConfigError

    assert [_generator(tiny_config, v).border_correction for v in (0, False, None, True, 3)] == [0, 0, 0, 5, 3]
    for bad in (-1, 2.5, "5"):
        with pytest.raises(ConfigError, match="model.generator.border_correction.*band width in pixels"):
            _generator(tiny_config, bad)


def test_border_correction_changes_the_borders_of_every_warp(tiny_config, rng):
    src, kp_s, kp_d = paddle.rand([1, 3, 32, 32]), _kp(1, 4, rng), _kp(1, 4, rng)
    outputs = {b: _generator(tiny_config, b)(src, kp_d, kp_s) for b in (0, 2)}
    deformed = [outputs[b]["deformed"].numpy() for b in (0, 2)]
    np.testing.assert_array_equal(deformed[0][:, :, 6:-6, 6:-6], deformed[1][:, :, 6:-6, 6:-6])  # 2 + 4 taps in
    assert np.abs(deformed[0] - deformed[1]).max() > 1e-3
    assert np.abs(outputs[0]["prediction"].numpy() - outputs[2]["prediction"].numpy()).max() > 1e-4


def test_occlusion_border_is_filled_unless_the_class_says_not(tiny_config, rng, monkeypatch):
    """The band of the occlusion map is 1 (PaddleGAN's mobile generator, `fills_occlusion_border = False`, keeps it)."""
    from ppgan.modules.geometry import make_coordinate_grid

    gen = _generator(tiny_config, 2)
    features = paddle.ones([1, 16, 8, 8])
    motion = {"deformation": make_coordinate_grid(16, 16).unsqueeze(0),
              "occlusion_map": paddle.full([1, 1, 16, 16], 0.25)}
    warped = gen.warp_features(features, motion).numpy()[0, 0]
    assert (warped[:2] == 1).all() and (warped[:, -2:] == 1).all()
    np.testing.assert_allclose(warped[2:-2, 2:-2], 0.25, atol=1e-6)
    monkeypatch.setattr(type(gen), "fills_occlusion_border", False)
    np.testing.assert_allclose(gen.warp_features(features, motion).numpy()[0, 0], 0.25, atol=1e-6)
