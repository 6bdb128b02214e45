"""The hourglass (U-Net) backbone used by the keypoint detector and the dense motion network."""
import paddle
import paddle.nn as nn

from .blocks import block_width, DownBlock2d, UpBlock2d
from .builder import BACKBONES


class Encoder(nn.Layer):
    """Hourglass encoder: `num_blocks` down blocks (`block`, default DownBlock2d); returns every intermediate map."""

    def __init__(self, block_expansion, in_features, num_blocks=3, max_features=256, norm="batch", block=DownBlock2d):
        super().__init__()
        self.down_blocks = nn.LayerList([
            block(in_features if i == 0 else block_width(block_expansion, max_features, i),
                  block_width(block_expansion, max_features, i + 1), kernel_size=3, padding=1, norm=norm)
            for i in range(num_blocks)])

    def forward(self, x):
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class Decoder(nn.Layer):
    """Hourglass decoder: up blocks (`block`, default UpBlock2d), concatenating the encoder map of the same resolution.

    `out_channels[i]` is the width of the i-th up block's output after the concatenation, from the
    coarsest to the finest; the last is `out_filters`, the width of the full-resolution output.
    """

    def __init__(self, block_expansion, in_features, num_blocks=3, max_features=256, norm="batch", block=UpBlock2d):
        super().__init__()
        blocks, in_widths = [], []
        for i in reversed(range(num_blocks)):
            in_filters = (1 if i == num_blocks - 1 else 2) * block_width(block_expansion, max_features, i + 1)
            in_widths.append(in_filters)
            blocks.append(block(in_filters, block_width(block_expansion, max_features, i), kernel_size=3,
                                padding=1, norm=norm))
        self.up_blocks = nn.LayerList(blocks)
        self.out_filters = block_expansion + in_features
        self.out_channels = in_widths[1:] + [self.out_filters]

    def outputs(self, features):
        """Every up block's output (concatenated with its skip), coarsest first."""
        features = list(features)
        out = features.pop()
        outs = []
        for block in self.up_blocks:
            out = paddle.concat([block(out), features.pop()], axis=1)
            outs.append(out)
        return outs

    def forward(self, features):
        return self.outputs(features)[-1]


@BACKBONES.register()
class Hourglass(nn.Layer):
    """U-Net style hourglass mapping an image (B, in_features, H, W) to (B, out_filters, H, W).

    norm: 'batch' (the first order motion model) or 'instance' (the thin-plate spline motion model).
    A subclass changes the blocks through `down_block` and `up_block` (e.g. the mobile hourglass).
    """

    down_block = DownBlock2d
    up_block = UpBlock2d

    def __init__(self, in_features, block_expansion=32, num_blocks=3, max_features=256, norm="batch"):
        super().__init__()
        self.encoder = Encoder(block_expansion, in_features, num_blocks, max_features, norm, self.down_block)
        self.decoder = Decoder(block_expansion, in_features, num_blocks, max_features, norm, self.up_block)
        self.out_filters = self.decoder.out_filters
        self.out_channels = self.decoder.out_channels

    def features(self, x):
        """The decoder's output at every resolution, coarsest first (the last is forward's output)."""
        return self.decoder.outputs(self.encoder(x))

    def forward(self, x):
        return self.decoder(self.encoder(x))
