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
