import numpy as np
import paddle
import pytest

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


def test_tps_transform_is_affine_without_control_params():
    from ppgan.modules.geometry import tps_warp_coordinates
    theta = paddle.to_tensor([[[1.1, 0.2, 0.05], [-0.1, 0.9, -0.2]]], dtype="float32")
    coords = paddle.to_tensor([[[0.5, -0.25], [-1.0, 1.0]]], dtype="float32")
    warped = tps_warp_coordinates(coords, theta).numpy()
    expected = coords.numpy()[0] @ theta.numpy()[0, :, :2].T + theta.numpy()[0, :, 2]
    np.testing.assert_allclose(warped[0], expected, rtol=1e-6)


def test_random_transform_jacobian_matches_finite_differences():
    from ppgan.modules.geometry import RandomTransform
    paddle.seed(3)
    transform = RandomTransform.sample(2, sigma_affine=0.1, sigma_tps=0.05, points_tps=5)
    coords = paddle.to_tensor(np.random.RandomState(1).uniform(-0.9, 0.9, (2, 4, 2)).astype("float64"))
    coords.stop_gradient = False
    transform.theta = transform.theta.astype("float64")
    transform.control_points = transform.control_points.astype("float64")
    transform.control_params = transform.control_params.astype("float64")
    jac = transform.jacobian(coords).numpy()
    eps = 1e-6
    for axis in range(2):
        delta = np.zeros((2, 4, 2))
        delta[..., axis] = eps
        plus = transform.warp_coordinates(coords + paddle.to_tensor(delta)).numpy()
        minus = transform.warp_coordinates(coords - paddle.to_tensor(delta)).numpy()
        np.testing.assert_allclose(jac[..., axis], (plus - minus) / (2 * eps), rtol=1e-5, atol=1e-7)


def test_random_transform_identity_keeps_the_frame():
    from ppgan.modules.geometry import RandomTransform
    frame = paddle.rand([2, 3, 12, 10])
    identity = RandomTransform(paddle.eye(2, 3).unsqueeze(0).expand([2, 2, 3]), align_corners=True)
    np.testing.assert_allclose(identity.transform_frame(frame).numpy(), frame.numpy(), atol=1e-5)
    drawn = RandomTransform.sample(3, 0.05, 0.005, 5)
    assert drawn.theta.shape == [3, 2, 3] and drawn.control_params.shape == [3, 1, 25]
    assert drawn.transform_frame(paddle.rand([3, 3, 8, 8])).shape == [3, 3, 8, 8]


def test_shape_distance_ignores_position_and_size():
    from ppgan.modules.geometry import normalize_shape, shape_distance
    pts = np.array([[0.1, 0.2], [0.5, -0.3], [-0.4, 0.1], [0.0, 0.6]])
    assert shape_distance(pts, pts * 2.5 + [0.3, -0.1]) < 1e-20
    assert abs(normalize_shape(pts).mean(axis=0)).max() < 1e-12
    other = pts.copy()
    other[0] += [0.2, 0.0]
    assert shape_distance(pts, other) > 1e-3
    assert shape_distance(np.zeros((3, 2)), np.zeros((3, 2))) == 0   # degenerate: no division by zero


def test_gauss_jordan_inverse_matches_lu_and_pivots():
    """The exported graphs' inverse equals LU's, also where the leading entry is 0 (pivoting needed)."""
    rng = np.random.RandomState(3)
    matrices = rng.randn(3, 4, 8, 8).astype(np.float32) + 4 * np.eye(8, dtype=np.float32)
    swap = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 2]], np.float32)
    for m in (matrices, swap):
        ours = g.gauss_jordan_inverse(paddle.to_tensor(m)).numpy()
        np.testing.assert_allclose(ours, np.linalg.inv(m.astype(np.float64)), atol=2e-5)


def test_tps_fit_interpolates_and_reduces_to_the_affine_map():
    """T(p^D) = p^S (Eq. 2) up to the regularisation; points related by an affine map give that map."""
    rng = np.random.RandomState(0)
    kp_d = rng.uniform(-0.8, 0.8, (2, 3, 5, 2)).astype(np.float32)
    kp_s = rng.uniform(-0.8, 0.8, (2, 3, 5, 2)).astype(np.float32)
    theta, points, params = g.tps_fit(paddle.to_tensor(kp_d), paddle.to_tensor(kp_s), regularization=0.0)
    assert tuple(theta.shape) == (2, 3, 2, 3) and tuple(params.shape) == (2, 3, 5, 2)
    # warp every group's own driving points: group k's spline evaluated at its points
    for k in range(3):
        coords = paddle.to_tensor(kp_d[:1, k])                      # (1, 5, 2)
        warped = g.tps_warp(coords, theta[:1, k:k + 1], points[:1, k:k + 1], params[:1, k:k + 1]).numpy()
        np.testing.assert_allclose(warped[0, 0], kp_s[0, k], atol=1e-4)
    a = np.array([[1.1, 0.2], [-0.1, 0.9]], np.float32)
    affine_s = kp_d @ a.T + np.array([0.05, -0.02], np.float32)
    theta, _, params = g.tps_fit(paddle.to_tensor(kp_d), paddle.to_tensor(affine_s), regularization=0.0)
    np.testing.assert_allclose(params.numpy(), 0, atol=1e-4)
    np.testing.assert_allclose(theta.numpy()[0, 0, :, :2], a, atol=1e-4)


def test_thin_plate_kernel_is_r2_log_r2():
    coords = paddle.to_tensor([[[0.0, 0.0], [0.6, 0.8]]])
    value = g.thin_plate_kernel(coords, paddle.to_tensor([[0.0, 0.0]])).numpy()
    np.testing.assert_allclose(value[0, :, 0], [0.0, 1.0 * np.log(1.0 + 1e-9)], atol=1e-7)


def test_tps_random_transform_kernels_differ_and_zero_weights_are_affine():
    theta = paddle.to_tensor([[[1.0, 0.1, 0.0], [0.0, 1.0, 0.2]]])
    points = g.make_coordinate_grid(3, 3).unsqueeze(0)
    weights = paddle.full([1, 1, 9], 0.01)
    coords = paddle.to_tensor(np.random.RandomState(0).uniform(-1, 1, (1, 6, 2)).astype(np.float32))
    fomm = g.RandomTransform(theta, points, weights).warp_coordinates(coords).numpy()
    tps = g.RandomTransform(theta, points, weights, kernel=g.thin_plate_kernel).warp_coordinates(coords).numpy()
    assert np.abs(fomm - tps).max() > 1e-4
    affine = g.RandomTransform(theta, points, weights * 0, kernel=g.thin_plate_kernel).warp_coordinates(coords)
    np.testing.assert_allclose(affine.numpy(), g.RandomTransform(theta).warp_coordinates(coords).numpy(), atol=1e-7)


def test_align_corners_resize_weights_match_interpolate():
    x = paddle.to_tensor(np.random.RandomState(1).rand(1, 2, 5, 7).astype(np.float32))
    expected = paddle.nn.functional.interpolate(x, size=[9, 12], mode="bilinear", align_corners=True).numpy()
    rows = g.linear_resize_weights(5, 9, align_corners=True)
    cols = g.linear_resize_weights(7, 12, align_corners=True)
    np.testing.assert_allclose(np.einsum("ij,ncjk,lk->ncil", rows, x.numpy(), cols), expected, atol=1e-6)


def test_relative_control_points():
    src, drv, init = ({"fg_kp": np.full((1, 5, 2), v, np.float32)} for v in (0.1, 0.5, 0.3))
    np.testing.assert_allclose(g.relative_control_points(src, drv, init, 2.0)["fg_kp"], 0.5, atol=1e-6)


def _fg(points):
    return {"fg_kp": np.asarray(points, np.float32)}


def test_affine_relative_control_points_carries_each_splines_affine_motion():
    rs = np.random.RandomState(0)
    initial = rs.uniform(-0.6, 0.6, (1, 10, 2))
    source = initial + rs.normal(0, 0.1, initial.shape)
    # spline 0 turns by 0.3 rad and grows by 1.2 about a point, spline 1 only moves: two frames of motion
    turn = 1.2 * np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    shift = np.array([0.05, -0.1])
    driving = np.concatenate([initial, initial], axis=0)
    driving[:, :5] = (initial[0, :5] - 0.2) @ turn.T + 0.2
    driving[1, 5:] += shift
    out = g.affine_relative_control_points(_fg(source), _fg(driving), _fg(initial))["fg_kp"]
    assert out.shape == (2, 10, 2) and out.dtype == np.float32
    # exact but for the ridge's pull towards the identity (about 1e-4 here); plain relative motion is 0.08 off
    np.testing.assert_allclose(out[:, :5], np.broadcast_to((source[0, :5] - 0.2) @ turn.T + 0.2, (2, 5, 2)),
                               atol=1e-3)
    # a translation moves the source's points as relative motion does
    np.testing.assert_allclose(out[1, 5:], source[0, 5:] + shift, atol=1e-5)
    np.testing.assert_allclose(out[0, 5:], source[0, 5:], atol=1e-5)
    # the source at the reference pose follows the driving points exactly
    np.testing.assert_allclose(g.affine_relative_control_points(_fg(initial), _fg(driving), _fg(initial))["fg_kp"],
                               driving, atol=1e-6)
    # a spline whose points collapsed to one has no linear motion to carry: plain relative motion
    collapsed = np.repeat(initial[:, :1], 5, axis=1)
    moved = collapsed * 1.5 + 0.1
    np.testing.assert_allclose(g.affine_relative_control_points(_fg(source[:, :5]), _fg(moved),
                                                                _fg(collapsed))["fg_kp"],
                               source[:, :5] + moved - collapsed, atol=1e-6)
    np.testing.assert_allclose(g.spline_linear_motion(collapsed, moved), np.eye(2)[None, None], atol=1e-6)


def _bicubic_reference(image, grid, align_corners, a=-0.75):
    """Cubic convolution at each grid point, in float64 numpy, zeros outside the image."""
    n, c, h, w = image.shape
    out = np.zeros((n, c) + grid.shape[1:3])

    def kernel(d):
        d = abs(d)
        if d <= 1:
            return (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1
        return a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a if d < 2 else 0.0

    for b in range(n):
        for i in range(grid.shape[1]):
            for j in range(grid.shape[2]):
                gx, gy = grid[b, i, j]
                if align_corners:
                    x, y = (gx + 1) / 2 * (w - 1), (gy + 1) / 2 * (h - 1)
                else:
                    x, y = ((gx + 1) * w - 1) / 2, ((gy + 1) * h - 1) / 2
                x0, y0 = int(np.floor(x)), int(np.floor(y))
                for yy in range(y0 - 1, y0 + 3):
                    for xx in range(x0 - 1, x0 + 3):
                        if 0 <= yy < h and 0 <= xx < w:
                            out[b, :, i, j] += kernel(x - xx) * kernel(y - yy) * image[b, :, yy, xx]
    return out


def test_bicubic_sampling_is_cubic_convolution_with_zero_padding():
    rng = np.random.RandomState(0)
    image = rng.rand(2, 3, 6, 7).astype(np.float32)
    grid = rng.uniform(-1.3, 1.3, (2, 4, 5, 2)).astype(np.float32)
    grid[0, 0, 0], grid[0, 0, 1] = [1, 1], [-1, -1]
    for align_corners in (True, False):
        ours = g.grid_sample_bicubic(paddle.to_tensor(image), paddle.to_tensor(grid), align_corners).numpy()
        np.testing.assert_allclose(ours, _bicubic_reference(image, grid, align_corners), atol=2e-6)
    # at the pixel centres it is the identity (the kernel is 1 at 0 and 0 at the other integers)
    identity = g.make_coordinate_grid(6, 7).unsqueeze(0).expand([2, 6, 7, 2])
    np.testing.assert_allclose(g.grid_sample_bicubic(paddle.to_tensor(image), identity, True).numpy(), image,
                               atol=2e-6)


def test_bicubic_sampling_keeps_more_detail_than_bilinear():
    """A quarter-pixel shift of a 1-pixel checkerboard: bilinear keeps half its contrast, bicubic 11/16."""
    board = (np.indices((16, 16)).sum(axis=0) % 2).astype(np.float32)[None, None]
    grid = g.make_coordinate_grid(16, 16).numpy()
    grid[..., 0] += 0.5 / 15  # a quarter pixel (align_corners: 2/15 per pixel)
    grid = paddle.to_tensor(grid[None])
    image = paddle.to_tensor(board)
    inner = (slice(None), slice(None), slice(3, -3), slice(3, -3))
    bilinear = g.grid_sample(image, grid, True).numpy()[inner]
    bicubic = g.grid_sample_bicubic(image, grid, True).numpy()[inner]
    np.testing.assert_allclose(np.ptp(bilinear), 0.5, atol=1e-5)
    np.testing.assert_allclose(np.ptp(bicubic), 0.6875, atol=1e-5)


def test_bicubic_sampling_gradients_match_finite_differences():
    rng = np.random.RandomState(1)
    image = paddle.to_tensor(rng.rand(1, 2, 5, 6), dtype="float64", stop_gradient=False)
    grid = paddle.to_tensor(rng.uniform(-0.9, 0.9, (1, 3, 4, 2)), dtype="float64", stop_gradient=False)
    weights = paddle.to_tensor(rng.rand(1, 2, 3, 4), dtype="float64")
    (g.grid_sample_bicubic(image, grid, True) * weights).sum().backward()

    def value(img, grd):
        return float((g.grid_sample_bicubic(paddle.to_tensor(img), paddle.to_tensor(grd), True) * weights).sum())

    img, grd, eps = image.numpy(), grid.numpy(), 1e-6
    for tensor, array in ((image, img), (grid, grd)):
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            plus, minus = array.copy(), array.copy()
            plus[index] += eps
            minus[index] -= eps
            args = (plus, grd) if tensor is image else (img, plus)
            args_minus = (minus, grd) if tensor is image else (img, minus)
            numeric[index] = (value(*args) - value(*args_minus)) / (2 * eps)
        np.testing.assert_allclose(tensor.grad.numpy(), numeric, atol=1e-6)


def test_bicubic_sampling_passes_a_nan_coordinate_on():
    image = paddle.ones([1, 1, 4, 4])
    grid = paddle.to_tensor(np.array([[[[0.0, 0.0], [np.nan, 0.0]]]], np.float32))
    assert np.isnan(g.grid_sample_bicubic(image, grid, True).numpy()).all()


@pytest.mark.parametrize("maps", ["per_keypoint", "shared"])
def test_heatmap_expectations_as_matrix_products_in_exported_graphs(maps):
    """The keypoints and jacobians of a traced graph (matrix products) equal the dygraph sums."""
    rng = np.random.RandomState(3)
    b, k, h, w = 2, 5, 7, 9
    heatmap = rng.rand(b, k, h, w).astype("float32")
    heatmap /= heatmap.sum(axis=(2, 3), keepdims=True)
    jacobian_map = rng.randn(b, k if maps == "per_keypoint" else 1, 4, h, w).astype("float32")

    def expectations(heat, jac):
        return g.heatmap_to_keypoints(heat), g.heatmap_to_jacobians(heat, jac)

    eager = [t.numpy() for t in expectations(paddle.to_tensor(heatmap), paddle.to_tensor(jacobian_map))]
    traced = paddle.jit.to_static(expectations, full_graph=True)
    static = [t.numpy() for t in traced(paddle.to_tensor(heatmap), paddle.to_tensor(jacobian_map))]
    expected_value = np.einsum("bkhw,hwc->bkc", heatmap, g.make_coordinate_grid(h, w).numpy())
    expected_jacobian = np.einsum("bkhw,bkchw->bkc", heatmap, np.broadcast_to(jacobian_map, (b, k, 4, h, w)))
    np.testing.assert_allclose(eager[0], expected_value, atol=1e-6)
    np.testing.assert_allclose(eager[1], expected_jacobian.reshape(b, k, 2, 2), atol=1e-6)
    assert eager[1].shape == static[1].shape == (b, k, 2, 2)
    for a, s in zip(eager, static):
        np.testing.assert_allclose(s, a, atol=1e-6)


@pytest.mark.parametrize("size", [1, 3, 5, 7, 9, 11])
def test_gaussian_taps_are_opencvs(size):
    """OpenCV's kernel (fixed tables up to 9 taps when sigma <= 0, the sampled Gaussian otherwise)."""
    import cv2

    np.testing.assert_allclose(g.gaussian_taps(size), cv2.getGaussianKernel(size, 0).ravel(), rtol=0, atol=1e-15)
    np.testing.assert_allclose(g.gaussian_taps(size, 1.3), cv2.getGaussianKernel(size, 1.3).ravel(), atol=1e-15)


@pytest.mark.parametrize("height,width,band", [(64, 64, 5), (32, 48, 5), (16, 16, 2), (7, 5, 1), (20, 20, 0),
                                               (10, 10, 5)])
def test_border_blend_weights_equal_paddlegans_opencv_blur(height, width, band):
    import cv2

    inside = g.border_interior(height, width, band)
    assert inside.sum() == max(height - 2 * band, 0) * max(width - 2 * band, 0)
    expected = cv2.GaussianBlur(inside, (9, 9), 0.0, borderType=cv2.BORDER_ISOLATED)
    np.testing.assert_array_equal(g.border_blend_weights(height, width, band), expected)


def test_blend_border_to_identity_keeps_the_interior_and_pins_the_edges(rng):
    deformation = paddle.to_tensor(rng.uniform(-1, 1, (2, 24, 24, 2)).astype(np.float32))
    out = g.blend_border_to_identity(deformation, 5).numpy()
    identity = g.make_coordinate_grid(24, 24).numpy()
    np.testing.assert_array_equal(out[:, 9:15, 9:15], deformation.numpy()[:, 9:15, 9:15])  # 5 + 4 taps in
    # the outermost pixels see only the zero band through the 9 taps: they sample where they stand
    np.testing.assert_array_equal(out[:, 0], np.broadcast_to(identity[0], out[:, 0].shape))
    np.testing.assert_array_equal(out[:, :, -1], np.broadcast_to(identity[:, -1], out[:, :, -1].shape))
    weights = g.border_blend_weights(24, 24, 5)[None, :, :, None]
    np.testing.assert_allclose(out, weights * deformation.numpy() + (1 - weights) * identity, atol=1e-7)


def test_fill_border_sets_a_band_and_nothing_else(rng):
    x = rng.rand(2, 1, 12, 10).astype(np.float32)
    out = g.fill_border(paddle.to_tensor(x), 3).numpy()
    inside = np.zeros_like(x, bool)
    inside[:, :, 3:9, 3:7] = True
    np.testing.assert_array_equal(out[inside], x[inside])
    assert (out[~inside] == 1).all()
