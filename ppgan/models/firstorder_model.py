"""Training logic of the first order motion model: the generator and discriminator objectives.

`FirstOrderModel.generator_losses` is the original's GeneratorFullModel (keypoints of source,
driving and a randomly warped driving frame; reconstruction, adversarial, feature matching and
equivariance losses), `discriminator_losses` its DiscriminatorFullModel. Each loss is switched
on by a non-zero weight in `train.loss_weights`.
"""
import contextlib
import math

import paddle

from ppgan.models.builder import DISCRIMINATORS, GENERATORS, MODELS, build_nets, common_params
from ppgan.models.criterions import (PerceptualPyramidLoss, PixelPyramidLoss, Vgg19, equivariance_jacobian_loss,
                                     equivariance_value_loss, feature_matching_loss, load_vgg19_weights,
                                     lsgan_discriminator_loss, lsgan_generator_loss)
from ppgan.modules.antialias import ImagePyramide
from ppgan.modules.builder import KP_DETECTORS
from ppgan.modules.geometry import RandomTransform
from ppgan.utils.errors import ConfigError, PPGanError


class TrainingDiverged(PPGanError):
    """A loss became NaN or infinite."""


def check_frame_size(kp_detector, generator, frame_shape):
    """Run the nets once on a blank frame of `frame_shape` (H, W, C); a size they cannot process is a ConfigError.

    The hourglasses halve the (scaled) frame once per block and join the halves back, so each side must
    divide evenly; trying is the one check that stays exact for every architecture.
    """
    height, width = int(frame_shape[0]), int(frame_shape[1])
    frame = paddle.zeros([1, int(frame_shape[2]), height, width])
    modes = [(net, net.training) for net in (kp_detector, generator)]
    try:
        for net, _ in modes:
            net.eval()
        with paddle.no_grad():
            kp = kp_detector(frame)
            generator(frame, kp_source=kp, kp_driving=kp)
    except (ValueError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError("the model cannot process %dx%d frames (%s); use sides that the keypoint and dense motion "
                          "hourglasses can halve once per block after their scale_factor, e.g. 64, 128 or 256"
                          % (height, width, first), "dataset.frame_shape") from None
    finally:
        for net, training in modes:
            net.train() if training else net.eval()


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
    config_sections = {}  # the defaults of ppgan.utils.config.SECTIONS are this family's

    @staticmethod
    def animation_nets(nets):
        """(keypoint detector, frame generator) of built nets, for evaluation and animation."""
        return nets["kp_detector"], nets["generator"]

    def __init__(self, config, vgg=None):
        model_cfg, train = config["model"], config["train"]
        nets = build_nets(model_cfg)
        self.kp_detector = nets["kp_detector"]
        self.generator = nets["generator"]
        self.discriminator = nets["discriminator"]
        common = common_params(model_cfg)
        self.align_corners = common["align_corners"]
        self.scales = list(train["scales"])
        self.transform_params = dict(train["transform_params"])
        self.loss_weights = weights = train["loss_weights"]
        self.pyramid = ImagePyramide(self.scales, common["num_channels"])

        self.perceptual = None
        if any(weights["perceptual"]):
            if vgg is None:
                vgg = Vgg19()
                vgg.set_weights(load_vgg19_weights(train["vgg19_weights"]))
            self.perceptual = PerceptualPyramidLoss(self.scales, weights["perceptual"], vgg)
        self.pixel = PixelPyramidLoss(self.scales, weights["pixel"]) if weights["pixel"] else None

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
        if not (self.perceptual or self.pixel):
            raise ConfigError("no reconstruction loss: set loss_weights.perceptual (with train.vgg19_weights) "
                              "or loss_weights.pixel", "train.loss_weights")

    @property
    def nets(self):
        """{name: net} of the trained nets (the discriminator only if it is used)."""
        nets = {"kp_detector": self.kp_detector, "generator": self.generator}
        if self.discriminator is not None:
            nets["discriminator"] = self.discriminator
        return nets

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

    def generator_losses(self, source, driving, transform=None):
        """Losses of keypoint detector + generator on a (source, driving) batch.

        Returns ({name: scalar}, generated) where `generated` holds the generator outputs plus
        `kp_source`, `kp_driving` and, with equivariance, `transformed_frame` / `transformed_kp`.
        """
        w = self.loss_weights
        kp_source = self.kp_detector(source)
        kp_driving = self.kp_detector(driving)
        generated = self.generator(source, kp_source=kp_source, kp_driving=kp_driving)
        generated.update(kp_source=kp_source, kp_driving=kp_driving)

        losses = {}
        pyramid_real = self.pyramid(driving)
        pyramid_generated = self.pyramid(generated["prediction"])
        if self.perceptual is not None:
            losses["perceptual"] = self.perceptual(pyramid_generated, pyramid_real)
        if self.pixel is not None:
            losses["pixel"] = self.pixel(pyramid_generated, pyramid_real)

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

    def train_iter(self, batch, optimizers, reduce_gradients=None, scaler=None):
        """One optimisation step of the original's schedule; returns {loss name: float}.

        Generator and keypoint detector step on the sum of their losses, then (if it is trained) the
        discriminator on its own. `reduce_gradients(params)` averages gradients across processes.
        A NaN/inf loss raises :class:`TrainingDiverged` before any weight is changed.
        """
        source, driving = batch["source"], batch["driving"]
        with _autocast(scaler):
            try:
                losses, generated = self.generator_losses(source, driving)
            except ValueError as e:
                if "invertible" not in str(e):
                    raise
                raise TrainingDiverged("the keypoint jacobians became singular or NaN; training stopped before the "
                                       "weights were updated. Lower the learning rates or check the data") from None
        values = _check_finite(losses)
        _backward_and_step(sum(losses.values()), [optimizers["generator"], optimizers["kp_detector"]],
                           [self.generator, self.kp_detector], reduce_gradients, scaler)
        if self.trains_discriminator:
            optimizers["discriminator"].clear_grad()
            with _autocast(scaler):
                disc_losses = self.discriminator_losses(driving, generated)
            values.update(_check_finite(disc_losses))
            _backward_and_step(sum(disc_losses.values()), [optimizers["discriminator"]], [self.discriminator],
                               reduce_gradients, scaler)
        return values, generated


def _autocast(scaler):
    if scaler is None:
        return contextlib.nullcontext()
    return paddle.amp.auto_cast(level="O1")


def _check_finite(losses):
    values = {name: float(value) for name, value in losses.items()}
    bad = [name for name, value in values.items() if not math.isfinite(value)]
    if bad:
        raise TrainingDiverged("loss %s is %s; training stopped before the step that would use it. Lower the "
                               "learning rates or check the data" % (", ".join(bad), values[bad[0]]))
    return values


def _backward_and_step(loss, optimizers, nets, reduce_gradients, scaler):
    if scaler is not None:
        scaler.scale(loss).backward()
    else:
        loss.backward()
    if reduce_gradients is not None:
        reduce_gradients([p for net in nets for p in net.parameters()])
    for optimizer in optimizers:
        if scaler is not None:
            scaler.step(optimizer)
        else:
            optimizer.step()
        optimizer.clear_grad()
    if scaler is not None:
        scaler.update()
