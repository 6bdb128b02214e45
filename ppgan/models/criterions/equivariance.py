"""Equivariance constraints on keypoints and jacobians (paper, Sec. 3.4, eqs. 10 and 11)."""
import paddle

from ppgan.modules.geometry import inverse_2x2


def equivariance_value_loss(kp_driving, kp_transformed, transform, weight, key="value"):
    """w mean|p_D - T(p_T)|: keypoints of a warped frame, warped back, must match (eq. 10; TPSMM's L_eq).

    `key` names the points in the keypoint dicts: 'value' (first order model) or 'fg_kp' (TPSMM)."""
    warped = transform.warp_coordinates(kp_transformed[key])
    return weight * paddle.abs(kp_driving[key] - warped).mean()


def equivariance_jacobian_loss(kp_driving, kp_transformed, transform, weight):
    """w mean|I - J_D^-1 (dT/dz(p_T) J_T)| (eq. 11); dT/dz by autograd through T."""
    jacobian_transformed = paddle.matmul(transform.jacobian(kp_transformed["value"]), kp_transformed["jacobian"])
    value = paddle.matmul(inverse_2x2(kp_driving["jacobian"]), jacobian_transformed)
    eye = paddle.eye(2, dtype=value.dtype).reshape([1, 1, 2, 2])
    return weight * paddle.abs(eye - value).mean()
