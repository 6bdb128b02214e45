import numpy as np
import paddle

from ppgan.modules.blocks import batch_norm


def test_batch_norm_running_variance_is_unbiased(rng):
    bn = batch_norm(3)
    bn.train()
    x = rng.randn(2, 3, 4, 5).astype("float32") * 2 + 1
    out = bn(paddle.to_tensor(x))
    n = 2 * 4 * 5
    mean = x.mean(axis=(0, 2, 3))
    var = x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(bn._mean.numpy(), 0.1 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn._variance.numpy(), 0.9 + 0.1 * var * n / (n - 1), rtol=1e-5)
    normalised = (x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(out.numpy(), normalised, atol=1e-5)


def test_batch_norm_backward_through_several_calls():
    """The statistics update must not break autograd when a layer is used more than once per step."""
    bn = batch_norm(4)
    bn.train()
    x = paddle.rand([2, 4, 3, 3])
    x.stop_gradient = False
    (bn(x).sum() + (bn(x * 2) ** 2).sum()).backward()
    assert x.grad is not None and bn.weight.grad is not None


def test_batch_norm_eval_uses_running_statistics():
    bn = batch_norm(2)
    bn.eval()
    bn._mean.set_value(np.array([1.0, -1.0], "float32"))
    bn._variance.set_value(np.array([4.0, 1.0], "float32"))
    out = bn(paddle.ones([1, 2, 1, 1])).numpy().ravel()
    np.testing.assert_allclose(out, [0.0, 2 / np.sqrt(1 + 1e-5)], atol=1e-5)
