"""Dense motion network: from sparse keypoint motions to a dense deformation (paper, Sec. 3.2)."""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .antialias import AntiAliasInterpolation2d
from .builder import BACKBONES, DENSE_MOTIONS
from .geometry import apply_jacobian, grid_sample, inverse_2x2, kp2gaussian, make_coordinate_grid


def sparse_motions(kp_driving, kp_source, height, width):
    """The K+1 candidate backward flows T_{S<-D} (eq. 4, first order): identity for the background,
    then T_k(z) = p_k^S + J_k (z - p_k^D), with J_k = J_k^S (J_k^D)^-1. Returns (B, K+1, H, W, 2)."""
    identity = make_coordinate_grid(height, width, kp_source["value"].dtype).reshape([1, 1, height, width, 2])
    coords = identity - kp_driving["value"].unsqueeze([2, 3])
    if "jacobian" in kp_driving and "jacobian" in kp_source:
        jacobian = paddle.matmul(kp_source["jacobian"], inverse_2x2(kp_driving["jacobian"]))
        coords = apply_jacobian(jacobian, coords)
    driving_to_source = coords + kp_source["value"].unsqueeze([2, 3])
    # broadcast by addition, not expand(): an exported graph's batch size is unknown until run time
    background = paddle.zeros_like(driving_to_source[:, :1]) + identity
    return paddle.concat([background, driving_to_source], axis=1)


def heatmap_representation(kp_driving, kp_source, height, width, kp_variance):
    """Difference of keypoint gaussians H_k(z) = G(p^D_k) - G(p^S_k) (eq. 6), with a zero map for
    the background first. Returns (B, K+1, 1, H, W)."""
    gaussian_driving = kp2gaussian(kp_driving["value"], (height, width), kp_variance)
    gaussian_source = kp2gaussian(kp_source["value"], (height, width), kp_variance)
    heatmap = gaussian_driving - gaussian_source
    zeros = paddle.zeros_like(heatmap[:, :1])
    return paddle.concat([zeros, heatmap], axis=1).unsqueeze(2)


@DENSE_MOTIONS.register()
class DenseMotionNetwork(nn.Layer):
    """Predicts the dense backward flow and the occlusion map from source image and keypoints.

    The source is warped by each of the K+1 sparse motions; with the heatmap differences this
    feeds a backbone whose output gives soft masks M_k (softmax over K+1) that combine the sparse
    motions into the dense flow T_hat (eq. 5), and optionally an occlusion map O_hat (sigmoid).
    """

    config_children = {"backbone": (BACKBONES, ("in_features",))}

    def __init__(self, backbone, num_kp=10, num_channels=3, estimate_occlusion_map=False, scale_factor=1,
                 kp_variance=0.01, align_corners=True):
        super().__init__()
        self.hourglass_in = (num_kp + 1) * (num_channels + 1)
        self.hourglass = BACKBONES.build(backbone, in_features=self.hourglass_in)
        self.mask = nn.Conv2D(self.hourglass.out_filters, num_kp + 1, kernel_size=7, padding=3)
        self.occlusion = (nn.Conv2D(self.hourglass.out_filters, 1, kernel_size=7, padding=3)
                          if estimate_occlusion_map else None)
        self.num_kp = num_kp
        self.scale_factor = scale_factor
        self.kp_variance = kp_variance
        self.align_corners = align_corners
        self.down = AntiAliasInterpolation2d(num_channels, scale_factor) if scale_factor != 1 else None

    def deform_source(self, source_image, motions):
        """Warp the source by every sparse motion: (B, C, H, W), (B, K+1, H, W, 2) -> (B, K+1, C, H, W)."""
        b, c, h, w = source_image.shape
        k1 = self.num_kp + 1
        repeated = source_image.unsqueeze(1).expand([b, k1, c, h, w]).reshape([-1, c, h, w])
        deformed = grid_sample(repeated, motions.reshape([-1, h, w, 2]), self.align_corners)
        return deformed.reshape([-1, k1, c, h, w])

    def forward(self, source_image, kp_driving, kp_source):
        """Returns {'sparse_deformed', 'mask', 'deformation' (B, h, w, 2), 'occlusion_map'}."""
        if self.down is not None:
            source_image = self.down(source_image)
        h, w = source_image.shape[2], source_image.shape[3]
        heatmap = heatmap_representation(kp_driving, kp_source, h, w, self.kp_variance)
        motions = sparse_motions(kp_driving, kp_source, h, w)
        deformed = self.deform_source(source_image, motions)
        out = {"sparse_deformed": deformed}
        # explicit channel count: with a run-time batch size Paddle 2.6 cannot infer it in an exported graph
        features = paddle.concat([heatmap, deformed], axis=2).reshape([0, self.hourglass_in, h, w])
        prediction = self.hourglass(features)
        mask = F.softmax(self.mask(prediction), axis=1)
        out["mask"] = mask
        deformation = (motions * mask.unsqueeze(-1)).sum(axis=1)
        out["deformation"] = deformation
        if self.occlusion is not None:
            out["occlusion_map"] = F.sigmoid(self.occlusion(prediction))
        return out
