import cv2
import numpy as np
import paddle
import pytest

from ppgan.metrics import Sharpness, laplacian_variance


def _checker(size=64, cell=4):
    yy, xx = np.mgrid[0:size, 0:size]
    grey = (((yy // cell) + (xx // cell)) % 2 * 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def test_laplacian_variance_of_a_flat_frame_is_zero_and_blur_lowers_it():
    assert laplacian_variance(np.full((16, 16, 3), 128, np.uint8)) == 0.0
    sharp = _checker()
    blurred = cv2.GaussianBlur(sharp, (0, 0), 1.5)
    assert laplacian_variance(blurred) < 0.2 * laplacian_variance(sharp)


def test_sharpness_ratio_is_one_for_the_truth_and_below_for_a_blur():
    frames = np.stack([_checker(), _checker(cell=8)]).astype(np.float32) / 255
    driving = paddle.to_tensor(frames.transpose(0, 3, 1, 2))
    same = Sharpness()
    same("video", driving, {"prediction": driving})
    assert same.ratio == pytest.approx(1.0)
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 1.0) for f in frames])
    blur = Sharpness()
    blur("video", driving, {"prediction": paddle.to_tensor(blurred.transpose(0, 3, 1, 2))})
    assert blur.ratio < 0.5
    # averaged over every frame seen, chunk by chunk
    blur("video", driving, {"prediction": driving})
    assert blur.generated.count == blur.real.count == 4
