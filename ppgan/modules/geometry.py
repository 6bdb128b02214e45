"""Geometry of both motion models as small pure functions.

Coordinates are normalised to [-1, 1] with x first, as `grid_sample` expects; the corner pixel
centres sit at -1 and 1 (this matches `grid_sample(align_corners=True)`; see docs/en_US/conversion.md).
First order keypoint dicts hold ``value`` (B, K, 2) and, with jacobians, ``jacobian`` (B, K, 2, 2);
thin-plate spline keypoint dicts hold ``fg_kp`` (B, K*5, 2): K groups of 5 control points.
"""
import functools

import numpy as np
import paddle
import paddle.nn.functional as F


def make_coordinate_grid(height, width, dtype="float32"):
    """Return an (H, W, 2) grid of (x, y) coordinates spanning [-1, 1] in each axis."""
    x = paddle.arange(width, dtype=dtype)
    y = paddle.arange(height, dtype=dtype)
    x = 2 * (x / (width - 1)) - 1
    y = 2 * (y / (height - 1)) - 1
    xx = x.reshape([1, width]).expand([height, width])
    yy = y.reshape([height, 1]).expand([height, width])
    return paddle.stack([xx, yy], axis=2)


def kp2gaussian(kp_value, spatial_size, kp_variance):
    """Gaussian heatmaps centred at keypoints, exp(-|z - p_k|^2 / (2 var)) (paper, eq. 6 inputs).

    kp_value: (B, K, 2); returns (B, K, H, W).
    """
    h, w = spatial_size
    grid = make_coordinate_grid(h, w, kp_value.dtype).reshape([1, 1, h, w, 2])
    mean = kp_value.unsqueeze([2, 3])
    diff = grid - mean
    return paddle.exp(-0.5 * (diff * diff).sum(-1) / kp_variance)


def heatmap_to_keypoints(heatmap):
    """Keypoint locations as heatmap expectations, p_k = sum_z H_k(z) z; heatmap (B, K, H, W) -> (B, K, 2).

    Exported graphs compute the sum as one matrix product: Paddle Inference's oneDNN runs the broadcast
    product of the dygraph form 20x slower than the rest of the keypoint detector
    (benchmarks/inference_profile.py); the two differ by float rounding.
    """
    h, w = heatmap.shape[2], heatmap.shape[3]
    grid = make_coordinate_grid(h, w, heatmap.dtype)
    if paddle.in_dynamic_mode():
        return (heatmap.unsqueeze(-1) * grid.reshape([1, 1, h, w, 2])).sum(axis=[2, 3])
    return paddle.matmul(heatmap.reshape([0, heatmap.shape[1], h * w]), grid.reshape([h * w, 2]))


def heatmap_to_jacobians(heatmap, jacobian_map):
    """Local affine jacobians as heatmap-weighted averages, J_k = sum_z H_k(z) J_k(z) (FOMM Sec. 3.2);
    heatmap (B, K, H, W), jacobian_map (B, J, 4, H, W) with J = K or one map shared by every keypoint
    -> (B, K, 2, 2). Exported graphs use matrix products, as heatmap_to_keypoints."""
    b, k, h, w = heatmap.shape
    j = jacobian_map.shape[1]
    if paddle.in_dynamic_mode():
        jacobian = (heatmap.unsqueeze(2) * jacobian_map).reshape([0, k, 4, h * w]).sum(-1)
    elif j == 1:  # (B, 4, HW) x (B, HW, K): no broadcast operand (see resize_bilinear)
        jacobian = paddle.matmul(jacobian_map.reshape([0, 4, h * w]), heatmap.reshape([0, k, h * w]),
                                 transpose_y=True).transpose([0, 2, 1])
    else:  # (B*K, 4, HW) x (B*K, HW, 1)
        jacobian = paddle.matmul(jacobian_map.reshape([-1, 4, h * w]), heatmap.reshape([-1, h * w, 1]))
    return jacobian.reshape([-1, k, 2, 2])


def inverse_2x2(matrix):
    """Inverse of a batch of 2x2 matrices (..., 2, 2).

    LU-based like torch.inverse, so results are bitwise equal to the original's; a closed-form
    inverse differs by an ulp, which grid sampling near image borders amplifies to ~1e-5. Exported
    graphs use the closed form (the adjugate over the determinant): ONNX has no matrix inverse.
    """
    if paddle.in_dynamic_mode():
        return paddle.linalg.inv(matrix)
    a, b = matrix[..., 0, 0], matrix[..., 0, 1]
    c, d = matrix[..., 1, 0], matrix[..., 1, 1]
    adjugate = paddle.stack([paddle.stack([d, -b], axis=-1), paddle.stack([-c, a], axis=-1)], axis=-2)
    # two single-axis unsqueezes: paddle2onnx 1.x (for Paddle 2.6) turns axes [-1, -2] into a repeated ONNX axis
    return adjugate / (a * d - b * c).unsqueeze(-1).unsqueeze(-1)


def gauss_jordan_inverse(matrix):
    """Inverse of a batch of small n x n matrices (..., n, n) by Gauss-Jordan elimination with partial
    pivoting, unrolled over the n columns into plain tensor ops (argmax, matmul, broadcasting).

    What exported graphs use: neither ONNX nor every Paddle Inference runtime has a matrix inverse.
    Rows are swapped by a permutation matrix built from the pivot's index, so no gather is needed.
    """
    n = matrix.shape[-1]
    eye = paddle.eye(n, dtype=matrix.dtype)
    index = paddle.arange(n, dtype="int64")
    aug = paddle.concat([matrix, paddle.zeros_like(matrix) + eye], axis=-1)    # (..., n, 2n)
    for j in range(n):
        candidates = (index >= j).astype(matrix.dtype)
        # rows above j are finished: -1 keeps them from being chosen (|a| >= 0 elsewhere)
        score = paddle.abs(aug[..., :, j]) * candidates - (1 - candidates)
        pivot = (index == paddle.argmax(score, axis=-1, keepdim=True)).astype(matrix.dtype)  # (..., n) one-hot
        row_j = eye[j]
        swap = (eye - row_j.unsqueeze(-1) * row_j - pivot.unsqueeze(-1) * pivot.unsqueeze(-2)
                + row_j.unsqueeze(-1) * pivot.unsqueeze(-2) + pivot.unsqueeze(-1) * row_j)
        aug = paddle.matmul(swap, aug)
        pivot_row = aug[..., j:j + 1, :] / aug[..., j:j + 1, j:j + 1]
        # clear column j in every row (row j becomes zero), then put the normalised pivot row back
        aug = aug - aug[..., :, j:j + 1] * pivot_row + row_j.unsqueeze(-1) * pivot_row
    return aug[..., n:]


def matrix_inverse(matrix):
    """Inverse of a batch of square matrices: LU (paddle.linalg.inv, as torch.inverse) in dygraph,
    :func:`gauss_jordan_inverse` in exported graphs."""
    if paddle.in_dynamic_mode():
        return paddle.linalg.inv(matrix)
    return gauss_jordan_inverse(matrix)


def apply_jacobian(jacobian, coords):
    """Multiply per-keypoint 2x2 matrices into coordinate grids.

    jacobian: (B, K, 2, 2); coords: (B, K, H, W, 2) -> (B, K, H, W, 2), J @ z at every z.
    """
    j = jacobian.unsqueeze([2, 3])
    x, y = coords[..., 0], coords[..., 1]
    new_x = j[..., 0, 0] * x + j[..., 0, 1] * y
    new_y = j[..., 1, 0] * x + j[..., 1, 1] * y
    return paddle.stack([new_x, new_y], axis=-1)


def add_epsilon(x, eps):
    """x + eps with eps a constant tensor, equal to `x + eps`: that one is a scale op in a Paddle 2.6 program, whose
    bias paddle2onnx 1.x (the converter for Paddle 2.6) drops when it is 1e-6 or less (log(0 + eps) becomes -inf)."""
    return x + paddle.full([1], eps, dtype=x.dtype)


def grid_sample(image, grid, align_corners, padding_mode="zeros"):
    """Bilinear sampling of `image` (N, C, H, W) at `grid` (N, Ho, Wo, 2); align_corners is explicit."""
    def sample(img, coords):
        return F.grid_sample(img, coords, mode="bilinear", padding_mode=padding_mode,
                             align_corners=bool(align_corners))

    if not paddle.in_dynamic_mode():  # an exported graph: no training, no guard ops in the deployed model
        return sample(image, grid)
    if image.stop_gradient and not grid.stop_gradient and paddle.is_grad_enabled():
        # Paddle's CPU grid_sample backward crashes when only the grid needs a gradient.
        image = image.detach()
        image.stop_gradient = False
    # Paddle 2.6's CPU kernel reads out of bounds at NaN coordinates (a diverged model): sample at 0
    # instead and let the NaN reach the output through a zero-weighted sum, so that it is still reported.
    safe = _finite(grid)
    return sample(image, safe) + (grid - safe).sum() * 0


def _finite(grid):
    """`grid` with its NaN / inf coordinates replaced by 0 (adding `(grid - _finite(grid)).sum() * 0` to a
    result sampled there lets a diverged model's NaN still reach the output)."""
    return paddle.where(paddle.isfinite(grid), grid, paddle.zeros_like(grid))


CUBIC_A = -0.75   # the cubic convolution kernel's parameter (Keys 1981), as OpenCV's and PyTorch's bicubic


def cubic_weights(t):
    """The four cubic-convolution weights of the samples at offsets -1, 0, 1, 2 from floor(x), for the
    fractional part t = x - floor(x) (any shape; the weights sum to 1): the kernel is
    (a+2)|d|^3 - (a+3)|d|^2 + 1 for |d| <= 1 and a|d|^3 - 5a|d|^2 + 8a|d| - 4a for 1 < |d| < 2 (a = CUBIC_A)."""
    a = CUBIC_A
    near, far = 1 - t, 2 - t   # distances to the samples at +1 and +2; those at 0 and -1 are t and t + 1
    return [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
            ((a + 2) * t - (a + 3)) * t * t + 1,
            ((a + 2) * near - (a + 3)) * near * near + 1,
            ((a * far - 5 * a) * far + 8 * a) * far - 4 * a]


def grid_sample_bicubic(image, grid, align_corners):
    """Bicubic sampling of `image` (N, C, H, W) at `grid` (N, Ho, Wo, 2), zeros outside the image: each of
    the 4x4 samples around a point is weighted by cubic_weights of its offset, a sample outside the image
    counts as 0 (torch.nn.functional.grid_sample(mode="bicubic", padding_mode="zeros")'s rule).

    Bilinear sampling averages neighbouring pixels and so blurs what it moves (a quarter-pixel shift keeps
    about a third of a frame's Laplacian energy at 64x64); the cubic kernel's negative lobes keep most of it.
    Built from gathers, so it runs in dygraph with gradients to image and grid, and exports.
    """
    c, h, w = image.shape[1], image.shape[2], image.shape[3]
    ho, wo = grid.shape[1], grid.shape[2]
    # an exported graph carries no guard ops (paddle2onnx 1.x, for Paddle 2.6, cannot convert isfinite)
    guard = paddle.in_dynamic_mode()
    safe = _finite(grid) if guard else grid
    if align_corners:
        x = (safe[..., 0] + 1) / 2 * (w - 1)
        y = (safe[..., 1] + 1) / 2 * (h - 1)
    else:
        x = ((safe[..., 0] + 1) * w - 1) / 2
        y = ((safe[..., 1] + 1) * h - 1) / 2
    x0, y0 = paddle.floor(x), paddle.floor(y)
    wx, wy = cubic_weights(x - x0), cubic_weights(y - y0)
    flat = image.reshape([0, c, h * w])
    terms = []
    for j in range(4):
        yy = y0 + (j - 1)
        y_in = paddle.logical_and(yy >= 0, yy <= h - 1)
        rows = paddle.clip(yy, 0, h - 1) * w
        for i in range(4):
            xx = x0 + (i - 1)
            inside = paddle.logical_and(y_in, paddle.logical_and(xx >= 0, xx <= w - 1))
            index = (rows + paddle.clip(xx, 0, w - 1)).astype("int64").reshape([0, 1, ho * wo])
            values = paddle.take_along_axis(flat, index.expand([-1, c, -1]), axis=2)
            weight = (wx[i] * wy[j] * inside.astype(image.dtype)).reshape([0, 1, ho * wo])
            terms.append(values * weight)
    out = paddle.add_n(terms).reshape([0, c, ho, wo])
    # a NaN coordinate (a diverged model) still reaches the output, through a zero-weighted sum
    return out + (grid - safe).sum() * 0 if guard else out


def linear_resize_weights(size_in, size_out, align_corners=False, dtype=np.float32):
    """(size_out, size_in) weights of 1-D linear resizing. align_corners=False: half-pixel centres, output i
    samples the input at max((i + 0.5) * size_in / size_out - 0.5, 0); align_corners=True: the end pixels
    coincide, output i samples at i * (size_in - 1) / (size_out - 1). Each between its two neighbours.
    Computed in float64, returned as `dtype`."""
    i = np.arange(size_out, dtype=np.float64)
    if align_corners:
        src = i * ((size_in - 1) / (size_out - 1)) if size_out > 1 else np.zeros_like(i)
    else:
        src = np.maximum((i + 0.5) * (size_in / size_out) - 0.5, 0)
    low = np.minimum(np.floor(src).astype(np.int64), size_in - 1)
    high = np.minimum(low + 1, size_in - 1)
    frac = src - low
    weights = np.zeros((size_out, size_in), dtype=np.float64)
    np.add.at(weights, (np.arange(size_out), low), 1 - frac)
    np.add.at(weights, (np.arange(size_out), high), frac)
    return weights.astype(dtype)


def resize_bilinear(x, height, width, align_corners=False):
    """Bilinear resizing of (N, C, h, w) to (N, C, height, width), as F.interpolate(align_corners=...).

    Exported graphs compute it as two plain 2-D products with the interpolation weights: Paddle 3.3's
    oneDNN runtime rejects the interpolation op's attributes, and its batched matmul corrupts memory
    when a broadcast operand has one channel (the occlusion map) and two threads run it.
    """
    if paddle.in_dynamic_mode():
        return F.interpolate(x, size=[height, width], mode="bilinear", align_corners=align_corners)
    _, c, h, w = x.shape
    cols = paddle.assign(linear_resize_weights(w, width, align_corners).T.copy())    # (w, width)
    rows = paddle.assign(linear_resize_weights(h, height, align_corners).T.copy())   # (h, height)
    out = paddle.matmul(x.reshape([-1, w]), cols).reshape([-1, h, width]).transpose([0, 2, 1])
    out = paddle.matmul(out.reshape([-1, h]), rows).reshape([-1, c, width, height])
    return out.transpose([0, 1, 3, 2])


def resize_deformation(deformation, height, width, align_corners=False):
    """Bilinearly resize a (B, h, w, 2) deformation field to (B, height, width, 2)."""
    if deformation.shape[1] == height and deformation.shape[2] == width:
        return deformation
    field = resize_bilinear(deformation.transpose([0, 3, 1, 2]), height, width, align_corners)
    return field.transpose([0, 2, 3, 1])


BORDER_BLUR_TAPS = 9  # PaddleGAN's border correction blurs with a 9x9 Gaussian
# OpenCV's getGaussianKernel(n, sigma <= 0) returns these fixed tables (/ their sum) for n <= 9, not the sampled
# Gaussian its documentation describes (whose 9 taps differ by up to 2e-3); GaussianBlur(..., (9, 9), 0) blurs
# with the 9-tap row.
_OPENCV_SMALL_GAUSSIANS = {1: [1], 3: [64, 128, 64], 5: [16, 64, 96, 64, 16],
                           7: [8, 28, 56, 72, 56, 28, 8], 9: [4, 13, 30, 51, 60, 51, 30, 13, 4]}


def gaussian_taps(size, sigma=0.0):
    """The `size` taps (float64, summing to 1) of a 1-D Gaussian, as OpenCV's getGaussianKernel(size, sigma):
    sigma <= 0 gives OpenCV's fixed table for odd sizes up to 9 (9 taps: [4, 13, 30, 51, 60, 51, 30, 13, 4] / 256),
    otherwise the sampled Gaussian (sigma <= 0 then picks 0.3 * ((size - 1) / 2 - 1) + 0.8)."""
    if sigma <= 0 and size in _OPENCV_SMALL_GAUSSIANS:
        taps = np.asarray(_OPENCV_SMALL_GAUSSIANS[size], np.float64)
        return taps / taps.sum()
    if sigma <= 0:
        sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    d = np.arange(size, dtype=np.float64) - (size - 1) / 2
    taps = np.exp(-d * d / (2 * sigma * sigma))
    return taps / taps.sum()


def border_interior(height, width, band):
    """(H, W) float32: 0 in a frame `band` pixels wide along every edge, 1 inside it."""
    inside = np.zeros((height, width), np.float32)
    inside[band:height - band, band:width - band] = 1
    return inside


@functools.lru_cache(maxsize=32)
def _border_blend_weights(height, width, band, taps):
    def blurred(n):  # the interior indicator of one axis, blurred with zeros beyond the ends
        inside = np.zeros(n, np.float64)
        inside[band:n - band] = 1
        padded = np.pad(inside, taps // 2)
        return np.correlate(padded, gaussian_taps(taps), mode="valid")

    weights = np.outer(blurred(height), blurred(width)).astype(np.float32)
    weights.flags.writeable = False
    return weights


def border_blend_weights(height, width, band, taps=None):
    """(H, W) float32 weights of the deformation near the borders: border_interior blurred by a `taps` x `taps`
    Gaussian (gaussian_taps), zeros outside the frame: OpenCV's GaussianBlur(border_interior(...), (taps, taps), 0,
    borderType=BORDER_ISOLATED), PaddleGAN's mask (BORDER_ISOLATED alone pads with zeros), to the bit in the tests.
    Indicator and kernel are separable, so the 2-D blur is the outer product of two 1-D ones.
    taps: the kernel's size, BORDER_BLUR_TAPS (PaddleGAN's 9) unless given."""
    # no module constant as a default value: graph export rewrites this function and loses them
    taps = BORDER_BLUR_TAPS if taps is None else taps
    return _border_blend_weights(int(height), int(width), int(band), int(taps))


def _constant_like(array, like):
    """A float32 numpy constant as a tensor of `like`'s dtype (an assign op in an exported graph)."""
    tensor = paddle.assign(np.ascontiguousarray(array, dtype=np.float32))
    return tensor if tensor.dtype == like.dtype else tensor.astype(like.dtype)


def blend_border_to_identity(deformation, band):
    """PaddleGAN's border correction of a sampling grid (B, H, W, 2): w * deformation + (1 - w) * identity with
    w = border_blend_weights(H, W, band), so that within about `band` pixels of an edge the grid samples where it
    stands instead of pulling content (or the zeros beyond the frame) in from elsewhere."""
    h, w = deformation.shape[1], deformation.shape[2]
    weights = _constant_like(border_blend_weights(h, w, band), deformation).reshape([1, h, w, 1])
    identity = make_coordinate_grid(h, w, deformation.dtype).reshape([1, h, w, 2])
    return weights * deformation + (1 - weights) * identity


def fill_border(x, band, value=1.0):
    """`x` (B, C, H, W) with a frame `band` pixels wide along every edge set to `value` (PaddleGAN's border
    correction of the occlusion map: the borders are never treated as occluded). Written as a product and a sum
    with a constant 0/1 interior mask rather than slice assignment, so that exported graphs keep it."""
    h, w = x.shape[2], x.shape[3]
    inside = _constant_like(border_interior(h, w, band), x).reshape([1, 1, h, w])
    return x * inside + (1 - inside) * value


def convex_hull_area(points):
    """Area of the convex hull of 2-D points (K, 2) (numpy); 0 for degenerate sets."""
    from scipy.spatial import ConvexHull
    from scipy.spatial import QhullError
    try:
        return float(ConvexHull(np.asarray(points, dtype=np.float64)).volume)
    except (QhullError, ValueError):
        return 0.0


def movement_scale(kp_source_value, kp_driving_initial_value):
    """sqrt(area(source hull) / area(initial driving hull)) of the first item (adapt movement scale).

    Arguments are numpy arrays or tensors of shape (B, K, 2); returns a python float.
    """
    src = np.asarray(kp_source_value)[0]
    drv = np.asarray(kp_driving_initial_value)[0]
    src_area, drv_area = convex_hull_area(src), convex_hull_area(drv)
    if drv_area <= 0 or src_area <= 0:
        return 1.0
    return float(np.sqrt(src_area) / np.sqrt(drv_area))


def normalize_shape(points):
    """Keypoints (K, 2) centred on their mean and divided by sqrt(convex hull area): pose-free shape.

    The original demo compares face landmarks this way to pick the driving frame closest to the
    source (`--find_best_frame`); here the model's own keypoints play the landmarks' role.
    """
    points = np.asarray(points, dtype=np.float64)
    centred = points - points.mean(axis=0)
    area = convex_hull_area(points)
    return centred / np.sqrt(area) if area > 0 else centred


def shape_distance(points_a, points_b):
    """Sum of squared differences between the normalised shapes of two keypoint sets (K, 2)."""
    return float(((normalize_shape(points_a) - normalize_shape(points_b)) ** 2).sum())


def normalize_kp(kp_source, kp_driving, kp_driving_initial, use_relative_movement=False,
                 use_relative_jacobian=False, scale=1.0):
    """Transfer driving motion onto the source keypoints (paper, Sec. 3.3 "relative motion transfer").

    Relative movement: p_S + scale * (p_D - p_D1). Relative jacobian: (J_D J_D1^-1) J_S.
    Absolute (both False): the driving keypoints as they are. `scale` comes from
    :func:`movement_scale` when adapting the movement scale, else 1.
    """
    kp_new = dict(kp_driving)
    if use_relative_movement:
        diff = (kp_driving["value"] - kp_driving_initial["value"]) * scale
        kp_new["value"] = diff + kp_source["value"]
        if use_relative_jacobian and "jacobian" in kp_driving:
            jac_diff = paddle.matmul(kp_driving["jacobian"], inverse_2x2(kp_driving_initial["jacobian"]))
            kp_new["jacobian"] = paddle.matmul(jac_diff, kp_source["jacobian"])
    return kp_new


def fomm_tps_kernel(coords, control_points):
    """phi(z, c_p) = r^2 log(r + 1e-6) with r = |z - c_p|_1: the first order model's random TPS.

    coords (B or 1, N, 2), control_points (..., 2) flattened to P points -> (B or 1, N, P).
    """
    distances = paddle.abs(coords.unsqueeze(2) - control_points.reshape([1, 1, -1, 2])).sum(-1)
    return distances ** 2 * paddle.log(distances + 1e-6)


def thin_plate_kernel(coords, control_points):
    """The thin-plate spline's radial basis U(r) = r^2 log r^2 (as r^2 log(r^2 + 1e-9)), r = |z - c_p|_2:
    TPSMM's (paper, Eq. 2; also its random equivariance transform). Shapes as :func:`fomm_tps_kernel`."""
    squared = ((coords.unsqueeze(2) - control_points.reshape([1, 1, -1, 2])) ** 2).sum(-1)
    return squared * paddle.log(add_epsilon(squared, 1e-9))


def relative_control_points(kp_source, kp_driving, kp_driving_initial, scale=1.0):
    """TPSMM's relative motion transfer (its demo's `relative_kp`): {'fg_kp': p_S + scale * (p_D - p_D1)}.

    `scale` is :func:`movement_scale` of the source and initial driving points (the original always adapts it).
    """
    return {"fg_kp": (kp_driving["fg_kp"] - kp_driving_initial["fg_kp"]) * scale + kp_source["fg_kp"]}


def spline_linear_motion(points_initial, points, points_per_transform=5, ridge=1e-4):
    """L_k, the linear part of the least-squares affine map A_k(z) = L_k (z - mean p_D1) + mean p_D taking the
    control points of the k-th thin-plate spline at the reference frame (p_D1) to where they are now (p_D).

    numpy arrays (B, K*n, 2) with n = `points_per_transform` -> (B, K, 2, 2), each L_k acting on column vectors.
    L_k^T = (C + ridge I)^-1 (X^T Y + ridge I), with X, Y the centred p_D1, p_D of the spline and C = X^T X: the
    ridge pulls L_k to the identity where a spline's points have collapsed (C near 0) and barely moves it
    where they spread (five points over an eye, 0.2 wide in [-1, 1] coordinates, give C of about 2e-2).
    """
    batch = max(points_initial.shape[0], points.shape[0])
    shape = (batch, -1, points_per_transform, 2)
    x = np.broadcast_to(points_initial, (batch,) + points_initial.shape[1:]).reshape(shape).astype(np.float64)
    y = np.broadcast_to(points, (batch,) + points.shape[1:]).reshape(shape).astype(np.float64)
    x = x - x.mean(axis=2, keepdims=True)
    y = y - y.mean(axis=2, keepdims=True)
    pull = ridge * np.eye(2)
    covariance = np.swapaxes(x, 2, 3) @ x + pull
    cross = np.swapaxes(x, 2, 3) @ y + pull
    return np.swapaxes(np.linalg.solve(covariance, cross), 2, 3)


def affine_relative_control_points(kp_source, kp_driving, kp_driving_initial, points_per_transform=5):
    """Relative motion through each spline's affine motion: p'_S = p_D + L_k (p_S - p_D1).

    TPSMM's relative transfer (:func:`relative_control_points`) is p_D + (p_S - p_D1) with a scalar scale on the
    motion: every source point moves by the driving point's displacement, so where the driving face turns,
    grows or shrinks, a source point away from its driving counterpart gets the displacement of another place
    of the face. Here the offset p_S - p_D1 is carried by L_k (:func:`spline_linear_motion`), the linear part of
    the k-th spline's motion since the reference frame: the first-order transfer of the FOMM paper (Sec. 3.3,
    the driving jacobian J_D J_D1^-1 applied around the source keypoints), with each spline's group of
    control points standing for the jacobian TPSMM does not predict. A translation moves the source's points as
    relative motion does; a rotation or scaling turns or scales them about the driving face; with the
    source at the reference pose (p_S = p_D1) the result is p_D. Dicts {'fg_kp': numpy (B, K*n, 2)};
    the source and initial points may have batch 1.
    """
    source, driving, initial = kp_source["fg_kp"], kp_driving["fg_kp"], kp_driving_initial["fg_kp"]
    linear = spline_linear_motion(initial, driving, points_per_transform)
    batch = linear.shape[0]
    offset = np.broadcast_to(source - initial, (batch,) + source.shape[1:]).reshape(
        (batch, -1, points_per_transform, 2, 1))
    moved = (linear[:, :, None] @ offset)[..., 0].reshape((batch, -1, 2))
    return {"fg_kp": (driving + moved).astype(driving.dtype)}


def tps_warp_coordinates(coords, theta, control_points=None, control_params=None, kernel=fomm_tps_kernel):
    """The random equivariance transform T(z) = A z + b + sum_p w_p phi(z, c_p) (FOMM paper, Sec. 3.4).

    A thin-plate-spline on top of an affine map; `kernel` is phi (:func:`fomm_tps_kernel`, the L1 form of
    the first order model, or :func:`thin_plate_kernel`, TPSMM's). coords: (B or 1, N, 2); theta: (B, 2, 3);
    control_points: (1, P, P, 2) or (P*P, 2); control_params: (B, 1, P*P). Returns (B, N, 2).
    """
    th = theta.unsqueeze(1)
    warped = paddle.matmul(th[:, :, :, :2], coords.unsqueeze(-1)) + th[:, :, :, 2:]
    warped = warped.squeeze(-1)
    if control_params is None:
        return warped
    result = kernel(coords, control_points) * control_params
    return warped + result.sum(axis=2).reshape([theta.shape[0], coords.shape[1], 1])


def tps_fit(kp_driving, kp_source, regularization=0.01):
    """Thin-plate splines T_k with T_k(p^D_kn) ~ p^S_kn for each group of control points (TPSMM paper, Eq. 2).

    kp_driving, kp_source: (B, G, n, 2). Solves [[K, P], [P^T, 0]] + reg*I  times [w; a] = [p^S; 0] with
    K_ij = U(|p^D_i - p^D_j|), P = [p^D 1], and returns (theta (B, G, 2, 3): the affine part a^T,
    control_points = kp_driving, control_params (B, G, n, 2): w). The original adds `regularization` * I
    to the whole system and inverts it with torch.inverse; this is the same computation.
    """
    b, g, n = kp_driving.shape[0], kp_driving.shape[1], kp_driving.shape[2]
    diff = kp_driving.unsqueeze(3) - kp_driving.unsqueeze(2)
    squared = (diff * diff).sum(-1)
    # The original squares a Euclidean norm; sqrt(s)^2 differs from s in the last bit. Forward takes that
    # value (s + (sqrt(s)^2 - s) is exact), the gradient is that of s, which stays finite at r = 0 as
    # PyTorch's norm gradient does (sqrt's would be inf * 0 there).
    squared = squared + (paddle.sqrt(squared.detach()) ** 2 - squared.detach())
    k = squared * paddle.log(add_epsilon(squared, 1e-9))
    ones = paddle.ones_like(kp_driving[..., :1])
    p = paddle.concat([kp_driving, ones], axis=3)                                   # (B, G, n, 3)
    corner = paddle.zeros_like(p[:, :, :3, :])                                     # (B, G, 3, 3); n >= 3
    upper = paddle.concat([k, p], axis=3)                                          # (B, G, n, n+3)
    lower = paddle.concat([p.transpose([0, 1, 3, 2]), corner], axis=3)             # (B, G, 3, n+3)
    system = paddle.concat([upper, lower], axis=2)
    system = system + regularization * paddle.eye(n + 3, dtype=system.dtype)
    rhs = paddle.concat([kp_source, paddle.zeros_like(kp_source[:, :, :3, :])], axis=2)  # (B, G, n+3, 2)
    param = paddle.matmul(matrix_inverse(system), rhs)
    theta = param[:, :, n:, :].transpose([0, 1, 3, 2])
    return theta, kp_driving, param[:, :, :n, :]


def tps_warp(coords, theta, control_points, control_params):
    """T_k(z) = a_k [z; 1] + sum_n w_kn U(|z - p^D_kn|) for every group k (TPSMM paper, Eq. 2).

    coords: (1, N, 2); theta (B, G, 2, 3), control_points (B, G, n, 2), control_params (B, G, n, 2)
    from :func:`tps_fit`. Returns (B, G, N, 2).
    """
    transformed = paddle.matmul(theta[:, :, :, :2], coords.transpose([0, 2, 1])) + theta[:, :, :, 2:]
    distances = coords.unsqueeze([1, 2]) - control_points.unsqueeze(3)              # (B, G, n, N, 2)
    squared = (distances ** 2).sum(-1)
    basis = squared * paddle.log(add_epsilon(squared, 1e-9))
    return transformed.transpose([0, 1, 3, 2]) + paddle.matmul(basis.transpose([0, 1, 3, 2]), control_params)


def to_homogeneous(coords):
    """(..., 2) -> (..., 3) with a trailing 1."""
    return paddle.concat([coords, paddle.ones_like(coords[..., :1])], axis=-1)


def from_homogeneous(coords):
    """(..., 3) -> (..., 2), divided by the last coordinate."""
    return coords[..., :2] / coords[..., 2:3]


class RandomTransform:
    """A random affine + TPS warp of a batch, used for the equivariance losses (paper, eqs. 10-11).

    Holds `theta` (B, 2, 3), and for the TPS part `control_points` (1, P, P, 2) and
    `control_params` (B, 1, P*P). Draw one with :meth:`sample`, or pass recorded tensors.
    """

    def __init__(self, theta, control_points=None, control_params=None, align_corners=True, kernel=fomm_tps_kernel):
        self.theta = theta
        self.control_points = control_points
        self.control_params = control_params
        self.align_corners = align_corners
        self.kernel = kernel

    @classmethod
    def sample(cls, batch_size, sigma_affine, sigma_tps=None, points_tps=None, align_corners=True,
               kernel=fomm_tps_kernel):
        """theta = [I | 0] + N(0, sigma_affine^2); TPS weights ~ N(0, sigma_tps^2) on a PxP grid."""
        theta = paddle.randn([batch_size, 2, 3]) * sigma_affine + paddle.eye(2, 3).unsqueeze(0)
        if sigma_tps is None or points_tps is None:
            return cls(theta, align_corners=align_corners, kernel=kernel)
        control_points = make_coordinate_grid(points_tps, points_tps).unsqueeze(0)
        control_params = paddle.randn([batch_size, 1, points_tps ** 2]) * sigma_tps
        return cls(theta, control_points, control_params, align_corners, kernel)

    def warp_coordinates(self, coords):
        """T(z) for coordinates (B or 1, N, 2)."""
        return tps_warp_coordinates(coords, self.theta, self.control_points, self.control_params, self.kernel)

    def jacobian(self, coords):
        """dT/dz at `coords` (B, N, 2) -> (B, N, 2, 2), by autograd and differentiable (create_graph)."""
        warped = self.warp_coordinates(coords)
        grad_x = paddle.grad(warped[..., 0].sum(), coords, create_graph=True)[0]
        grad_y = paddle.grad(warped[..., 1].sum(), coords, create_graph=True)[0]
        return paddle.stack([grad_x, grad_y], axis=-2)

    def transform_frame(self, frame):
        """Warp images (B, C, H, W) by T (reflection padding), giving the transformed frame."""
        h, w = frame.shape[2], frame.shape[3]
        grid = make_coordinate_grid(h, w, frame.dtype).reshape([1, h * w, 2])
        grid = self.warp_coordinates(grid).reshape([frame.shape[0], h, w, 2])
        return grid_sample(frame, grid, self.align_corners, padding_mode="reflection")
