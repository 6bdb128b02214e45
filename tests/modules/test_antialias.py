import numpy as np
import paddle
import pytest

from conftest import parity_path
from ppgan.modules.antialias import AntiAliasInterpolation2d, ImagePyramide, gaussian_kernel


@pytest.mark.parametrize("scale,size", [(0.5, 5), (0.25, 13), (0.125, 29)])
def test_kernel_size_and_normalisation(scale, size):
    kernel = gaussian_kernel(scale)
    assert kernel.shape == (size, size)
    assert abs(kernel.sum() - 1) < 1e-6


def test_kernel_matches_original_buffer():
    weights = np.load(parity_path("vox", "weights.npz"))
    down = AntiAliasInterpolation2d(3, 0.25)
    np.testing.assert_allclose(down.weight.numpy(), weights["kp_detector/down.weight"], atol=1e-7)


@pytest.mark.parametrize("scale,shape", [(0.25, (64, 48)), (0.5, (33, 17)), (0.25, (30, 31))])
def test_downsampling_is_zero_padded_blur_then_every_nth_pixel(scale, shape):
    """The original pads by half the kernel, blurs every pixel, then keeps every (1/scale)-th one."""
    x = np.random.RandomState(0).rand(1, 2, *shape).astype(np.float32)
    kernel = gaussian_kernel(scale).astype(np.float64)
    pad = kernel.shape[0] // 2
    padded = np.pad(x.astype(np.float64), [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel.shape, axis=(2, 3))
    step = int(1 / scale)
    expected = (windows * kernel).sum(axis=(-2, -1))[:, :, ::step, ::step]
    out = AntiAliasInterpolation2d(2, scale)(paddle.to_tensor(x)).numpy()
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_downsampling_shape_and_identity_scale():
    x = paddle.rand([2, 3, 64, 48])
    assert AntiAliasInterpolation2d(3, 0.25)(x).shape == [2, 3, 16, 12]
    assert AntiAliasInterpolation2d(3, 1)(x) is x
    pyramid = ImagePyramide([1, 0.5], 3)(x)
    assert sorted(pyramid) == ["prediction_0.5", "prediction_1"]
    # A constant image stays constant away from the zero padding.
    const = AntiAliasInterpolation2d(3, 0.5)(paddle.full([1, 3, 32, 32], 0.7)).numpy()
    np.testing.assert_allclose(const[..., 4:-4, 4:-4], 0.7, atol=1e-6)
