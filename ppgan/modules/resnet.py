"""ResNet18 (He et al. 2016) as a registered backbone, with torchvision's architecture and parameter names
(`conv1`, `bn1`, `layer1.0.conv1`, ..., `layer2.0.downsample.0`, `fc`), so released checkpoints convert by name.

TPSMM's keypoint detector and background motion predictor are ResNet18s whose `fc` gives their outputs.
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from .blocks import batch_norm
from .builder import BACKBONES


def _conv(in_features, out_features, kernel_size, stride=1, padding=0):
    """A bias-free convolution, He-initialised for ReLU (torchvision's kaiming_normal_, fan_out)."""
    return nn.Conv2D(in_features, out_features, kernel_size, stride=stride, padding=padding, bias_attr=False,
                     weight_attr=nn.initializer.KaimingNormal(fan_in=out_features * kernel_size * kernel_size))


class BasicBlock(nn.Layer):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); the shortcut is a strided 1x1 conv + BN when the
    width or the resolution changes."""

    def __init__(self, in_features, out_features, stride=1):
        super().__init__()
        self.conv1 = _conv(in_features, out_features, 3, stride, 1)
        self.bn1 = batch_norm(out_features)
        self.conv2 = _conv(out_features, out_features, 3, 1, 1)
        self.bn2 = batch_norm(out_features)
        self.downsample = None
        if stride != 1 or in_features != out_features:
            self.downsample = nn.Sequential(_conv(in_features, out_features, 1, stride), batch_norm(out_features))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


@BACKBONES.register()
class ResNet18(nn.Layer):
    """ResNet18: (B, in_features, H, W) -> (B, num_outputs), global average pooling then the linear `fc`.

    in_features: input channels (3 for an image, 6 for the background predictor's source + driving pair).
    num_outputs: width of `fc`, set by the net that owns the backbone.
    block_expansion: width of the stem and of layer1, doubled by each later layer (torchvision's: 64; smaller
      values give a narrower, faster net, e.g. for the synthetic configs).
    """

    def __init__(self, in_features=3, num_outputs=1000, block_expansion=64):
        super().__init__()
        self.conv1 = _conv(in_features, block_expansion, 7, 2, 3)
        self.bn1 = batch_norm(block_expansion)
        widths = [block_expansion * 2 ** i for i in range(4)]
        layers = []
        previous = block_expansion
        for i, width in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(BasicBlock(previous, width, stride), BasicBlock(width, width)))
            previous = width
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.fc = nn.Linear(widths[-1], num_outputs)
        self.out_filters = num_outputs

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.max_pool2d(out, kernel_size=3, stride=2, padding=1)
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.fc(paddle.flatten(F.adaptive_avg_pool2d(out, 1), 1))
