"""PaddleGAN's staged training of a small first order model (its FirstOrderModelMobile, `model.mode`) as training
stages of the first order family: `tools/main.py --stage kp_detector | generator | both`.

The config's `model` nets are the student (e.g. configs/firstorder_vox_mobile_256.yaml's mobile nets); the
`distill` section names the teacher, a trained full model (`teacher`: its kp_detector and generator configs,
sharing `model.common`; `teacher_weights`: its weights, e.g. PaddleGAN's vox-cpk.pdparams or the original's
vox-cpk.pth.tar). Every stage trains on the first order model's own losses (FOMM paper, Sec. 3.4: perceptual
reconstruction, adversarial and feature matching, equivariance), as PaddleGAN's stages do:

* `kp_detector`: the student keypoint detector drives the teacher's frozen generator, so it learns keypoints
  that the full generator animates well;
* `generator`: the student generator animates with the teacher's frozen keypoint detector (the equivariance
  losses, which only train keypoint detectors, are left out);
* `both`: the student's two nets, starting from the checkpoints of the first two stages
  (`distill.kp_detector_weights`, `distill.generator_weights`: PaddleGAN's kp_weight_path, gen_weight_path),
  trained together as in the original's training.

A frozen teacher net stays in inference mode (its BatchNorm uses the trained statistics; PaddleGAN leaves it in
training mode). The discriminator, when the adversarial loss is on, is trained in every stage. Checkpoints hold
the stage's `kp_detector` and `generator` (in the first two stages, one of them the teacher's: a complete model)
and the discriminator. Nothing is downloaded: a missing teacher is a ConfigError.
"""
import os

from ppgan.models.builder import build_net, build_nets, check_model_config
from ppgan.models.firstorder_model import FirstOrderModel
from ppgan.utils.checkpoint import load_weights, read_weights
from ppgan.utils.errors import ConfigError

TEACHER_NETS = ("kp_detector", "generator")
WEIGHT_KEYS = ("teacher_weights", "kp_detector_weights", "generator_weights")


def teacher_model_config(config):
    """The teacher as a `model` section: `distill.teacher`'s nets with the student's `model.common`."""
    teacher = config["distill"]["teacher"]
    if not isinstance(teacher, dict):
        raise ConfigError("must be a mapping with the full model's kp_detector and generator (net configs as in "
                          "`model`), got %r" % (teacher,), "distill.teacher")
    for key in teacher:
        if key not in TEACHER_NETS:
            raise ConfigError("unknown key; accepted: %s" % ", ".join(TEACHER_NETS), "distill.teacher." + key)
    model = {"common": config["model"].get("common") or {}}
    model.update({key: teacher.get(key) for key in TEACHER_NETS})
    return model


def check_distill_section(config):
    """Check `distill` in a validated config: the teacher's net configs (when given) and the weight paths."""
    distill = config["distill"]
    for key in WEIGHT_KEYS:
        if distill[key] is not None and not isinstance(distill[key], str):
            raise ConfigError("must be the path of a weights file or null, got %r" % (distill[key],), "distill." + key)
    if distill["teacher"] is None:
        return
    model = teacher_model_config(config)
    try:
        check_model_config(model)
    except ConfigError as e:
        if e.key_path and e.key_path.startswith("model."):
            raise ConfigError(e.detail, "distill.teacher." + e.key_path[len("model."):]) from None
        raise


def _read(config, key, hint):
    """The weights file `distill.<key>` names, read; a missing file is a ConfigError saying `hint`."""
    path = config["distill"][key]
    if not os.path.isfile(path):
        raise ConfigError("'%s' is not a weights file: %s" % (path, hint), "distill." + key)
    return path, read_weights(path)


def _freeze(net):
    for p in net.parameters():
        p.stop_gradient = True
    net.eval()
    return net


def load_teacher_net(config, name, stage):
    """The teacher's net `name` (kp_detector or generator), built from `distill.teacher`, loaded from
    `distill.teacher_weights` and frozen."""
    distill = config["distill"]
    what = "keypoint detector" if name == "kp_detector" else "generator"
    if distill["teacher"] is None:
        raise ConfigError("the %s stage trains against the %s of a trained full model: describe that model here "
                          "({kp_detector: ..., generator: ...}, e.g. configs/firstorder_vox_256.yaml's nets)"
                          % (stage, what), "distill.teacher")
    path = distill["teacher_weights"]
    if path is None:
        raise ConfigError("the %s stage trains against the frozen %s of a trained full model: give its weights, "
                          "e.g. -o distill.teacher_weights=vox-cpk.pdparams (PaddleGAN's) or vox-cpk.pth.tar (the "
                          "original's); nothing is downloaded" % (stage, what), "distill.teacher_weights")
    path, weights = _read(config, "teacher_weights", "give the trained full model's weights (the nets of "
                          "distill.teacher), e.g. PaddleGAN's vox-cpk.pdparams or the original's vox-cpk.pth.tar")
    net = build_net(teacher_model_config(config), name)
    load_weights({name: net}, weights, "the teacher weights in '%s' (distill.teacher_weights)" % path)
    return _freeze(net)


class _FrozenTeacherStage(FirstOrderModel):
    """A student net trained with the teacher's other net frozen (`frozen`)."""

    frozen = None

    def build_nets(self, config):
        nets = build_nets(config["model"], [s for s in self.net_sections if s != self.frozen])
        nets[self.frozen] = load_teacher_net(config, self.frozen, self.stage_name)
        return nets

    def train(self):
        """The trained nets in training mode, the teacher's frozen net in inference mode."""
        for name, net in self.nets.items():
            net.eval() if name == self.frozen else net.train()


class DistillKPDetectorStage(_FrozenTeacherStage):
    """Stage `kp_detector` (PaddleGAN's mode kp_detector): the student keypoint detector drives the teacher's
    frozen generator; every loss of the original's training (reconstruction through that generator, adversarial,
    feature matching, equivariance) trains the keypoint detector (and the discriminator)."""

    stage_name = "kp_detector"
    frozen = "generator"
    trained_nets = ("kp_detector",)

    def describe(self):
        return "student keypoint detector, teacher's generator frozen; %s" % super().describe()


class DistillGeneratorStage(_FrozenTeacherStage):
    """Stage `generator` (PaddleGAN's mode generator): the student generator animates with the teacher's frozen
    keypoint detector; reconstruction, adversarial and feature matching losses train it (and the discriminator).
    The equivariance losses are left out: they depend on the frozen keypoint detector only."""

    stage_name = "generator"
    frozen = "kp_detector"
    trained_nets = ("generator",)

    def __init__(self, config, vgg=None):
        super().__init__(config, vgg)
        self.loss_weights = dict(self.loss_weights, equivariance_value=0, equivariance_jacobian=0)

    def describe(self):
        return "student generator, teacher's keypoint detector frozen; %s" % super().describe()


class DistillBothStage(FirstOrderModel):
    """Stage `both` (PaddleGAN's mode both): the student's keypoint detector and generator, loaded from the
    checkpoints of the `kp_detector` and `generator` stages (`distill.kp_detector_weights`,
    `distill.generator_weights`), trained together on the original's losses."""

    stage_name = "both"

    def build_nets(self, config):
        nets = super().build_nets(config)
        for name in TEACHER_NETS:
            key = name + "_weights"
            hint = ("the both stage starts from the %s stage's checkpoint: train that stage first (tools/main.py -c "
                    "<config> --stage %s) or give its checkpoint, e.g. -o distill.%s=output/<config name>_%s/"
                    "checkpoints/checkpoint.pdparams" % (name, name, key, name))
            if config["distill"][key] is None:
                raise ConfigError(hint, "distill." + key)
            path, weights = _read(config, key, hint)
            load_weights({name: nets[name]}, weights, "the %s in '%s' (distill.%s; the %s stage's checkpoint)"
                         % (name, path, key, name))
        return nets

    def describe(self):
        return "student keypoint detector and generator from the first two stages; %s" % super().describe()


DISTILLATION_STAGES = {"kp_detector": DistillKPDetectorStage, "generator": DistillGeneratorStage,
                       "both": DistillBothStage}
