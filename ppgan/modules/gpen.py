"""GPEN (Yang et al., "GAN Prior Embedded Network for Blind Face Restoration in the Wild", CVPR 2021): a face
restorer made of a convolutional encoder and a StyleGAN2 generator used as a learned prior of faces.

The encoder maps a degraded face x to a latent code z (its last 4x4 features through a linear layer) and keeps its
feature map at every resolution; the generator (StyleGAN2's mapping network and synthesis network) turns z into a
face, and each of its layers at resolution r receives the encoder's features at r where StyleGAN feeds noise,
appended as further channels (the paper's Fig. 2: the "noise" inputs carry the face's structure, the latent code its
global style). Parameter names and layouts are those of PaddleGAN's GPEN, so that its released GPEN-512 loads
unchanged; `narrow` scales every width for small test networks.
"""
import math

import numpy as np
import paddle
import paddle.nn as nn

from .stylegan2 import ConstantInput, ConvLayer, EqualLinear, PixelNorm, StyledConv, ToRGB


def gpen_channels(size, channel_multiplier=2, narrow=1.0):
    """Feature width at each resolution from 4 to `size`: StyleGAN2's table, times `narrow`."""
    base = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
            256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
    channels = {side: int(width * narrow) for side, width in base.items() if side <= size}
    if min(channels.values()) < 1:
        raise ValueError("channel_multiplier=%r, narrow=%r leave a layer without channels"
                         % (channel_multiplier, narrow))
    return channels


class GPENGenerator(nn.Layer):
    """StyleGAN2's generator (Karras et al. 2020, Fig. 7b: skip connections to RGB) whose noise inputs are
    replaced by GPEN's encoder features, concatenated as channels.

    Mapping network: PixelNorm and `n_mlp` EqualLinear layers (learning rate `lr_mlp`) map z to w. Synthesis: a
    learned 4x4 constant, then per resolution 8 ... size an upsampling StyledConv and a StyledConv (both take the
    encoder's features of their resolution) and a ToRGB whose output is added to the upsampled RGB so far. Every
    layer gets the same w. The `noises` buffers are StyleGAN2's fixed noise maps, kept only because PaddleGAN's
    files hold them: GPEN never reads them.
    """

    def __init__(self, size, style_dim, n_mlp, channel_multiplier=2, narrow=1.0, blur_taps=(1, 3, 3, 1),
                 lr_mlp=0.01):
        super().__init__()
        self.size, self.style_dim = size, style_dim
        self.log_size = int(round(math.log2(size)))
        channels = gpen_channels(size, channel_multiplier, narrow)
        self.style = nn.Sequential(PixelNorm(), *[EqualLinear(style_dim, style_dim, lr_mul=lr_mlp,
                                                              activation="fused_lrelu") for _ in range(n_mlp)])
        self.input = ConstantInput(channels[4])
        self.conv1 = StyledConv(channels[4], channels[4], 3, style_dim, blur_taps=blur_taps, concat_noise=True)
        self.to_rgb1 = ToRGB(channels[4] * 2, style_dim, upsample=False)
        self.convs = nn.LayerList()
        self.to_rgbs = nn.LayerList()
        self.noises = nn.Layer()
        for i in range((self.log_size - 2) * 2 + 1):
            side = 2 ** ((i + 5) // 2)
            self.noises.register_buffer("noise_%d" % i, paddle.zeros([1, 1, side, side]))
        width = channels[4]
        for level in range(3, self.log_size + 1):
            out = channels[2 ** level]
            self.convs.append(StyledConv(width * 2, out, 3, style_dim, upsample=True, blur_taps=blur_taps,
                                         concat_noise=True))
            self.convs.append(StyledConv(out * 2, out, 3, style_dim, blur_taps=blur_taps, concat_noise=True))
            self.to_rgbs.append(ToRGB(out * 2, style_dim, blur_taps=blur_taps))
            width = out

    def forward(self, z, features):
        """RGB in about [-1, 1] from latent codes z (N, style_dim) and the encoder's features, 4x4 first."""
        w = self.style(z)
        out = self.conv1(self.input(z.shape[0]), w, features[0])
        rgb = self.to_rgb1(out, w)
        for level, to_rgb in enumerate(self.to_rgbs):
            up, same = self.convs[2 * level], self.convs[2 * level + 1]
            out = same(up(out, w, features[level + 1]), w, features[level + 1])
            rgb = to_rgb(out, w, rgb)
        return rgb


class GPEN(nn.Layer):
    """GPEN's full network (Yang et al. 2021, Sec. 3): encoder `ecd0` (1x1 conv) ... `ecd{log2(size)-2}` (each a
    3x3 conv halving the side, down to 4x4), `final_linear` from the 4x4 features to z, and `generator`.

    Input and output: NCHW RGB in [-1, 1] at `size` x `size` (PaddleGAN's release: size 512, style_dim 512,
    n_mlp 8, channel_multiplier 2).
    """

    def __init__(self, size=512, style_dim=512, n_mlp=8, channel_multiplier=2, narrow=1.0, blur_taps=(1, 3, 3, 1),
                 lr_mlp=0.01):
        super().__init__()
        if size < 8 or size & (size - 1) or size > 1024:
            raise ValueError("GPEN's size must be a power of two from 8 to 1024, got %r" % (size,))
        self.size = size
        self.log_size = int(round(math.log2(size)))
        channels = gpen_channels(size, channel_multiplier, narrow)
        self.generator = GPENGenerator(size, style_dim, n_mlp, channel_multiplier, narrow, blur_taps, lr_mlp)
        self.ecd0 = nn.Sequential(ConvLayer(3, channels[size], 1))
        width = channels[size]
        for i, level in enumerate(range(self.log_size, 2, -1), start=1):
            out = channels[2 ** (level - 1)]
            setattr(self, "ecd%d" % i, nn.Sequential(ConvLayer(width, out, 3, downsample=True, blur_taps=blur_taps)))
            width = out
        self.final_linear = nn.Sequential(EqualLinear(channels[4] * 16, style_dim, activation="fused_lrelu"))

    def forward(self, x):
        features = []
        for i in range(self.log_size - 1):
            x = getattr(self, "ecd%d" % i)(x)
            features.append(x)
        z = self.final_linear(x.reshape([x.shape[0], -1]))
        return self.generator(z, features[::-1])


def randomize_gpen(net, seed=0):
    """Give every parameter of `net` seeded random values (weights N(0, 1) over lr_mul, biases and noise strengths
    small, modulation biases about 1), so that every path of a test network is exercised; returns `net`."""
    rng = np.random.RandomState(seed)
    for layer_name, layer in sorted(net.named_sublayers(include_self=True)):
        for name, param in sorted(layer.named_parameters(include_sublayers=False)):
            full = "%s.%s" % (layer_name, name) if layer_name else name
            shape = param.shape
            if full.endswith("conv.modulation.bias"):
                value = 1.0 + 0.1 * rng.standard_normal(shape)
            elif full.endswith("noise.weight"):
                value = 0.5 * rng.standard_normal(shape)
            elif name == "bias":
                value = 0.1 * rng.standard_normal(shape)
            else:
                value = rng.standard_normal(shape) / getattr(layer, "lr_mul", 1.0)
            param.set_value(value.astype(np.float32))
    return net
