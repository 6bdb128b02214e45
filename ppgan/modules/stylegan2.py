"""StyleGAN2's layers (Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020) as GPEN
uses them, with the parameter names and layouts of PaddleGAN's StyleGAN2 modules so that its weight files load.

Equalized learning rate: every weight is stored at unit scale (StyleGAN2 draws it from N(0, 1)) and multiplied at
run time by He's constant 1/sqrt(fan_in) (and by `lr_mul` for the mapping network). Weights start at zero here: these
layers serve inference, so a network is filled from a weight file (or ppgan.modules.gpen.randomize_gpen in tests).
Resampling is StyleGAN2's upfirdn2d: upsample by zero insertion, pad, convolve with a separable FIR kernel
([1, 3, 3, 1] by default), keep every `down`-th pixel.
"""
import math

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)   # keeps the activations' second moment through a leaky ReLU
DEMOD_EPS = 1e-8


def fir_kernel(taps, gain=1.0):
    """The 2-D FIR kernel of 1-D `taps` (outer product) or of 2-D taps, normalised to sum `gain`, float32."""
    k = np.asarray(taps, np.float64)
    if k.ndim == 1:
        k = np.outer(k, k)
    return (k * (gain / k.sum())).astype(np.float32)


def upfirdn2d(x, kernel, up=1, down=1, pad=(0, 0)):
    """StyleGAN2's resampling of NCHW `x`: insert up-1 zeros after every pixel, zero-pad (pad[0] before, pad[1]
    after, on both axes), convolve each channel with the 2-D `kernel` (a true convolution), keep every down-th
    pixel. Output side: (side * up + pad[0] + pad[1] - kernel side) // down + 1."""
    if min(pad) < 0:
        raise ValueError("upfirdn2d pads by non-negative amounts, got %s" % (pad,))
    n, c, h, w = x.shape
    if up > 1:
        # zeros after every pixel along both axes: (n, c, h, 1, w, 1) -> (n, c, h, up, w, up)
        x = x.reshape([n, c, h, 1, w, 1])
        x = paddle.concat([x, paddle.zeros([n, c, h, 1, w, up - 1], x.dtype)], axis=5)
        x = paddle.concat([x, paddle.zeros([n, c, h, up - 1, w, up], x.dtype)], axis=3)
        x = x.reshape([n, c, h * up, w * up])
    if any(pad):
        x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    taps = paddle.flip(kernel, [0, 1]).reshape([1, 1] + list(kernel.shape)).tile([c, 1, 1, 1])
    # striding the filter equals filtering every pixel and then keeping every down-th one
    return F.conv2d(x, taps, stride=down, groups=c)


def fused_leaky_relu(x, bias=None, slope=LRELU_SLOPE, gain=LRELU_GAIN, inplace=False):
    """gain * leaky_relu(x + bias): StyleGAN2's activation (bias per channel, axis 1). `inplace` overwrites x when
    no gradient flows through it (inference: three passes over the tensor without allocating one)."""
    if bias is not None:
        bias = bias.reshape([1, -1] + [1] * (x.ndim - 2))
    if inplace and x.stop_gradient:
        if bias is not None:
            x.add_(bias)
        F.leaky_relu_(x, negative_slope=slope)
        x.scale_(gain)
        return x
    if bias is not None:
        x = x + bias
    return F.leaky_relu(x, negative_slope=slope) * gain


class FusedLeakyReLU(nn.Layer):
    """A per-channel bias followed by the scaled leaky ReLU (parameter `bias`, zeros). `inplace`: for inputs that
    nothing else reads (a convolution's fresh output), overwritten in inference."""

    def __init__(self, channels, bias=True, inplace=False):
        super().__init__()
        self.bias = self.create_parameter([channels], default_initializer=nn.initializer.Constant(0.0)) \
            if bias else None
        self.inplace = inplace

    def forward(self, x):
        return fused_leaky_relu(x, self.bias, inplace=self.inplace)


class Blur(nn.Layer):
    """upfirdn2d filtering with `taps` (sum gain) and padding `pad`; the kernel is a constant, not saved."""

    def __init__(self, taps, pad, gain=1.0):
        super().__init__()
        self.register_buffer("kernel", paddle.to_tensor(fir_kernel(taps, gain)), persistable=False)
        self.pad = tuple(pad)

    def forward(self, x):
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Layer):
    """Upsampling by `factor` with the FIR filter `taps` (saved as buffer `kernel`, as PaddleGAN's files hold)."""

    def __init__(self, taps, factor=2):
        super().__init__()
        kernel = fir_kernel(taps, factor * factor)
        self.register_buffer("kernel", paddle.to_tensor(kernel))
        self.factor = factor
        spare = kernel.shape[0] - factor
        self.pad = ((spare + 1) // 2 + factor - 1, spare // 2)

    def forward(self, x):
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class EqualConv2D(nn.Layer):
    """Convolution with an equalized learning rate: weight (out, in, k, k), unit scale, times 1/sqrt(in k k)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        self.weight = self.create_parameter([out_channels, in_channels, kernel_size, kernel_size],
                                            default_initializer=nn.initializer.Constant(0.0))
        self.bias = self.create_parameter([out_channels], default_initializer=nn.initializer.Constant(0.0)) \
            if bias else None
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.stride, self.padding = stride, padding

    def forward(self, x):
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)


class EqualLinear(nn.Layer):
    """Linear layer with an equalized learning rate: y = x (W * lr_mul / sqrt(in)) + b * lr_mul, W stored (in, out)
    at scale 1/lr_mul; `activation='fused_lrelu'` applies the scaled leaky ReLU to the sum."""

    def __init__(self, in_dim, out_dim, bias=True, bias_init=0.0, lr_mul=1.0, activation=None):
        super().__init__()
        if activation not in (None, "fused_lrelu"):
            raise ValueError("EqualLinear activation must be None or 'fused_lrelu', got %r" % (activation,))
        self.weight = self.create_parameter([in_dim, out_dim],
                                            default_initializer=nn.initializer.Constant(0.0))
        self.bias = self.create_parameter([out_dim], default_initializer=nn.initializer.Constant(bias_init)) \
            if bias else None
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x):
        bias = None if self.bias is None else self.bias * self.lr_mul
        if self.activation:
            return fused_leaky_relu(paddle.matmul(x, self.weight * self.scale), bias)
        y = paddle.matmul(x, self.weight * self.scale)
        return y if bias is None else y + bias


class ConvLayer(nn.Sequential):
    """[Blur, downsampling by 2,] equalized convolution and the scaled leaky ReLU (whose bias replaces the conv's):
    a discriminator-style layer, GPEN's encoder block."""

    def __init__(self, in_channels, out_channels, kernel_size, downsample=False, blur_taps=(1, 3, 3, 1)):
        layers = []
        if downsample:
            spare = len(blur_taps) - 2 + kernel_size - 1
            layers.append(Blur(blur_taps, ((spare + 1) // 2, spare // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2D(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False))
        layers.append(FusedLeakyReLU(out_channels, inplace=True))
        super().__init__(*layers)


class PixelNorm(nn.Layer):
    """x / sqrt(mean over channels of x^2 + 1e-8): the mapping network's input normalisation."""

    def forward(self, x):
        return x * paddle.rsqrt(paddle.mean(x * x, axis=1, keepdim=True) + 1e-8)


class ModulatedConv2D(nn.Layer):
    """StyleGAN2's weight modulation and demodulation (Karras et al. 2020, Sec. 2.2, Eqs. 1-3).

    The style s = A(w) (`modulation`, an EqualLinear with bias 1) scales the input channels, w'_ijk = s_i w_ijk
    (Eq. 1), and demodulation divides each output channel by sigma_j = sqrt(sum_ik w'_ijk^2 + eps) (Eqs. 2-3).
    A batch of one sample is convolved with w'' itself; a larger batch as the paper notes it may be, with the
    activations times s, one convolution shared by the batch and the output times 1/sigma (equal to convolving
    each sample with its own w''). `upsample`: a stride-2 transposed convolution followed by the FIR blur.
    Weight stored (1, out, in, k, k).
    """

    def __init__(self, in_channels, out_channels, kernel_size, style_dim, demodulate=True, upsample=False,
                 blur_taps=(1, 3, 3, 1)):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.demodulate, self.upsample = demodulate, upsample
        self.weight = self.create_parameter([1, out_channels, in_channels, kernel_size, kernel_size],
                                            default_initializer=nn.initializer.Constant(0.0))
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1.0)
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = kernel_size // 2
        if upsample:
            spare = len(blur_taps) - 2 - (kernel_size - 1)
            self.blur = Blur(blur_taps, ((spare + 1) // 2 + 1, spare // 2 + 1), gain=4.0)

    def _conv(self, x, weight):
        if self.upsample:
            # a transposed convolution's weight is laid out (in, out, k, k)
            return F.conv2d_transpose(x, weight.transpose([1, 0, 2, 3]), stride=2, padding=0)
        return F.conv2d(x, weight, padding=self.padding)

    def forward(self, x, w):
        style = self.modulation(w)                                       # (N, in)
        weight = self.weight[0] * self.scale                             # (out, in, k, k)
        if x.shape[0] == 1:
            # one sample: modulate (and demodulate) the weight, far smaller than the activations
            weight = weight * style.reshape([1, -1, 1, 1])
            if self.demodulate:
                weight = weight * paddle.rsqrt((weight * weight).sum(axis=[1, 2, 3], keepdim=True) + DEMOD_EPS)
            out = self._conv(x, weight)
        else:
            out = self._conv(x * style.reshape([style.shape[0], -1, 1, 1]), weight)
            if self.demodulate:
                energy = paddle.matmul(style * style, (weight * weight).sum(axis=[2, 3]), transpose_y=True)
                sigma_inv = paddle.rsqrt(energy + DEMOD_EPS).reshape([out.shape[0], -1, 1, 1])   # (N, out, 1, 1)
                out = out.multiply_(sigma_inv) if out.stop_gradient else out * sigma_inv
        if self.upsample:
            out = self.blur(out)
        return out


class NoiseInjection(nn.Layer):
    """Adds `weight` * noise (StyleGAN) or, with `concat`, appends it as further channels (GPEN's way of feeding
    the encoder's features to the generator)."""

    def __init__(self, concat=False):
        super().__init__()
        self.weight = self.create_parameter([1], default_initializer=nn.initializer.Constant(0.0))
        self.concat = concat

    def forward(self, x, noise):
        if self.concat:
            return paddle.concat([x, self.weight * noise], axis=1)
        return x + self.weight * noise


class StyledConv(nn.Layer):
    """Modulated 3x3 convolution, noise injection, scaled leaky ReLU: one layer of the synthesis network."""

    def __init__(self, in_channels, out_channels, kernel_size, style_dim, upsample=False, blur_taps=(1, 3, 3, 1),
                 concat_noise=False):
        super().__init__()
        self.conv = ModulatedConv2D(in_channels, out_channels, kernel_size, style_dim, upsample=upsample,
                                    blur_taps=blur_taps)
        self.noise = NoiseInjection(concat=concat_noise)
        self.activate = FusedLeakyReLU(out_channels * 2 if concat_noise else out_channels, inplace=True)

    def forward(self, x, w, noise):
        return self.activate(self.noise(self.conv(x, w), noise))


class ToRGB(nn.Layer):
    """A modulated 1x1 convolution to RGB (not demodulated) plus `bias`, added to the upsampled RGB of the
    previous resolution (StyleGAN2's skip-connection generator)."""

    def __init__(self, in_channels, style_dim, upsample=True, blur_taps=(1, 3, 3, 1)):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_taps)
        self.conv = ModulatedConv2D(in_channels, 3, 1, style_dim, demodulate=False)
        self.bias = self.create_parameter([1, 3, 1, 1], default_initializer=nn.initializer.Constant(0.0))

    def forward(self, x, w, skip=None):
        out = self.conv(x, w) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class ConstantInput(nn.Layer):
    """The synthesis network's learned 4x4 input (`input`, (1, C, 4, 4)), repeated over the batch."""

    def __init__(self, channels, side=4):
        super().__init__()
        self.input = self.create_parameter([1, channels, side, side], default_initializer=nn.initializer.Constant(0.0))

    def forward(self, batch):
        return self.input.tile([batch, 1, 1, 1])
