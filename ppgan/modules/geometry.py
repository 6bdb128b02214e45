"""Geometry of the first order motion model as small pure functions.

Coordinates are normalised to [-1, 1] with x first, as `grid_sample` expects; the corner pixel
centres sit at -1 and 1 (this matches `grid_sample(align_corners=True)`; see docs/conversion.md).
Keypoint dicts hold ``value`` (B, K, 2) and, with jacobians, ``jacobian`` (B, K, 2, 2).
"""
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
    """Keypoint locations as heatmap expectations, p_k = sum_z H_k(z) z; heatmap (B, K, H, W) -> (B, K, 2)."""
    h, w = heatmap.shape[2], heatmap.shape[3]
    grid = make_coordinate_grid(h, w, heatmap.dtype).reshape([1, 1, h, w, 2])
    return (heatmap.unsqueeze(-1) * grid).sum(axis=[2, 3])


def inverse_2x2(matrix):
    """Inverse of a batch of 2x2 matrices (..., 2, 2).

    LU-based like torch.inverse, so results are bitwise equal to the original's; a closed-form
    inverse differs by an ulp, which grid sampling near image borders amplifies to ~1e-5.
    """
    return paddle.linalg.inv(matrix)


def apply_jacobian(jacobian, coords):
    """Multiply per-keypoint 2x2 matrices into coordinate grids.

    jacobian: (B, K, 2, 2); coords: (B, K, H, W, 2) -> (B, K, H, W, 2), J @ z at every z.
    """
    j = jacobian.unsqueeze([2, 3])
    x, y = coords[..., 0], coords[..., 1]
    new_x = j[..., 0, 0] * x + j[..., 0, 1] * y
    new_y = j[..., 1, 0] * x + j[..., 1, 1] * y
    return paddle.stack([new_x, new_y], axis=-1)


def grid_sample(image, grid, align_corners, padding_mode="zeros"):
    """Bilinear sampling of `image` (N, C, H, W) at `grid` (N, Ho, Wo, 2); align_corners is explicit."""
    return F.grid_sample(image, grid, mode="bilinear", padding_mode=padding_mode,
                         align_corners=bool(align_corners))


def resize_deformation(deformation, height, width):
    """Bilinearly resize a (B, h, w, 2) deformation field to (B, height, width, 2)."""
    if deformation.shape[1] == height and deformation.shape[2] == width:
        return deformation
    field = deformation.transpose([0, 3, 1, 2])
    field = F.interpolate(field, size=[height, width], mode="bilinear", align_corners=False)
    return field.transpose([0, 2, 3, 1])


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
