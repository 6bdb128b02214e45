import numpy as np
import paddle

from ppgan.modules.builder import DENSE_MOTIONS
from ppgan.modules.dense_motion import sparse_motions
from ppgan.modules.geometry import make_coordinate_grid


def _kp(batch, k, rng):
    return {"value": paddle.to_tensor(rng.uniform(-0.5, 0.5, (batch, k, 2)).astype(np.float32)),
            "jacobian": paddle.to_tensor(np.tile(np.eye(2, dtype=np.float32), (batch, k, 1, 1)))}


def test_sparse_motion_is_identity_when_nothing_moves(rng):
    kp = _kp(2, 3, rng)
    motions = sparse_motions(kp, kp, 8, 8).numpy()
    assert motions.shape == (2, 4, 8, 8, 2)
    np.testing.assert_allclose(motions, np.broadcast_to(make_coordinate_grid(8, 8).numpy(), motions.shape), atol=1e-6)


def test_sparse_motion_translates_by_keypoint_offset(rng):
    src = _kp(1, 2, rng)
    drv = {"value": src["value"] + 0.25, "jacobian": src["jacobian"]}
    motions = sparse_motions(drv, src, 8, 8).numpy()
    grid = make_coordinate_grid(8, 8).numpy()
    np.testing.assert_allclose(motions[0, 1], grid - 0.25, atol=1e-6)  # T(z) = z - (p_D - p_S)


def test_outputs(rng):
    net = DENSE_MOTIONS.build({"name": "DenseMotionNetwork", "scale_factor": 0.5,
                               "backbone": {"name": "Hourglass", "block_expansion": 4, "max_features": 16,
                                            "num_blocks": 2}},
                              num_kp=3, num_channels=3, estimate_occlusion_map=True, align_corners=True)
    net.eval()
    kp_s, kp_d = _kp(2, 3, rng), _kp(2, 3, rng)
    out = net(paddle.rand([2, 3, 32, 32]), kp_d, kp_s)
    assert out["deformation"].shape == [2, 16, 16, 2]
    assert out["mask"].shape == [2, 4, 16, 16]
    np.testing.assert_allclose(out["mask"].numpy().sum(1), 1, atol=1e-5)
    assert out["occlusion_map"].shape == [2, 1, 16, 16]
    assert out["sparse_deformed"].shape == [2, 4, 3, 16, 16]
