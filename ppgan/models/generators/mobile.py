"""PaddleGAN's mobile occlusion-aware generator (its `mobile_net=True`): the generator of the FOMM paper's Sec. 3.3
with depthwise-separable blocks (ppgan.modules.mobile)."""
import paddle.nn as nn

from ppgan.models.builder import GENERATORS
from ppgan.modules.blocks import block_width, SameBlock2d
from ppgan.modules.mobile import MobileDownBlock2d, MobileResBlock2d, MobileUpBlock2d, conv_stack

from .occlusion_aware import OcclusionAwareGenerator


@GENERATORS.register()
class MobileOcclusionAwareGenerator(OcclusionAwareGenerator):
    """The occlusion-aware generator (eq. 8: xi' = O_hat * f_w(xi, T_hat), then decoding) with PaddleGAN's mobile
    layers, parameter names as PaddleGAN's: `first` is three bias-free 3x3 conv blocks (channels -> channels ->
    channels -> block_expansion) in place of one 7x7, the down / up blocks are MobileDownBlock2d / MobileUpBlock2d,
    the bottleneck holds MobileResBlock2d, and `final` is three 3x3 convs with ReLUs between them. Use it with a
    MobileDenseMotionNetwork (`dense_motion`).

    Warping, occlusion, encoding and decoding are the parent's; with `border_correction` the occlusion map is left
    alone in the border band, as PaddleGAN's mobile generator does.
    """

    fills_occlusion_border = False

    def __init__(self, num_kp=10, num_channels=3, block_expansion=64, max_features=512, num_down_blocks=2,
                 num_bottleneck_blocks=6, estimate_occlusion_map=False, dense_motion=None, align_corners=True,
                 border_correction=0):
        # the parent builds its full-size layers, replaced below (its bottleneck, the largest, is not built at all)
        super().__init__(num_kp=num_kp, num_channels=num_channels, block_expansion=block_expansion,
                         max_features=max_features, num_down_blocks=num_down_blocks, num_bottleneck_blocks=0,
                         estimate_occlusion_map=estimate_occlusion_map, dense_motion=dense_motion,
                         align_corners=align_corners, border_correction=border_correction)
        self.first = nn.Sequential(*[
            SameBlock2d(num_channels, block_expansion if i == 2 else num_channels, kernel_size=3, padding=1, bias=False)
            for i in range(3)])
        self.down_blocks = nn.LayerList([
            MobileDownBlock2d(block_width(block_expansion, max_features, i),
                              block_width(block_expansion, max_features, i + 1)) for i in range(num_down_blocks)])
        self.up_blocks = nn.LayerList([
            MobileUpBlock2d(block_width(block_expansion, max_features, num_down_blocks - i),
                            block_width(block_expansion, max_features, num_down_blocks - i - 1))
            for i in range(num_down_blocks)])
        bottleneck_features = block_width(block_expansion, max_features, num_down_blocks)
        self.bottleneck = nn.Sequential(*[
            ("r%d" % i, MobileResBlock2d(bottleneck_features)) for i in range(num_bottleneck_blocks)])
        self.final = conv_stack(block_expansion, num_channels, 1, relu=True)
