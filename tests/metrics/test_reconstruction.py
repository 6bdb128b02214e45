import numpy as np
import paddle
import pytest

from ppgan.metrics import RunningMean, l1_distance


def test_l1_distance_accepts_arrays_and_tensors():
    a = np.zeros((2, 3, 4, 4), "float32")
    b = np.full((2, 3, 4, 4), 0.25, "float32")
    assert l1_distance(a, b) == pytest.approx(0.25)
    assert l1_distance(paddle.to_tensor(a), paddle.to_tensor(b)) == pytest.approx(0.25)


def test_running_mean_weights_chunks():
    m = RunningMean()
    assert np.isnan(m.value)
    m.add(1.0, 3)
    m.add(0.0, 1)
    assert m.value == pytest.approx(0.75)
