"""Multi-scale patch discriminator (pix2pixHD-style, used with LSGAN in the paper's Sec. 4)."""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppgan.models.builder import DISCRIMINATORS
from ppgan.modules.antialias import scale_key, scale_name
from ppgan.modules.blocks import InstanceNorm2d, SpectralNormConv2d, block_width
from ppgan.modules.geometry import kp2gaussian


class DiscriminatorBlock(nn.Layer):
    """4x4 conv (optionally spectral-normalised), instance norm, LeakyReLU(0.2), optional 2x2 pooling."""

    def __init__(self, in_features, out_features, norm=False, kernel_size=4, pool=False, sn=False):
        super().__init__()
        self.conv = (SpectralNormConv2d(in_features, out_features, kernel_size) if sn
                     else nn.Conv2D(in_features, out_features, kernel_size))
        self.norm = InstanceNorm2d(out_features) if norm else None
        self.pool = pool

    def forward(self, x):
        out = self.conv(x)
        if self.norm is not None:
            out = self.norm(out)
        out = F.leaky_relu(out, 0.2)
        if self.pool:
            out = F.avg_pool2d(out, kernel_size=2, stride=2)
        return out


class Discriminator(nn.Layer):
    """One scale: a stack of DiscriminatorBlock and a 1x1 conv to a patch prediction map.
    With `use_kp`, keypoint gaussians are concatenated to the image."""

    def __init__(self, num_channels=3, block_expansion=64, num_blocks=4, max_features=512, sn=False,
                 use_kp=False, num_kp=10, kp_variance=0.01):
        super().__init__()
        blocks = []
        for i in range(num_blocks):
            in_features = num_channels + num_kp * use_kp if i == 0 else block_width(block_expansion, max_features, i)
            blocks.append(DiscriminatorBlock(in_features, block_width(block_expansion, max_features, i + 1),
                                             norm=(i != 0), kernel_size=4, pool=(i != num_blocks - 1), sn=sn))
        self.down_blocks = nn.LayerList(blocks)
        last = block_width(block_expansion, max_features, num_blocks)
        self.conv = SpectralNormConv2d(last, 1, kernel_size=1) if sn else nn.Conv2D(last, 1, kernel_size=1)
        self.use_kp = use_kp
        self.kp_variance = kp_variance

    def forward(self, x, kp=None):
        """Returns (list of block feature maps, prediction map)."""
        out = x
        if self.use_kp:
            heatmap = kp2gaussian(kp["value"], x.shape[2:], self.kp_variance)
            out = paddle.concat([out, heatmap], axis=1)
        feature_maps = []
        for block in self.down_blocks:
            out = block(out)
            feature_maps.append(out)
        return feature_maps, self.conv(out)


@DISCRIMINATORS.register()
class MultiScaleDiscriminator(nn.Layer):
    """One Discriminator per scale of the image pyramid; input is {'prediction_<scale>': image}."""

    def __init__(self, scales=(1,), num_channels=3, block_expansion=64, num_blocks=4, max_features=512,
                 sn=False, use_kp=False, num_kp=10, kp_variance=0.01):
        super().__init__()
        self.scales = list(scales)
        self.discs = nn.LayerDict({
            scale_key(s): Discriminator(num_channels, block_expansion, num_blocks, max_features,
                                                           sn, use_kp, num_kp, kp_variance)
            for s in self.scales})

    def forward(self, pyramid, kp=None):
        """Returns {'feature_maps_<scale>': [...], 'prediction_map_<scale>': map} for every scale."""
        out = {}
        for key, disc in self.discs.items():
            scale = scale_name(key)
            feature_maps, prediction_map = disc(pyramid["prediction_" + scale], kp)
            out["feature_maps_" + scale] = feature_maps
            out["prediction_map_" + scale] = prediction_map
        return out
