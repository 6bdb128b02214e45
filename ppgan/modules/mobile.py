"""PaddleGAN's mobile first order model: MobileNet-style blocks (depthwise-separable convolutions), the hourglass
built from them, and the keypoint detector and dense motion network with light heads.

The nets keep the first order model's computation (FOMM paper, Sec. 3: keypoints and local jacobians, eq. 4-6
sparse motions and heatmaps, eq. 5 dense motion, occlusion map) and change only the layers: a k x k conv becomes a
depthwise k x k conv and a pointwise 1x1 conv (each followed by BatchNorm), and the 7x7 output heads become three
3x3 convs. Parameter names are those of PaddleGAN's `mobile_net=True` nets, so its checkpoints load unchanged.
Built from config like the full nets: `MobileHourglass` (BACKBONES), `MobileKPDetector` (KP_DETECTORS),
`MobileDenseMotionNetwork` (DENSE_MOTIONS); the generator is ppgan.models.generators.mobile.
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .antialias import AntiAliasInterpolation2d
from .blocks import norm_layer, upsample_nearest_2x
from .builder import BACKBONES, DENSE_MOTIONS, KP_DETECTORS
from .dense_motion import DenseMotionNetwork
from .hourglass import Hourglass
from .keypoint_detector import KPDetector

# PaddleGAN's mobile nets blur with sigma 0.25 (a 3x3 kernel) before downsampling, whatever the scale
MOBILE_ANTIALIAS_SIGMA = 0.25


def _depthwise(features, kernel_size, padding):
    return nn.Conv2D(features, features, kernel_size, padding=padding, groups=features, bias_attr=False)


def _pointwise(in_features, out_features):
    return nn.Conv2D(in_features, out_features, 1, bias_attr=False)


class _SeparableConv(nn.Layer):
    """Depthwise conv, norm, ReLU; pointwise conv to `out_features`, norm, ReLU (a MobileNet block)."""

    def __init__(self, in_features, out_features, kernel_size=3, padding=1, norm="batch"):
        super().__init__()
        self.conv = _depthwise(in_features, kernel_size, padding)
        self.norm = norm_layer(norm, in_features)
        self.conv1 = _pointwise(in_features, out_features)
        self.norm1 = norm_layer(norm, out_features)

    def separable(self, x):
        out = F.relu(self.norm(self.conv(x)))
        return F.relu(self.norm1(self.conv1(out)))


class MobileDownBlock2d(_SeparableConv):
    """The separable convs, then 2x2 average pooling."""

    def forward(self, x):
        return F.avg_pool2d(self.separable(x), kernel_size=2, stride=2)


class MobileUpBlock2d(_SeparableConv):
    """Nearest-neighbour x2 upsampling, then the separable convs."""

    def forward(self, x):
        return self.separable(upsample_nearest_2x(x))


class MobileResBlock2d(nn.Layer):
    """Inverted residual block: x + norm(pw(relu(norm(dw(norm(pw(relu(norm(x))))))))), the pointwise convs
    widening to 2x the channels and back, the depthwise one k x k (MobileNetV2's expansion, linear bottleneck)."""

    def __init__(self, in_features, kernel_size=3, padding=1, norm="batch"):
        super().__init__()
        wide = 2 * in_features
        self.conv_pw = _pointwise(in_features, wide)
        self.conv_dw = _depthwise(wide, kernel_size, padding)
        self.conv_pw_linear = _pointwise(wide, in_features)
        self.norm1 = norm_layer(norm, in_features)
        self.norm_pw = norm_layer(norm, wide)
        self.norm_dw = norm_layer(norm, wide)
        self.norm_pw_linear = norm_layer(norm, in_features)

    def forward(self, x):
        out = self.norm_pw(self.conv_pw(F.relu(self.norm1(x))))
        out = F.relu(self.norm_dw(self.conv_dw(out)))
        return self.norm_pw_linear(self.conv_pw_linear(out)) + x


def conv_stack(in_features, out_features, padding, relu):
    """Three 3x3 convs (in -> in -> in -> out), with ReLUs between them when `relu`: PaddleGAN's mobile heads
    in place of one 7x7 conv (with padding 0 they shrink the map by 6 pixels, as the 7x7 does).
    Sequential indices are PaddleGAN's: 0, 1, 2 without ReLUs, 0, 2, 4 with them."""
    layers = []
    for i in range(3):
        layers.append(nn.Conv2D(in_features, in_features if i < 2 else out_features, 3, padding=padding))
        if relu and i < 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


@BACKBONES.register()
class MobileHourglass(Hourglass):
    """The hourglass (U-Net) with MobileDownBlock2d / MobileUpBlock2d: same widths and skips, separable convs."""

    down_block = MobileDownBlock2d
    up_block = MobileUpBlock2d


@KP_DETECTORS.register()
class MobileKPDetector(KPDetector):
    """The keypoint detector (FOMM paper, Sec. 3.1-3.2: heatmap expectations and eq. 4's jacobians J_k) with
    PaddleGAN's mobile heads: keypoint heatmaps and jacobian maps each from three 3x3 convs without activations
    (`conv_stack`), and a 3x3 anti-alias blur (`antialias_sigma`) before downsampling. Use it with a
    MobileHourglass backbone.

    The jacobian head starts at the identity as the full detector's does: its last conv has zero weights and bias
    [1, 0, 0, 1]. (PaddleGAN also zeroes the first two convs, which would stop every gradient but the last bias;
    its training re-initialises all convs anyway.)
    """

    def __init__(self, backbone, num_kp=10, num_channels=3, temperature=0.1, estimate_jacobian=False,
                 scale_factor=1, single_jacobian_map=False, pad=0, antialias_sigma=MOBILE_ANTIALIAS_SIGMA):
        super().__init__(backbone, num_kp=num_kp, num_channels=num_channels, temperature=temperature,
                         estimate_jacobian=estimate_jacobian, scale_factor=scale_factor,
                         single_jacobian_map=single_jacobian_map, pad=pad)
        width = self.predictor.out_filters
        self.kp = conv_stack(width, num_kp, pad, relu=False)
        if self.jacobian is not None:
            self.jacobian = conv_stack(width, 4 * self.num_jacobian_maps, pad, relu=False)
            last = self.jacobian[2]
            last.weight.set_value(paddle.zeros_like(last.weight))
            last.bias.set_value(paddle.to_tensor([1.0, 0.0, 0.0, 1.0] * self.num_jacobian_maps))
        if self.down is not None:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor, antialias_sigma)


@DENSE_MOTIONS.register()
class MobileDenseMotionNetwork(DenseMotionNetwork):
    """The dense motion network (FOMM paper, eq. 5-6, occlusion map of Sec. 3.2) with PaddleGAN's mobile heads:
    masks and occlusion map each from three 3x3 convs with ReLUs between them (`conv_stack`), and a 3x3
    anti-alias blur (`antialias_sigma`) before downsampling. Use it with a MobileHourglass backbone."""

    def __init__(self, backbone, num_kp=10, num_channels=3, estimate_occlusion_map=False, scale_factor=1,
                 kp_variance=0.01, align_corners=True, antialias_sigma=MOBILE_ANTIALIAS_SIGMA):
        super().__init__(backbone, num_kp=num_kp, num_channels=num_channels,
                         estimate_occlusion_map=estimate_occlusion_map, scale_factor=scale_factor,
                         kp_variance=kp_variance, align_corners=align_corners)
        width = self.hourglass.out_filters
        self.mask = conv_stack(width, num_kp + 1, 1, relu=True)
        if self.occlusion is not None:
            self.occlusion = conv_stack(width, 1, 1, relu=True)
        if self.down is not None:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor, antialias_sigma)
