import numpy as np
import paddle

from ppgan.models import build_nets
from ppgan.modules.antialias import ImagePyramide
from ppgan.modules.blocks import SpectralNormConv2d


def _normalize(x):
    return x / max(np.linalg.norm(x), 1e-12)


def test_spectral_norm_power_iteration_matches_numpy():
    conv = SpectralNormConv2d(3, 5, 4)
    w = conv.weight_orig.numpy().reshape(5, -1)
    u0 = conv.weight_u.numpy()
    conv.train()
    weight = conv.spectral_weight().numpy()
    v = _normalize(w.T @ u0)
    u = _normalize(w @ v)
    np.testing.assert_allclose(conv.weight_v.numpy(), v, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(conv.weight_u.numpy(), u, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(weight, conv.weight_orig.numpy() / (u @ w @ v), rtol=1e-5)


def test_spectral_norm_eval_keeps_vectors_and_converges():
    conv = SpectralNormConv2d(4, 6, 3)
    conv.train()
    for _ in range(60):
        conv.spectral_weight()
    conv.eval()
    u = conv.weight_u.numpy().copy()
    w = conv.spectral_weight().numpy().reshape(6, -1)
    np.testing.assert_array_equal(conv.weight_u.numpy(), u)  # eval: no power iteration
    assert abs(np.linalg.svd(w, compute_uv=False)[0] - 1) < 1e-3


def test_multiscale_keys_and_use_kp(tiny_config):
    model = tiny_config["model"]
    model["discriminator"].update(scales=[1, 0.5], use_kp=True, sn=False)
    disc = build_nets(model, ["discriminator"])["discriminator"]
    x = paddle.rand([2, 3, 32, 32])
    kp = {"value": paddle.zeros([2, 4, 2])}
    out = disc(ImagePyramide([1, 0.5], 3)(x), kp)
    assert sorted(out) == ["feature_maps_0.5", "feature_maps_1", "prediction_map_0.5", "prediction_map_1"]
    assert disc.discs["1"].down_blocks[0].conv.weight.shape[1] == 3 + 4
    assert len(out["feature_maps_1"]) == 2
