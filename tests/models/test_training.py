"""ppgan/models/training.py: what the training models share (clipping, finite checks, the step)."""
import numpy as np
import paddle
import pytest

from ppgan.models.training import TrainingDiverged, backward_and_step, check_finite, clip_grad_norm_inf


def _net_with_grads(seed=0, scale=30.0):
    paddle.seed(seed)
    net = paddle.nn.Sequential(paddle.nn.Linear(4, 3), paddle.nn.Linear(3, 2))
    x = paddle.to_tensor(np.random.RandomState(seed).randn(5, 4).astype("float32"))
    (net(x) * scale).sum().backward()
    return net


@pytest.mark.parametrize("max_norm", [1.0, 1e3])
def test_clipping_is_torchs_inf_norm_clipping(max_norm):
    torch = pytest.importorskip("torch")
    net = _net_with_grads()
    grads = [p.grad.numpy().copy() for p in net.parameters()]
    tensors = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    for t, g in zip(tensors, grads):
        t.grad = torch.from_numpy(g.copy())
    expected_norm = torch.nn.utils.clip_grad_norm_(tensors, max_norm=max_norm, norm_type=float("inf"))
    norm = clip_grad_norm_inf(net.parameters(), max_norm)
    assert float(norm) == pytest.approx(float(expected_norm), rel=1e-6)
    for p, t in zip(net.parameters(), tensors):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-6)
    assert np.abs(np.concatenate([p.grad.numpy().ravel() for p in net.parameters()])).max() <= max_norm + 1e-5


def test_clipping_without_gradients():
    assert clip_grad_norm_inf(paddle.nn.Linear(2, 2).parameters(), 10) is None


def test_check_finite_names_the_loss():
    assert check_finite({"a": paddle.to_tensor(1.5)}) == {"a": 1.5}
    with pytest.raises(TrainingDiverged, match="loss b is inf"):
        check_finite({"a": paddle.to_tensor(1.0), "b": paddle.to_tensor(float("inf"))})


def test_backward_and_step_order():
    """Gradients are averaged, then `before_step` sees them, then the optimizer steps and clears them."""
    net = paddle.nn.Linear(2, 1)
    optimizer = paddle.optimizer.SGD(learning_rate=1.0, parameters=net.parameters())
    calls = []

    def reduce(params):
        calls.append(("reduce", len(params)))
        for p in params:
            p.grad.set_value(p.grad * 0.5)

    def before_step():
        calls.append(("before_step", float(net.bias.grad[0])))
    bias = float(net.bias[0])
    backward_and_step(net(paddle.ones([1, 2])).sum(), [optimizer], [net], reduce, before_step=before_step)
    assert calls == [("reduce", 2), ("before_step", 0.5)]
    assert float(net.bias[0]) == pytest.approx(bias - 0.5)
    assert net.bias.grad is None or float(net.bias.grad[0]) == 0
