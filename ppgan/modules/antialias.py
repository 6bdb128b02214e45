"""Anti-aliased downsampling and the image pyramid used by losses and the discriminator."""
import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F


def gaussian_kernel(scale, sigma=None):
    """The Gaussian blur applied before downsampling by `scale`: sigma = (1/scale - 1)/2 unless given,
    size 2*round(4 sigma)+1 (odd), normalised to sum 1. Returns the (size, size) float32 kernel."""
    if sigma is None:
        sigma = (1 / scale - 1) / 2
    size = 2 * round(sigma * 4) + 1
    grid = np.arange(size, dtype=np.float32)
    mean = (size - 1) / 2
    g = np.exp(-(grid - mean) ** 2 / (2 * sigma ** 2)).astype(np.float32)
    kernel = np.outer(g, g)
    return (kernel / kernel.sum()).astype(np.float32)


class AntiAliasInterpolation2d(nn.Layer):
    """Band-limited downsampling: Gaussian blur (depthwise conv) then keep every (1/scale)-th pixel.

    `sigma` replaces the blur's width (default (1/scale - 1)/2); PaddleGAN's mobile nets blur with 0.25 (3x3).
    """

    def __init__(self, channels, scale, sigma=None):
        super().__init__()
        self.scale = scale
        if scale == 1:
            return  # identity: no blur, no buffer (as the original's `down` modules are absent then)
        kernel = gaussian_kernel(scale, sigma)
        self.pad = kernel.shape[0] // 2  # zero padding that keeps the size before striding, as the original's F.pad
        weight = np.tile(kernel[None, None], (channels, 1, 1, 1))
        self.register_buffer("weight", paddle.to_tensor(weight))
        self.groups = channels
        self.step = int(1 / scale)

    def forward(self, x):
        if self.scale == 1.0:
            return x
        # blurring only the kept pixels (stride) equals blurring everything and then striding
        return F.conv2d(x, self.weight, stride=self.step, padding=self.pad, groups=self.groups)


def scale_key(scale):
    """Layer-dict key of a pyramid level: the original's name with '.' -> '-' ('1', '0-5', ...)."""
    return str(scale).replace(".", "-")


def scale_name(key):
    """The level's name in output keys ('prediction_0.5', ...) from its layer-dict key."""
    return key.replace("-", ".")


class ImagePyramide(nn.Layer):
    """Anti-aliased copies of an image at several scales: {'prediction_<scale>': image}."""

    def __init__(self, scales, num_channels):
        super().__init__()
        self.downs = nn.LayerDict({scale_key(s): AntiAliasInterpolation2d(num_channels, s)
                                   for s in scales})

    def forward(self, x):
        return {"prediction_" + scale_name(key): down(x) for key, down in self.downs.items()}
