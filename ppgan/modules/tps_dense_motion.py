"""TPSMM's dense motion network: K thin-plate-spline transforms and a background affine combined into
one optical flow, and occlusion masks at several resolutions (TPSMM paper, Sec. 3.2 and 3.3)."""
import math

import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .antialias import AntiAliasInterpolation2d
from .blocks import UpBlock2d
from .builder import BACKBONES, DENSE_MOTIONS
from .dense_motion import heatmap_representation
from .geometry import (add_epsilon, from_homogeneous, grid_sample, make_coordinate_grid, to_homogeneous, tps_fit,
                       tps_warp)

OCCLUSION_LEVELS = 4  # multi-resolution masks: one per inpainting-network level


def tps_transformations(kp_driving, kp_source, height, width, bg_param=None):
    """The K+1 backward flows (B, K+1, H, W, 2): the background first (identity, or the affine `bg_param`
    (B, 3, 3) applied to it), then the K thin-plate splines fitted from the driving to the source control
    points (Eq. 2). kp_*: {'fg_kp': (B, K*5, 2)}."""
    kp_1, kp_2 = kp_driving["fg_kp"], kp_source["fg_kp"]
    groups = kp_1.shape[1] // 5
    kp_1 = kp_1.reshape([0, groups, 5, 2])
    kp_2 = kp_2.reshape([0, groups, 5, 2])
    grid = make_coordinate_grid(height, width, kp_1.dtype).reshape([1, height * width, 2])
    splines = tps_warp(grid, *tps_fit(kp_1, kp_2)).reshape([0, groups, height, width, 2])
    identity = paddle.zeros_like(splines[:, :1]) + grid.reshape([1, 1, height, width, 2])
    if bg_param is not None:
        affine = bg_param.reshape([0, 1, 1, 1, 3, 3])
        identity = from_homogeneous(paddle.matmul(affine, to_homogeneous(identity).unsqueeze(-1)).squeeze(-1))
    return paddle.concat([identity, splines], axis=1)


def dropout_softmax(logits, p, draw=None):
    """Softmax over the K+1 contribution maps with each TPS map dropped with probability `p` (Eq. 7-8).

    The background (index 0) is never dropped. `draw` (B, K+1) in [0, 1) decides (kept where draw < 1 - p);
    None draws it. As in the original, the maps are not rescaled by 1/(1 - p): the original divides a tensor
    after its exponential was taken, which changes nothing.
    """
    if draw is None:
        draw = paddle.rand([logits.shape[0], logits.shape[1]], dtype=logits.dtype)
    keep = (draw < 1 - p).astype(logits.dtype)
    keep = paddle.concat([paddle.ones_like(keep[:, :1]), keep[:, 1:]], axis=1).unsqueeze([2, 3])
    shifted = logits - logits.max(axis=1, keepdim=True)
    exp = shifted.exp() * keep
    return exp / add_epsilon(exp.sum(axis=1, keepdim=True), 1e-6)


@DENSE_MOTIONS.register()
class TPSDenseMotionNetwork(nn.Layer):
    """Predicts the optical flow and the occlusion masks from the source image and the control points.

    The (downsampled) source is warped by each of the K+1 transforms; with the keypoint gaussian
    differences this feeds the hourglass, whose last output gives the contribution maps M_k (softmax over
    K+1; dropout softmax in training, Eq. 7-8) that blend the transforms into the flow (Eq. 6). With
    `multi_mask`, occlusion masks come at four resolutions: from the hourglass's last outputs and from
    up blocks above it up to the frame's size (Sec. 3.3); else one mask at the flow's resolution.
    """

    config_children = {"backbone": (BACKBONES, ("in_features",))}

    def __init__(self, backbone, num_tps=10, num_channels=3, multi_mask=True, scale_factor=0.25, kp_variance=0.01):
        super().__init__()
        self.num_tps = num_tps
        self.scale_factor = scale_factor
        self.kp_variance = kp_variance
        self.multi_mask = multi_mask
        self.hourglass_in = num_channels * (num_tps + 1) + num_tps * 5 + 1
        self.hourglass = BACKBONES.build(backbone, in_features=self.hourglass_in)
        widths = self.hourglass.out_channels
        self.maps = nn.Conv2D(widths[-1], num_tps + 1, kernel_size=7, padding=3)
        self.down = AntiAliasInterpolation2d(num_channels, scale_factor) if scale_factor != 1 else None
        if multi_mask:
            self.up_nums = int(round(math.log(1 / scale_factor, 2)))
            if (abs(2 ** self.up_nums * scale_factor - 1) > 1e-6 or not 0 <= self.up_nums <= OCCLUSION_LEVELS
                    or len(widths) < OCCLUSION_LEVELS - self.up_nums):
                raise ValueError("multi_mask needs 1/scale_factor = 2^n with n <= %d and an hourglass of at least "
                                 "%d blocks" % (OCCLUSION_LEVELS, OCCLUSION_LEVELS - self.up_nums))
            self.up = nn.LayerList([UpBlock2d(widths[-1] // 2 ** i, widths[-1] // 2 ** (i + 1), kernel_size=3,
                                              padding=1, norm="instance") for i in range(self.up_nums)])
            channels = widths[len(widths) - (OCCLUSION_LEVELS - self.up_nums):]
            channels += [widths[-1] // 2 ** (i + 1) for i in range(self.up_nums)]
        else:
            self.up_nums = 0
            channels = [widths[-1]]
        self.occlusion = nn.LayerList([nn.Conv2D(c, 1, kernel_size=7, padding=3) for c in channels])

    def deform_source(self, source_image, transformations):
        """The source warped by every transform: (B, C, H, W), (B, K+1, H, W, 2) -> (B, K+1, C, H, W)."""
        b, c, h, w = source_image.shape
        k1 = self.num_tps + 1
        repeated = source_image.unsqueeze(1).expand([b, k1, c, h, w]).reshape([-1, c, h, w])
        deformed = grid_sample(repeated, transformations.reshape([-1, h, w, 2]), True)
        return deformed.reshape([-1, k1, c, h, w])

    def occlusion_maps(self, features):
        """Sigmoid occlusion masks from the hourglass outputs (coarsest first), coarse to fine."""
        if not self.multi_mask:
            return [F.sigmoid(self.occlusion[0](features[-1]))]
        from_hourglass = OCCLUSION_LEVELS - self.up_nums
        maps = [F.sigmoid(self.occlusion[i](features[len(features) - from_hourglass + i]))
                for i in range(from_hourglass)]
        out = features[-1]
        for i, up in enumerate(self.up):
            out = up(out)
            maps.append(F.sigmoid(self.occlusion[from_hourglass + i](out)))
        return maps

    def forward(self, source_image, kp_driving, kp_source, bg_param=None, dropout_p=None, dropout_draw=None):
        """Returns {'deformed_source' (B, K+1, C, h, w), 'contribution_maps' (B, K+1, h, w),
        'deformation' (B, h, w, 2), 'occlusion_map': list of (B, 1, *, *) coarse to fine}.

        dropout_p (training; None: off) drops TPS transforms from the softmax with that probability, 0 included
        (then only the softmax's 1e-6 differs, as in the original); `dropout_draw` replays a draw.
        """
        if self.down is not None:
            source_image = self.down(source_image)
        h, w = source_image.shape[2], source_image.shape[3]
        heatmap = heatmap_representation({"value": kp_driving["fg_kp"]}, {"value": kp_source["fg_kp"]}, h, w,
                                         self.kp_variance).squeeze(2)
        transformations = tps_transformations(kp_driving, kp_source, h, w, bg_param)
        deformed = self.deform_source(source_image, transformations)
        features = paddle.concat([heatmap, deformed.reshape([0, -1, h, w])], axis=1)
        # explicit channel count: with a run-time batch size Paddle 2.6 cannot infer it in an exported graph
        features = self.hourglass.features(features.reshape([0, self.hourglass_in, h, w]))
        logits = self.maps(features[-1])
        if dropout_p is not None:
            contribution_maps = dropout_softmax(logits, dropout_p, dropout_draw)
        else:
            contribution_maps = F.softmax(logits, axis=1)
        deformation = (transformations * contribution_maps.unsqueeze(-1)).sum(axis=1)
        return {"deformed_source": deformed, "contribution_maps": contribution_maps, "deformation": deformation,
                "occlusion_map": self.occlusion_maps(features)}
