"""One Adam optimizer and one epoch-milestone schedule per trained net."""
import paddle

from ppgan.utils.errors import ConfigError

BETAS = (0.5, 0.999)
LR_KEYS = {"generator": "lr_generator", "kp_detector": "lr_kp_detector", "discriminator": "lr_discriminator"}


def build_schedulers(train_cfg, names):
    """{net: MultiStepDecay} dividing the learning rate by 10 at each of `train.epoch_milestones`.

    The schedules are stepped once per epoch, so milestones count real epochs.
    """
    milestones = list(train_cfg["epoch_milestones"] or [])
    if any(not isinstance(m, int) or m <= 0 for m in milestones) or milestones != sorted(milestones):
        raise ConfigError("must be increasing positive epoch numbers, got %r" % (milestones,), "train.epoch_milestones")
    schedulers = {}
    for name in names:
        lr = train_cfg[LR_KEYS[name]]
        if not isinstance(lr, (int, float)) or lr <= 0:
            raise ConfigError("must be a positive number, got %r" % (lr,), "train." + LR_KEYS[name])
        # MultiStepDecay needs at least one milestone; one past the last epoch never fires.
        steps = milestones or [train_cfg["num_epochs"] + 1]
        schedulers[name] = paddle.optimizer.lr.MultiStepDecay(float(lr), milestones=steps, gamma=0.1)
    return schedulers


def build_optimizers(nets, schedulers):
    """{net: Adam(betas 0.5, 0.999)} over each net's trainable parameters."""
    return {name: paddle.optimizer.Adam(learning_rate=schedulers[name], beta1=BETAS[0], beta2=BETAS[1],
                                        parameters=[p for p in nets[name].parameters() if not p.stop_gradient])
            for name in schedulers}
