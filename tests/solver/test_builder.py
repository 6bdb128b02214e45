import pytest

from ppgan.solver import build_optimizers, build_schedulers
from ppgan.utils.errors import ConfigError
from ppgan.utils.config import SECTIONS


def _train(**kw):
    cfg = {k: v for k, v in SECTIONS["train"].items()}
    cfg.update(kw)
    return cfg


def test_milestones_count_epochs():
    schedulers = build_schedulers(_train(epoch_milestones=[2, 3], lr_generator=1.0), ["generator"])
    lrs = []
    for _ in range(4):
        lrs.append(schedulers["generator"].get_lr())
        schedulers["generator"].step()   # once per epoch, as the trainer does
    assert lrs == pytest.approx([1.0, 1.0, 0.1, 0.01])


def test_no_milestones_keeps_the_rate():
    sched = build_schedulers(_train(epoch_milestones=[], num_epochs=3, lr_kp_detector=0.5), ["kp_detector"])
    for _ in range(3):
        sched["kp_detector"].step()
    assert sched["kp_detector"].get_lr() == pytest.approx(0.5)


@pytest.mark.parametrize("bad", [[3, 2], [0], ["a"]])
def test_bad_milestones(bad):
    with pytest.raises(ConfigError, match="train.epoch_milestones"):
        build_schedulers(_train(epoch_milestones=bad), ["generator"])


def test_bad_learning_rate():
    with pytest.raises(ConfigError, match="train.lr_generator"):
        build_schedulers(_train(lr_generator=-1), ["generator"])


def test_adam_betas():
    import paddle
    net = paddle.nn.Linear(2, 2)
    opt = build_optimizers({"generator": net}, build_schedulers(_train(), ["generator"]))["generator"]
    assert (opt._beta1, opt._beta2) == (0.5, 0.999)


def test_solver_from_specs_with_several_nets_weight_decay_and_delay():
    import paddle
    from ppgan.solver import OptimizerSpec, build_solver
    nets = {"a": paddle.nn.Linear(2, 2), "b": paddle.nn.Linear(2, 3), "c": paddle.nn.Linear(3, 1)}
    cfg = {"epoch_milestones": [1], "num_epochs": 3, "lr": 0.5, "lr_c": 2.0}
    specs = [OptimizerSpec("ab", ("a", "b"), "lr", 1e-4), OptimizerSpec("c", ("c",), "lr_c", milestone_delay=1)]
    optimizers, schedulers = build_solver(specs, nets, cfg, "train_avd")
    assert len(optimizers["ab"]._parameter_list) == 4 and len(optimizers["c"]._parameter_list) == 2
    assert optimizers["ab"].regularization._coeff == pytest.approx(1e-4) and optimizers["c"].regularization is None
    rates = {name: [] for name in schedulers}
    for _ in range(3):
        for name, sched in schedulers.items():
            rates[name].append(sched.get_lr())
            sched.step()
    assert rates["ab"] == pytest.approx([0.5, 0.05, 0.05]) and rates["c"] == pytest.approx([2.0, 2.0, 0.2])


def test_solver_errors_name_the_section():
    import paddle
    from ppgan.solver import OptimizerSpec, build_solver
    spec = [OptimizerSpec("a", ("a",), "lr")]
    with pytest.raises(ConfigError, match="train_avd.lr"):
        build_solver(spec, {"a": paddle.nn.Linear(2, 2)}, {"epoch_milestones": [], "num_epochs": 1, "lr": 0},
                     "train_avd")
    with pytest.raises(ConfigError, match="train_avd.epoch_milestones"):
        build_solver(spec, {"a": paddle.nn.Linear(2, 2)}, {"epoch_milestones": [2, 1], "num_epochs": 1, "lr": 1},
                     "train_avd")
