"""Unsupervised keypoint detectors: the first order model's heatmaps (FOMM paper, Sec. 3.1 and 3.2) and
the thin-plate spline model's regressed control points."""
import paddle.nn as nn
import paddle.nn.functional as F

from .antialias import AntiAliasInterpolation2d
from .builder import BACKBONES, KP_DETECTORS
from .geometry import heatmap_to_jacobians, heatmap_to_keypoints


@KP_DETECTORS.register()
class KPDetector(nn.Layer):
    """Predicts K keypoints and their local jacobians from an image.

    A backbone maps the (optionally anti-alias downsampled) image to a feature map; a 7x7 conv
    gives K heatmaps, softmax with `temperature` makes them distributions, and each keypoint is
    the heatmap's expectation over the coordinate grid. Jacobians (eq. 4's J_k) are the
    heatmap-weighted averages of a 4-channel map per keypoint (or one map shared by all,
    `single_jacobian_map`); that head starts at the identity (zero weight, bias [1, 0, 0, 1]).
    """

    config_children = {"backbone": (BACKBONES, ("in_features",))}

    def __init__(self, backbone, num_kp=10, num_channels=3, temperature=0.1, estimate_jacobian=False,
                 scale_factor=1, single_jacobian_map=False, pad=0):
        super().__init__()
        self.predictor = BACKBONES.build(backbone, in_features=num_channels)
        self.num_kp = num_kp
        self.kp = nn.Conv2D(self.predictor.out_filters, num_kp, kernel_size=7, padding=pad)
        if estimate_jacobian:
            self.num_jacobian_maps = 1 if single_jacobian_map else num_kp
            self.jacobian = nn.Conv2D(
                self.predictor.out_filters, 4 * self.num_jacobian_maps, kernel_size=7, padding=pad,
                weight_attr=nn.initializer.Constant(0.0),
                bias_attr=nn.initializer.Assign([1.0, 0.0, 0.0, 1.0] * self.num_jacobian_maps))
        else:
            self.jacobian = None
        self.temperature = temperature
        self.scale_factor = scale_factor
        self.down = AntiAliasInterpolation2d(num_channels, scale_factor) if scale_factor != 1 else None

    @property
    def keypoint_names(self):
        """The keys of forward's output, in the order exported graphs return them."""
        return ("value", "jacobian") if self.jacobian is not None else ("value",)

    def forward(self, x):
        """x: (B, C, H, W) in [0, 1] -> {'value': (B, K, 2), 'jacobian': (B, K, 2, 2)}."""
        if self.down is not None:
            x = self.down(x)
        feature_map = self.predictor(x)
        prediction = self.kp(feature_map)
        h, w = prediction.shape[2], prediction.shape[3]
        heatmap = F.softmax(prediction.reshape([0, self.num_kp, -1]) / self.temperature, axis=2)
        heatmap = heatmap.reshape([0, self.num_kp, h, w])
        out = {"value": heatmap_to_keypoints(heatmap)}
        if self.jacobian is not None:
            jacobian_map = self.jacobian(feature_map).reshape([0, self.num_jacobian_maps, 4, h, w])
            out["jacobian"] = heatmap_to_jacobians(heatmap, jacobian_map)
        return out


@KP_DETECTORS.register()
class TPSKPDetector(nn.Layer):
    """TPSMM's keypoint detector: K*5 control points (K thin-plate splines of 5 points each) regressed
    by a backbone over the whole frame (TPSMM paper, Sec. 3.1), squashed into [-1, 1] by 2*sigmoid - 1.

    The backbone (ResNet18) gets the frame's channels and a K*5*2-wide output layer; its attribute is
    the original's `fg_encoder`.
    """

    config_children = {"backbone": (BACKBONES, ("in_features", "num_outputs"))}
    keypoint_names = ("fg_kp",)

    def __init__(self, backbone, num_tps=10, num_channels=3):
        super().__init__()
        self.num_tps = num_tps
        self.fg_encoder = BACKBONES.build(backbone, in_features=num_channels, num_outputs=num_tps * 5 * 2)

    def forward(self, image):
        """image: (B, C, H, W) in [0, 1] -> {'fg_kp': (B, K*5, 2)} in [-1, 1] (x, y)."""
        fg_kp = F.sigmoid(self.fg_encoder(image)) * 2 - 1
        return {"fg_kp": fg_kp.reshape([0, self.num_tps * 5, 2])}
