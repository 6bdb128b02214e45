"""ppgan/modules/tps_dense_motion.py: transforms, dropout softmax, outputs of both mask variants."""
import numpy as np
import paddle
import pytest

from ppgan.modules.builder import DENSE_MOTIONS
from ppgan.modules.tps_dense_motion import dropout_softmax, tps_transformations
from ppgan.utils.errors import ConfigError

BACKBONE = {"name": "Hourglass", "block_expansion": 4, "max_features": 16, "num_blocks": 3, "norm": "instance"}


def _kp(seed, k=2):
    return {"fg_kp": paddle.to_tensor(np.random.RandomState(seed).uniform(-0.7, 0.7, (2, k * 5, 2)).astype("float32"))}


def test_transformations_start_with_the_background_and_fit_the_points():
    kp = _kp(0)
    out = tps_transformations(kp, kp, 9, 9).numpy()
    assert out.shape == (2, 3, 9, 9, 2)
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, 9), np.linspace(-1, 1, 9)), -1)
    np.testing.assert_allclose(out[:, 0], np.broadcast_to(grid, (2, 9, 9, 2)), atol=1e-6)
    # identical driving and source points: each spline is close to the identity (a regularised fit)
    assert np.abs(out[:, 1:] - grid).mean() < 0.05
    bg = paddle.to_tensor(np.tile(np.array([[1.0, 0, 0.2], [0, 1.0, 0], [0, 0, 1]], np.float32), (2, 1, 1)))
    shifted = tps_transformations(kp, kp, 9, 9, bg).numpy()
    np.testing.assert_allclose(shifted[:, 0, ..., 0], out[:, 0, ..., 0] + 0.2, atol=1e-6)
    np.testing.assert_allclose(shifted[:, 1:], out[:, 1:], atol=1e-7)


def test_dropout_softmax_drops_transforms_but_never_the_background():
    logits = paddle.to_tensor(np.random.RandomState(1).randn(2, 4, 3, 3).astype("float32"))
    draw = paddle.to_tensor([[0.9, 0.95, 0.1, 0.2], [0.1, 0.1, 0.1, 0.99]])
    out = dropout_softmax(logits, 0.3, draw).numpy()
    assert np.all(out[0, 1] == 0) and np.all(out[1, 3] == 0) and np.all(out[:, 0] > 0)
    np.testing.assert_allclose(out.sum(1), 1, atol=1e-5)
    kept = dropout_softmax(logits, 0.0, paddle.zeros([2, 4])).numpy()
    np.testing.assert_allclose(kept, paddle.nn.functional.softmax(logits, axis=1).numpy(), atol=1e-5)


@pytest.mark.parametrize("multi_mask", [True, False])
def test_outputs_and_mask_resolutions(multi_mask):
    net = DENSE_MOTIONS.build({"name": "TPSDenseMotionNetwork", "backbone": BACKBONE, "scale_factor": 0.25},
                              num_tps=2, num_channels=3, multi_mask=multi_mask)
    net.eval()
    out = net(paddle.rand([2, 3, 64, 64]), _kp(1), _kp(2))
    assert tuple(out["deformed_source"].shape) == (2, 3, 3, 16, 16)
    assert tuple(out["deformation"].shape) == (2, 16, 16, 2)
    np.testing.assert_allclose(out["contribution_maps"].sum(1).numpy(), 1, atol=1e-5)
    sizes = [m.shape[2] for m in out["occlusion_map"]]
    assert sizes == ([8, 16, 32, 64] if multi_mask else [16])


def test_multi_mask_needs_a_power_of_two_scale():
    with pytest.raises(ConfigError, match="multi_mask"):
        DENSE_MOTIONS.build({"name": "TPSDenseMotionNetwork", "backbone": BACKBONE, "scale_factor": 0.3},
                            num_tps=2, num_channels=3, multi_mask=True)
