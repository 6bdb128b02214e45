import numpy as np
import paddle
import pytest

from conftest import parity_path
from ppgan.modules.antialias import AntiAliasInterpolation2d, ImagePyramide, gaussian_kernel


@pytest.mark.parametrize("scale,size", [(0.5, 5), (0.25, 13), (0.125, 29)])
def test_kernel_size_and_normalisation(scale, size):
    kernel, (ka, kb) = gaussian_kernel(scale)
    assert kernel.shape == (size, size)
    assert ka == kb == size // 2
    assert abs(kernel.sum() - 1) < 1e-6


def test_kernel_matches_original_buffer():
    weights = np.load(parity_path("vox", "weights.npz"))
    down = AntiAliasInterpolation2d(3, 0.25)
    np.testing.assert_allclose(down.weight.numpy(), weights["kp_detector/down.weight"], atol=1e-7)


def test_downsampling_shape_and_identity_scale():
    x = paddle.rand([2, 3, 64, 48])
    assert AntiAliasInterpolation2d(3, 0.25)(x).shape == [2, 3, 16, 12]
    assert AntiAliasInterpolation2d(3, 1)(x) is x
    pyramid = ImagePyramide([1, 0.5], 3)(x)
    assert sorted(pyramid) == ["prediction_0.5", "prediction_1"]
    # A constant image stays constant away from the zero padding.
    const = AntiAliasInterpolation2d(3, 0.5)(paddle.full([1, 3, 32, 32], 0.7)).numpy()
    np.testing.assert_allclose(const[..., 4:-4, 4:-4], 0.7, atol=1e-6)
