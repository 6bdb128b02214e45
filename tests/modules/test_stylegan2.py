"""StyleGAN2's layers against their definitions: upfirdn2d against a direct numpy loop, the modulated convolution
(activations scaled, output demodulated) against convolving each sample with its own modulated weight (Karras et
al. 2020, Eqs. 1-3), the equalized layers' scales."""
import math

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from ppgan.modules import stylegan2


def reference_upfirdn2d(x, kernel, up, down, pad):
    """upfirdn2d by its definition, in float64: zero insertion, zero padding, true convolution, decimation."""
    n, c, h, w = x.shape
    upsampled = np.zeros((n, c, h * up, w * up))
    upsampled[:, :, ::up, ::up] = x
    padded = np.pad(upsampled, [(0, 0), (0, 0), pad, pad])
    k = kernel[::-1, ::-1]
    kh, kw = k.shape
    out = np.zeros((n, c, padded.shape[2] - kh + 1, padded.shape[3] - kw + 1))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = (padded[:, :, i:i + kh, j:j + kw] * k).sum(axis=(2, 3))
    return out[:, :, ::down, ::down]


@pytest.mark.parametrize("up,down,pad", [(1, 1, (1, 1)), (2, 1, (2, 1)), (1, 2, (2, 2)), (1, 1, (0, 0))])
def test_upfirdn2d_is_its_definition(up, down, pad):
    rng = np.random.RandomState(0)
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    kernel = rng.rand(4, 4).astype(np.float32)   # asymmetric: the flip of a true convolution matters
    out = stylegan2.upfirdn2d(paddle.to_tensor(x), paddle.to_tensor(kernel), up=up, down=down, pad=pad).numpy()
    expected = reference_upfirdn2d(x.astype(np.float64), kernel.astype(np.float64), up, down, pad)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_fir_kernel_and_resampling_sizes():
    k = stylegan2.fir_kernel((1, 3, 3, 1), gain=4)
    assert k.shape == (4, 4) and abs(k.sum() - 4) < 1e-6 and np.allclose(k, k.T)
    x = paddle.ones([1, 2, 8, 8])
    assert stylegan2.Upsample((1, 3, 3, 1))(x).shape == [1, 2, 16, 16]
    # a constant stays constant away from the borders (the kernel sums to up^2 over the inserted zeros)
    np.testing.assert_allclose(stylegan2.Upsample((1, 3, 3, 1))(x).numpy()[..., 3:-3, 3:-3], 1.0, atol=1e-6)
    assert stylegan2.ConvLayer(2, 5, 3, downsample=True)(x).shape == [1, 5, 4, 4]
    with pytest.raises(ValueError, match="non-negative"):
        stylegan2.upfirdn2d(x, paddle.ones([2, 2]), pad=(-1, 0))


def per_sample_modulated_conv(conv, x, w):
    """Each sample convolved with its own weight w''_ijk = s_i w_ijk / sigma_j (Eqs. 1-3), as one grouped
    convolution, and for upsampling a grouped stride-2 transposed convolution then the blur."""
    n, c, h, width = x.shape
    style = conv.modulation(w)                                              # (N, in)
    weight = conv.weight * conv.scale * style.reshape([n, 1, c, 1, 1])      # (N, out, in, k, k)
    if conv.demodulate:
        weight = weight * paddle.rsqrt((weight * weight).sum(axis=[2, 3, 4], keepdim=True) + 1e-8)
    k = conv.kernel_size
    grouped = x.reshape([1, n * c, h, width])
    if conv.upsample:
        weight = weight.transpose([0, 2, 1, 3, 4]).reshape([n * c, conv.out_channels, k, k])
        out = F.conv2d_transpose(grouped, weight, stride=2, groups=n)
        return conv.blur(out.reshape([n, conv.out_channels] + out.shape[2:]))
    out = F.conv2d(grouped, weight.reshape([n * conv.out_channels, c, k, k]), padding=conv.padding, groups=n)
    return out.reshape([n, conv.out_channels] + out.shape[2:])


@pytest.mark.parametrize("batch", [1, 3])   # one sample: the weight is modulated; more: the activations
@pytest.mark.parametrize("kernel_size,upsample,demodulate", [(3, False, True), (3, True, True), (1, False, False)])
def test_modulated_conv_equals_per_sample_weights(kernel_size, upsample, demodulate, batch):
    rng = np.random.RandomState(1)
    conv = stylegan2.ModulatedConv2D(5, 4, kernel_size, 6, demodulate=demodulate, upsample=upsample)
    for param in conv.parameters():
        param.set_value(rng.standard_normal(param.shape).astype(np.float32))
    x = paddle.to_tensor(rng.standard_normal((batch, 5, 8, 8)).astype(np.float32))
    w = paddle.to_tensor(rng.standard_normal((batch, 6)).astype(np.float32))
    out = conv(x, w).numpy()
    assert out.shape == (batch, 4, 16 if upsample else 8, 16 if upsample else 8)
    np.testing.assert_allclose(out, per_sample_modulated_conv(conv, x, w).numpy(), rtol=1e-4, atol=1e-5)


def test_equalized_layers_scale_by_fan_in():
    linear = stylegan2.EqualLinear(4, 3, lr_mul=0.01)
    linear.weight.set_value(np.ones((4, 3), np.float32))
    linear.bias.set_value(np.full(3, 2.0, np.float32))
    np.testing.assert_allclose(linear(paddle.ones([1, 4])).numpy(), 4 * 0.01 / 2 + 2 * 0.01, rtol=1e-6)
    conv = stylegan2.EqualConv2D(2, 1, 3, padding=1, bias=False)
    conv.weight.set_value(np.ones((1, 2, 3, 3), np.float32))
    assert abs(float(conv(paddle.ones([1, 2, 5, 5]))[0, 0, 2, 2]) - 18 / math.sqrt(18)) < 1e-5
    act = stylegan2.fused_leaky_relu(paddle.to_tensor([[-1.0, 1.0]]))
    np.testing.assert_allclose(act.numpy(), [[-0.2 * math.sqrt(2), math.sqrt(2)]], rtol=1e-6)


def test_inplace_activation_only_without_gradients():
    layer = stylegan2.FusedLeakyReLU(2, inplace=True)
    layer.bias.set_value(np.array([1.0, -3.0], np.float32))
    expected = np.array([[[[2.0]], [[-0.4]]]], np.float32) * math.sqrt(2)
    x = paddle.ones([1, 2, 1, 1])
    with paddle.no_grad():
        out = layer(x)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-6)   # overwritten: no copy made
    x = paddle.ones([1, 2, 1, 1])
    x.stop_gradient = False
    out = layer(x)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(x.numpy(), 1.0)   # a tensor in the autograd graph is left alone
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy().ravel(), [math.sqrt(2), 0.2 * math.sqrt(2)], rtol=1e-6)
