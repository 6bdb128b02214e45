"""Training logic of the first order motion model: the generator and discriminator objectives.

`FirstOrderModel.generator_losses` is the original's GeneratorFullModel (keypoints of source,
driving and a randomly warped driving frame; reconstruction, adversarial, feature matching and
equivariance losses), `discriminator_losses` its DiscriminatorFullModel. Each loss is switched
on by a non-zero weight in `train.loss_weights`. PaddleGAN's staged distillation of a small model from a
full one (its FirstOrderModelMobile) adds the stages of ppgan.models.firstorder_distill (`distill` section).
"""
from ppgan.models.builder import DISCRIMINATORS, GENERATORS, MODELS, build_nets, common_params
from ppgan.models.criterions import (equivariance_jacobian_loss, equivariance_value_loss, feature_matching_loss,
                                     lsgan_discriminator_loss, lsgan_generator_loss)
from ppgan.models.training import (LandmarkLoss, ReconstructionLoss, TrainingDiverged,  # noqa: F401
                                   autocast, backward_and_step, check_finite, check_frame_size)
from ppgan.modules.antialias import ImagePyramide
from ppgan.modules.builder import KP_DETECTORS
from ppgan.modules.geometry import movement_scale, normalize_kp, RandomTransform
from ppgan.solver.builder import LR_KEYS, OptimizerSpec
from ppgan.utils.errors import ConfigError


# The staged distillation's options (ppgan.models.firstorder_distill): the teacher's nets ({kp_detector, generator}:
# net configs as in `model`, sharing `model.common`) and weights, and the two stages' checkpoints the `both` stage
# starts from.
DISTILL_SECTION = {"teacher": None, "teacher_weights": None, "kp_detector_weights": None, "generator_weights": None}


def detach_kp(kp):
    """The keypoint dict with gradients cut (the discriminator must not move the keypoints)."""
    return {key: value.detach() for key, value in kp.items()}


@MODELS.register()
class FirstOrderModel:
    """The nets (`kp_detector`, `generator`, `discriminator`) and their training objectives.

    `vgg` may be given (a :class:`Vgg19` with weights set); otherwise the perceptual loss reads
    `train.vgg19_weights`.
    """

    common_keys = {"num_kp": 10, "num_channels": 3, "estimate_jacobian": True, "align_corners": True}
    net_sections = {
        "kp_detector": (KP_DETECTORS, ("num_kp", "num_channels", "estimate_jacobian")),
        "generator": (GENERATORS, ("num_kp", "num_channels", "align_corners")),
        "discriminator": (DISCRIMINATORS, ("num_kp", "num_channels")),
    }
    required_sections = ("kp_detector", "generator")
    inference_sections = ("kp_detector", "generator")
    # the defaults of ppgan.utils.config.SECTIONS are this family's; it adds the distillation's
    config_sections = {"distill": DISTILL_SECTION}

    train_section = "train"    # the config section of the training schedule
    requires_weights = None    # training may start from random weights
    trained_nets = ("generator", "kp_detector")  # the nets the generator losses train (besides the discriminator)

    @staticmethod
    def animation_nets(nets):
        """(keypoint detector, frame generator) of built nets, for evaluation and animation."""
        return nets["kp_detector"], nets["generator"]

    @classmethod
    def training_stages(cls):
        """{stage name: training model class}: the original's `train`, and PaddleGAN's staged distillation
        `kp_detector`, `generator`, `both` (ppgan.models.firstorder_distill)."""
        from ppgan.models.firstorder_distill import DISTILLATION_STAGES
        return dict({"train": cls}, **DISTILLATION_STAGES)

    @staticmethod
    def check_config(config):
        """Check the `distill` section of a validated config (the teacher's net configs, the weight paths)."""
        from ppgan.models.firstorder_distill import check_distill_section
        check_distill_section(config)

    @staticmethod
    def evaluation_sections(animate_cfg):
        """The nets evaluation builds and loads."""
        return ("kp_detector", "generator")

    @staticmethod
    def background_predictor(nets, loaded):
        """The background predictor the reconstruction of test videos applies: none (the model has no such net)."""
        return None

    @staticmethod
    def keypoint_normalizer(animate_cfg, nets):
        """How evaluation moves the source keypoints by the driving video: `animate.normalization_params`."""
        return KeypointNormalizer(animate_cfg["normalization_params"])

    def __init__(self, config, vgg=None):
        model_cfg, train = config["model"], config["train"]
        nets = self.build_nets(config)
        self.kp_detector = nets["kp_detector"]
        self.generator = nets["generator"]
        self.discriminator = nets["discriminator"]
        common = common_params(model_cfg)
        self.align_corners = common["align_corners"]
        self.scales = list(train["scales"])
        self.transform_params = dict(train["transform_params"])
        self.loss_weights = weights = train["loss_weights"]
        self.reconstruction = ReconstructionLoss(train, common["num_channels"], vgg, config.get("dataset"))
        self.landmark_loss = LandmarkLoss(train, common["num_kp"], config.get("dataset"))
        self.pyramid = self.reconstruction.pyramid

        # As in the original, the discriminator (and feature matching on its features) is used only with the
        # adversarial loss, and it is trained only then.
        self.uses_discriminator = bool(weights["generator_gan"])
        self.trains_discriminator = self.uses_discriminator and bool(weights["discriminator_gan"])
        if any(weights["feature_matching"]) and not self.uses_discriminator:
            raise ConfigError("feature matching compares discriminator features, which are only trained with the "
                              "adversarial loss: set train.loss_weights.generator_gan non-zero or feature_matching "
                              "to zeros", "train.loss_weights.feature_matching")
        if self.uses_discriminator:
            if self.discriminator is None:
                raise ConfigError("generator_gan is non-zero but model.discriminator is missing; add a "
                                  "discriminator or set generator_gan to 0", "train.loss_weights.generator_gan")
            missing = [s for s in self.discriminator.scales if s not in self.scales]
            if missing:
                raise ConfigError("discriminator scales %s must be among train.scales %s" % (missing, self.scales),
                                  "model.discriminator.scales")
            self.disc_pyramid = ImagePyramide(self.discriminator.scales, common["num_channels"])
        if weights["equivariance_jacobian"] and not common["estimate_jacobian"]:
            raise ConfigError("equivariance_jacobian needs jacobians: set model.common.estimate_jacobian: true "
                              "or the weight to 0", "train.loss_weights.equivariance_jacobian")

    def build_nets(self, config):
        """{section: net} of the nets this training model holds: the config's `model` nets."""
        return build_nets(config["model"])

    @property
    def nets(self):
        """{name: net} of the trained nets (the discriminator only if it is used)."""
        nets = {"kp_detector": self.kp_detector, "generator": self.generator}
        if self.discriminator is not None:
            nets["discriminator"] = self.discriminator
        return nets

    def optimizer_specs(self):
        """One Adam per trained net, each with its own `train.lr_<net>`."""
        names = [n for n in ("kp_detector", "generator") if n in self.trained_nets]
        names += ["discriminator"] if self.trains_discriminator else []
        return [OptimizerSpec(name, (name,), LR_KEYS[name]) for name in names]

    def describe(self):
        """What this run trains, for the log's first line."""
        return "discriminator %s" % ("trained" if self.trains_discriminator else "not used")

    def visuals(self, batch, generated):
        """(source, driving, outputs) of the training picture: the last batch and its outputs."""
        return batch["source"], batch["driving"], generated

    def train(self):
        """Put the nets in training mode (batch statistics, spectral-norm power iterations)."""
        for net in self.nets.values():
            net.train()

    def eval(self):
        """Put the nets in inference mode (running statistics, stored spectral-norm vectors)."""
        for net in self.nets.values():
            net.eval()

    def sample_transform(self, batch_size):
        """Draw the random affine + TPS transform of the equivariance losses."""
        return RandomTransform.sample(batch_size, align_corners=self.align_corners, **self.transform_params)

    def generator_losses(self, source, driving, transform=None, region=None, landmarks=(None, None)):
        """Losses of keypoint detector + generator on a (source, driving) batch (`region`: the driving frames'
        region maps, for the region loss; `landmarks`: (source's, driving's) (B, N, 2), for the landmark loss).

        Returns ({name: scalar}, generated) where `generated` holds the generator outputs plus
        `kp_source`, `kp_driving` and, with equivariance, `transformed_frame` / `transformed_kp`.
        """
        w = self.loss_weights
        kp_source = self.kp_detector(source)
        kp_driving = self.kp_detector(driving)
        generated = self.generator(source, kp_source=kp_source, kp_driving=kp_driving)
        generated.update(kp_source=kp_source, kp_driving=kp_driving)

        losses, pyramid_generated, pyramid_real = self.reconstruction(generated["prediction"], driving, region)
        if self.landmark_loss:
            losses["landmark"] = self.landmark_loss([(kp_source["value"], landmarks[0]),
                                                     (kp_driving["value"], landmarks[1])])

        if self.uses_discriminator:
            kp = detach_kp(kp_driving)
            maps_generated = self.discriminator(pyramid_generated, kp=kp)
            maps_real = self.discriminator(pyramid_real, kp=kp)
            scales = self.discriminator.scales
            if w["generator_gan"]:
                losses["gen_gan"] = lsgan_generator_loss(maps_generated, scales, w["generator_gan"])
            if any(w["feature_matching"]):
                losses["feature_matching"] = feature_matching_loss(maps_real, maps_generated, scales,
                                                                   w["feature_matching"])

        if w["equivariance_value"] or w["equivariance_jacobian"]:
            if transform is None:
                transform = self.sample_transform(driving.shape[0])
            transformed_frame = transform.transform_frame(driving)
            transformed_kp = self.kp_detector(transformed_frame)
            generated.update(transformed_frame=transformed_frame, transformed_kp=transformed_kp)
            if w["equivariance_value"]:
                losses["equivariance_value"] = equivariance_value_loss(
                    kp_driving, transformed_kp, transform, w["equivariance_value"])
            if w["equivariance_jacobian"]:
                losses["equivariance_jacobian"] = equivariance_jacobian_loss(
                    kp_driving, transformed_kp, transform, w["equivariance_jacobian"])
        return losses, generated

    def discriminator_losses(self, driving, generated):
        """LSGAN discriminator loss on the real frame and the (detached) prediction."""
        kp = detach_kp(generated["kp_driving"])
        maps_generated = self.discriminator(self.disc_pyramid(generated["prediction"].detach()), kp=kp)
        maps_real = self.discriminator(self.disc_pyramid(driving), kp=kp)
        return {"disc_gan": lsgan_discriminator_loss(maps_real, maps_generated, self.discriminator.scales,
                                                     self.loss_weights["discriminator_gan"])}

    def train_iter(self, batch, optimizers, reduce_gradients=None, scaler=None, epoch=None):
        """One optimisation step of the original's schedule (the same at every `epoch`); returns
        ({loss name: float}, generated).

        The `trained_nets` (generator and keypoint detector) step on the sum of their losses, then (if it is
        trained) the discriminator on its own. `reduce_gradients(params)` averages gradients across processes.
        A NaN/inf loss raises :class:`TrainingDiverged` before any weight is changed.
        """
        source, driving = batch["source"], batch["driving"]
        with autocast(scaler):
            try:
                losses, generated = self.generator_losses(
                    source, driving, region=batch.get("driving_region"),
                    landmarks=(batch.get("source_landmarks"), batch.get("driving_landmarks")))
            except ValueError as e:
                if "invertible" not in str(e):
                    raise
                raise TrainingDiverged("the keypoint jacobians became singular or NaN; training stopped before the "
                                       "weights were updated. Lower the learning rates or check the data") from None
        values = check_finite(losses)
        backward_and_step(sum(losses.values()), [optimizers[name] for name in self.trained_nets],
                          [getattr(self, name) for name in self.trained_nets], reduce_gradients, scaler)
        if self.trains_discriminator:
            optimizers["discriminator"].clear_grad()
            with autocast(scaler):
                disc_losses = self.discriminator_losses(driving, generated)
            values.update(check_finite(disc_losses))
            backward_and_step(sum(disc_losses.values()), [optimizers["discriminator"]], [self.discriminator],
                              reduce_gradients, scaler)
        return values, generated


class KeypointNormalizer:
    """The original's keypoint normalisation for animation (`normalize_kp`, paper Sec. 3.3): relative movement
    and jacobians, the movement scaled by the ratio of the keypoints' convex hull areas with
    `adapt_movement_scale`."""

    def __init__(self, normalization_params):
        self.params = dict(normalization_params)

    def scale(self, kp_source, kp_initial):
        """The movement scale of a (source, initial driving frame) pair."""
        if not self.params["adapt_movement_scale"]:
            return 1.0
        return movement_scale(kp_source["value"].numpy(), kp_initial["value"].numpy())

    def __call__(self, kp_source, kp_driving, kp_initial, scale):
        """The driving keypoints to animate with (dicts of equal batch size)."""
        return normalize_kp(kp_source, kp_driving, kp_initial, self.params["use_relative_movement"],
                            self.params["use_relative_jacobian"], scale)
