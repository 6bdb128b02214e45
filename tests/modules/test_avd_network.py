"""ppgan/modules/avd_network.py: names, shapes, and PyTorch's BatchNorm1d running statistics."""
import numpy as np
import paddle

from ppgan.modules.avd_network import AVDNetwork


def test_names_shapes_and_running_statistics():
    net = AVDNetwork(num_tps=2, id_bottle_size=8, pose_bottle_size=8)
    state = net.state_dict()
    assert tuple(state["id_encoder.0.weight"].shape) == (20, 256)
    assert tuple(state["decoder.9.weight"].shape) == (256, 20) and "pose_encoder.7._variance" in state
    kp = {"fg_kp": paddle.to_tensor(np.random.RandomState(0).uniform(-1, 1, (4, 10, 2)).astype("float32"))}
    net.train()
    out = net(kp, kp)["fg_kp"]
    assert tuple(out.shape) == (4, 10, 2)
    # the running variance moves towards the unbiased batch variance (PyTorch's rule)
    hidden = net.id_encoder[0](kp["fg_kp"].reshape([4, -1])).numpy()
    expected = 0.9 * 1.0 + 0.1 * hidden.var(axis=0, ddof=1)
    np.testing.assert_allclose(net.id_encoder[1]._variance.numpy(), expected, rtol=1e-4)
