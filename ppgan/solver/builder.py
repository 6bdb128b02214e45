"""Adam optimizers and epoch-milestone schedules, as a model family declares them (:class:`OptimizerSpec`)."""
from collections import namedtuple

import paddle

from ppgan.utils.errors import ConfigError

BETAS = (0.5, 0.999)
LR_KEYS = {"generator": "lr_generator", "kp_detector": "lr_kp_detector", "discriminator": "lr_discriminator"}

OptimizerSpec = namedtuple("OptimizerSpec", "name nets lr_key weight_decay milestone_delay", defaults=(0.0, 0))
OptimizerSpec.__doc__ = """One Adam(betas 0.5, 0.999) of a training model and its learning-rate schedule.

name: the optimizer's name (checkpoint keys `optimizer_<name>`, `scheduler_<name>`); nets: the names of the
nets whose trainable parameters it updates; lr_key: the key of its learning rate in the training section;
weight_decay: L2 coefficient added to the gradients before the Adam moments (torch's coupled `weight_decay`);
milestone_delay: epochs by which the rate drops after each milestone (1 for a schedule stepped with the epoch
just finished, as the original's `scheduler.step(epoch)`)."""


def check_milestones(train_cfg, section="train"):
    """`epoch_milestones` of a training section: increasing positive epoch numbers."""
    milestones = list(train_cfg["epoch_milestones"] or [])
    if any(not isinstance(m, int) or isinstance(m, bool) or m <= 0 for m in milestones) \
            or milestones != sorted(milestones):
        raise ConfigError("must be increasing positive epoch numbers, got %r" % (milestones,),
                          section + ".epoch_milestones")
    return milestones


def build_scheduler(train_cfg, lr_key, section="train", milestone_delay=0):
    """MultiStepDecay from `<section>.<lr_key>`, divided by 10 at each of `<section>.epoch_milestones`
    (shifted by `milestone_delay`); stepped once per epoch, so milestones count real epochs."""
    milestones = [m + milestone_delay for m in check_milestones(train_cfg, section)]
    lr = train_cfg[lr_key]
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or lr <= 0:
        raise ConfigError("must be a positive number, got %r" % (lr,), "%s.%s" % (section, lr_key))
    # MultiStepDecay needs at least one milestone; one past the last epoch never fires.
    steps = milestones or [train_cfg["num_epochs"] + 1]
    return paddle.optimizer.lr.MultiStepDecay(float(lr), milestones=steps, gamma=0.1)


def build_optimizer(parameters, scheduler, weight_decay=0.0):
    """Adam(betas 0.5, 0.999) over the trainable `parameters`; `weight_decay` as torch's (L2 on the gradient)."""
    decay = paddle.regularizer.L2Decay(float(weight_decay)) if weight_decay else None
    return paddle.optimizer.Adam(learning_rate=scheduler, beta1=BETAS[0], beta2=BETAS[1], weight_decay=decay,
                                 parameters=[p for p in parameters if not p.stop_gradient])


def build_schedulers(train_cfg, names):
    """{net: MultiStepDecay} of the first order model's nets, from `train.lr_<net>` (see :func:`build_scheduler`)."""
    check_milestones(train_cfg)
    return {name: build_scheduler(train_cfg, LR_KEYS[name]) for name in names}


def build_optimizers(nets, schedulers):
    """{net: Adam(betas 0.5, 0.999)} over each net's trainable parameters, one per scheduler."""
    return {name: build_optimizer(nets[name].parameters(), schedulers[name]) for name in schedulers}


def build_solver(specs, nets, train_cfg, section="train"):
    """(optimizers, schedulers), each {spec.name: ...}, for a model's :class:`OptimizerSpec` list; `nets` is
    {name: Layer} and `train_cfg` the training section named `section`."""
    check_milestones(train_cfg, section)
    optimizers, schedulers = {}, {}
    for spec in specs:
        schedulers[spec.name] = build_scheduler(train_cfg, spec.lr_key, section, spec.milestone_delay)
        parameters = [p for net in spec.nets for p in nets[net].parameters()]
        optimizers[spec.name] = build_optimizer(parameters, schedulers[spec.name], spec.weight_decay)
    return optimizers, schedulers
