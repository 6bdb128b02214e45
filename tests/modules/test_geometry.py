import numpy as np
import paddle

from ppgan.modules import geometry as g


def test_coordinate_grid_corners_and_order():
    grid = g.make_coordinate_grid(3, 5).numpy()
    assert grid.shape == (3, 5, 2)
    np.testing.assert_allclose(grid[0, 0], [-1, -1])
    np.testing.assert_allclose(grid[-1, -1], [1, 1])
    np.testing.assert_allclose(grid[0, :, 0], np.linspace(-1, 1, 5), atol=1e-7)  # x varies along width
    np.testing.assert_allclose(grid[:, 0, 1], np.linspace(-1, 1, 3), atol=1e-7)


def test_kp2gaussian_peaks_at_keypoint():
    kp = paddle.to_tensor([[[0.0, 0.0], [1.0, -1.0]]])
    heat = g.kp2gaussian(kp, (9, 9), 0.01).numpy()
    assert heat.shape == (1, 2, 9, 9)
    assert np.unravel_index(heat[0, 0].argmax(), (9, 9)) == (4, 4)
    assert np.unravel_index(heat[0, 1].argmax(), (9, 9)) == (0, 8)  # y=-1 is the top row, x=1 the right
    np.testing.assert_allclose(heat[0, 0, 4, 4], 1.0)


def test_heatmap_to_keypoints_of_a_delta():
    heat = np.zeros((1, 1, 5, 7), np.float32)
    heat[0, 0, 1, 6] = 1
    kp = g.heatmap_to_keypoints(paddle.to_tensor(heat)).numpy()
    np.testing.assert_allclose(kp[0, 0], [1.0, -0.5], atol=1e-6)


def test_inverse_and_apply_jacobian(rng):
    m = rng.randn(2, 3, 2, 2).astype(np.float32) + 2 * np.eye(2, dtype=np.float32)
    inv = g.inverse_2x2(paddle.to_tensor(m)).numpy()
    np.testing.assert_allclose(inv, np.linalg.inv(m), rtol=1e-5, atol=1e-6)
    coords = rng.randn(2, 3, 4, 5, 2).astype(np.float32)
    out = g.apply_jacobian(paddle.to_tensor(m), paddle.to_tensor(coords)).numpy()
    expected = np.einsum("bkij,bkhwj->bkhwi", m, coords)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_movement_scale_is_sqrt_of_area_ratio():
    square = np.array([[[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]], np.float32)
    assert abs(g.movement_scale(square * 2, square) - 2.0) < 1e-6
    assert g.movement_scale(square, np.zeros_like(square)) == 1.0  # degenerate hull: no scaling


def _kp(value, jacobian):
    return {"value": paddle.to_tensor(np.asarray(value, np.float32)),
            "jacobian": paddle.to_tensor(np.asarray(jacobian, np.float32))}


def test_normalize_kp_modes():
    eye = np.eye(2)[None, None]
    rot = np.array([[0.0, -1.0], [1.0, 0.0]])[None, None]
    source = _kp([[[0.1, 0.2]]], eye * 2)
    initial = _kp([[[0.0, 0.0]]], eye)
    driving = _kp([[[0.3, -0.1]]], rot)
    absolute = g.normalize_kp(source, driving, initial)
    np.testing.assert_allclose(absolute["value"].numpy(), [[[0.3, -0.1]]])
    rel = g.normalize_kp(source, driving, initial, True, True, scale=2.0)
    np.testing.assert_allclose(rel["value"].numpy(), [[[0.1 + 0.6, 0.2 - 0.2]]], atol=1e-6)
    np.testing.assert_allclose(rel["jacobian"].numpy(), rot @ (eye * 2), atol=1e-6)
    rel_no_jac = g.normalize_kp(source, driving, initial, True, False)
    np.testing.assert_allclose(rel_no_jac["jacobian"].numpy(), rot)
