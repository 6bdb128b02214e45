"""The occlusion-aware generator (paper, Sec. 3.3)."""
import paddle.nn as nn
import paddle.nn.functional as F

from ppgan.models.builder import GENERATORS
from ppgan.modules.blocks import block_width, DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d
from ppgan.modules.builder import DENSE_MOTIONS
from ppgan.modules.geometry import (blend_border_to_identity, fill_border, grid_sample, resize_bilinear,
                                    resize_deformation)
from ppgan.utils.errors import ConfigError

PADDLEGAN_BORDER = 5  # the band width of PaddleGAN's inference=True border correction (border_correction: true)


def border_band(border_correction):
    """The band width in pixels of the `border_correction` config value: an int >= 0 (0: off), or a bool (true:
    PaddleGAN's 5 pixels)."""
    if isinstance(border_correction, bool):
        return PADDLEGAN_BORDER if border_correction else 0
    if border_correction is None:
        return 0
    if not isinstance(border_correction, int) or border_correction < 0:
        raise ConfigError("expected a band width in pixels (an integer >= 0; 0 is off, PaddleGAN's is %d) or "
                          "true/false, got %r" % (PADDLEGAN_BORDER, border_correction), "border_correction")
    return border_correction


@GENERATORS.register()
class OcclusionAwareGenerator(nn.Layer):
    """Encodes the source, warps its features by the dense motion T_hat, multiplies them by the
    occlusion map O_hat (eq. 8: xi' = O_hat * f_w(xi, T_hat)), and decodes the driving frame.

    Without `dense_motion` the features are decoded unwarped (an auto-encoder).

    border_correction: PaddleGAN's `inference=True` border correction, a band width in pixels (0: off, the
    original's behaviour). Every warp blends its deformation into the identity near the edges
    (geometry.blend_border_to_identity), and the occlusion map is set to 1 in that band of the feature map
    (geometry.fill_border) when `fills_occlusion_border` (PaddleGAN's mobile generator leaves it alone).
    """

    fills_occlusion_border = True

    config_children = {"dense_motion": (DENSE_MOTIONS, ("num_kp", "num_channels", "estimate_occlusion_map",
                                                       "align_corners"))}

    def __init__(self, num_kp=10, num_channels=3, block_expansion=64, max_features=512, num_down_blocks=2,
                 num_bottleneck_blocks=6, estimate_occlusion_map=False, dense_motion=None, align_corners=True,
                 border_correction=0):
        super().__init__()
        self.border_correction = border_band(border_correction)
        self.dense_motion_network = None if dense_motion is None else DENSE_MOTIONS.build(
            dense_motion, num_kp=num_kp, num_channels=num_channels,
            estimate_occlusion_map=estimate_occlusion_map, align_corners=align_corners)
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=7, padding=3)
        self.down_blocks = nn.LayerList([
            DownBlock2d(block_width(block_expansion, max_features, i), block_width(block_expansion, max_features, i + 1),
                        kernel_size=3, padding=1) for i in range(num_down_blocks)])
        self.up_blocks = nn.LayerList([
            UpBlock2d(block_width(block_expansion, max_features, num_down_blocks - i),
                      block_width(block_expansion, max_features, num_down_blocks - i - 1), kernel_size=3, padding=1)
            for i in range(num_down_blocks)])
        bottleneck_features = block_width(block_expansion, max_features, num_down_blocks)
        self.bottleneck = nn.Sequential(*[
            ("r%d" % i, ResBlock2d(bottleneck_features, kernel_size=3, padding=1))
            for i in range(num_bottleneck_blocks)])
        self.final = nn.Conv2D(block_expansion, num_channels, kernel_size=7, padding=3)
        self.estimate_occlusion_map = estimate_occlusion_map
        self.num_channels = num_channels
        self.align_corners = align_corners

    def deform_input(self, inp, deformation):
        """Backward-warp `inp` by `deformation`, resized bilinearly to `inp`'s resolution."""
        deformation = resize_deformation(deformation, inp.shape[2], inp.shape[3])
        if self.border_correction:
            deformation = blend_border_to_identity(deformation, self.border_correction)
        return grid_sample(inp, deformation, self.align_corners)

    def encode(self, source_image):
        """Source features before warping (depend on the source image only)."""
        out = self.first(source_image)
        for block in self.down_blocks:
            out = block(out)
        return out

    def decode(self, features):
        """Bottleneck residual blocks and up-sampling decoder to an image in [0, 1]."""
        out = self.bottleneck(features)
        for block in self.up_blocks:
            out = block(out)
        return F.sigmoid(self.final(out))

    def warp_features(self, features, motion):
        """Warp encoded source features by the dense motion and mask them by its occlusion map (eq. 8)."""
        features = self.deform_input(features, motion["deformation"])
        if "occlusion_map" in motion:
            occlusion_map = motion["occlusion_map"]
            if occlusion_map.shape[2:] != features.shape[2:]:
                occlusion_map = resize_bilinear(occlusion_map, features.shape[2], features.shape[3])
            if self.border_correction and self.fills_occlusion_border:
                occlusion_map = fill_border(occlusion_map, self.border_correction)
            features = features * occlusion_map
        return features

    def animate_features(self, features, source_image, kp_driving, kp_source):
        """Encoded source features -> the decoder's input for the driving keypoints (nothing else computed)."""
        if self.dense_motion_network is None:
            return features
        motion = self.dense_motion_network(source_image=source_image, kp_driving=kp_driving, kp_source=kp_source)
        return self.warp_features(features, motion)

    def animate(self, features, source_image, kp_driving, kp_source):
        """Encoded source features -> the predicted frames for the driving keypoints (what animation runs)."""
        return self.decode(self.animate_features(features, source_image, kp_driving, kp_source))

    def forward(self, source_image, kp_driving, kp_source):
        """Returns {'prediction', 'deformed', 'mask', 'sparse_deformed', 'occlusion_map', 'deformation'}."""
        output = {}
        features = self.encode(source_image)
        if self.dense_motion_network is not None:
            motion = self.dense_motion_network(source_image=source_image, kp_driving=kp_driving, kp_source=kp_source)
            features = self.warp_features(features, motion)
            output.update(motion)
            output["deformed"] = self.deform_input(source_image, motion["deformation"])
        output["prediction"] = self.decode(features)
        return output
