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
