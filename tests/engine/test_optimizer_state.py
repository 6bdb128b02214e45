"""ppgan/engine/trainer.py: optimizer state keyed by structured parameter names, for one net or several."""
import numpy as np
import paddle

from ppgan.engine.trainer import load_optimizer_state, optimizer_state, structured_names


def _nets():
    return {"kp_detector": paddle.nn.Linear(2, 2), "inpainting_network": paddle.nn.Linear(2, 1)}


def _stepped(nets):
    params = [p for net in nets.values() for p in net.parameters()]
    optimizer = paddle.optimizer.Adam(learning_rate=0.1, parameters=params)
    sum(net(paddle.ones([1, 2])).sum() for net in nets.values()).backward()
    optimizer.step()
    return optimizer


def test_names_of_one_net_are_bare_and_of_several_prefixed():
    nets = _nets()
    assert set(structured_names(nets["kp_detector"])) == {"weight", "bias"}
    assert set(structured_names({"kp_detector": nets["kp_detector"]})) == {"weight", "bias"}
    assert set(structured_names(nets)) == {"kp_detector.weight", "kp_detector.bias", "inpainting_network.weight",
                                           "inpainting_network.bias"}


def test_state_of_several_nets_round_trips_into_another_process_layout():
    nets = _nets()
    state = optimizer_state(_stepped(nets), nets)
    assert "inpainting_network.weight@moment1_0" in state
    paddle.nn.Linear(3, 3)   # shifts Paddle's global parameter names, as another process would have them
    other = _nets()
    optimizer = paddle.optimizer.Adam(learning_rate=0.1, parameters=[p for n in other.values()
                                                                     for p in n.parameters()])
    load_optimizer_state(optimizer, other, state)
    restored = dict(getattr(optimizer, "_accumulators_holder", {}) or {})
    restored.update(optimizer.state_dict())
    weight = other["inpainting_network"].weight
    np.testing.assert_array_equal(np.asarray(restored["%s_moment1_0" % weight.name]),
                                  state["inpainting_network.weight@moment1_0"])
