"""What the training models of every family share: the divergence error, the frame-size check, finite-loss
checks, gradient clipping, and one backward pass followed by optimiser steps (with gradient averaging across
processes and optional mixed precision).

A family's training model (registered in MODELS, built by :func:`ppgan.models.build_model`) offers the trainer:
`train_section` (the config section of its schedule), `nets` (what checkpoints hold), `optimizer_specs()`,
`train_iter(batch, optimizers, reduce_gradients, scaler, epoch)`, `train()` / `eval()`, `describe()`,
`visuals(batch, generated)`, `animation_nets(nets)` and `requires_weights` (None, or why the stage cannot
start from random weights).
"""
import contextlib
import math

import paddle

from ppgan.modules.antialias import ImagePyramide
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


class ReconstructionLoss:
    """The reconstruction losses of both families on image pyramids (FOMM paper, Sec. 3.4; TPSMM, Sec. 3.5):
    the perceptual pyramid loss (VGG19 features; `vgg`, or the weights of train.vgg19_weights) and/or the pixel
    pyramid L1, and optionally the L1 of the image gradients and the pixel L1 inside the driving frame's region map
    on the same pyramid (neither in the papers), switched on by their weights in `train.loss_weights`. Holds
    `pyramid`, `perceptual`, `pixel`, `gradient`, `region`."""

    def __init__(self, train_cfg, num_channels, vgg=None, dataset_cfg=None):
        from ppgan.models.criterions import (GradientPyramidLoss, PerceptualPyramidLoss, PixelPyramidLoss,
                                             RegionPyramidLoss, Vgg19, load_vgg19_weights)

        scales, weights = list(train_cfg["scales"]), train_cfg["loss_weights"]
        self.pyramid = ImagePyramide(scales, num_channels)
        self.perceptual = None
        if any(weights["perceptual"]):
            if vgg is None:
                vgg = Vgg19()
                vgg.set_weights(load_vgg19_weights(train_cfg["vgg19_weights"]))
            self.perceptual = PerceptualPyramidLoss(scales, weights["perceptual"], vgg)
        self.pixel = PixelPyramidLoss(scales, weights["pixel"]) if weights["pixel"] else None
        self.gradient = GradientPyramidLoss(scales, weights["gradient"]) if weights["gradient"] else None
        self.region = RegionPyramidLoss(scales, weights["region"]) if weights["region"] else None
        self.region_pyramid = ImagePyramide(scales, 1) if self.region else None
        if self.region and dataset_cfg is not None and not dataset_cfg.get("region_dir"):
            raise ConfigError("is non-zero but dataset.region_dir is not set; point it at the region maps of the "
                              "training videos (python tools/make_synthetic_dataset.py --regions writes them) or "
                              "set the weight to 0", "train.loss_weights.region")
        if not (self.perceptual or self.pixel):
            raise ConfigError("no reconstruction loss: set loss_weights.perceptual (with train.vgg19_weights) "
                              "or loss_weights.pixel", "train.loss_weights")

    def __call__(self, prediction, target, region=None):
        """({'perceptual', 'pixel', 'gradient', 'region'}: the losses switched on, pyramid of the prediction, pyramid
        of the target). `region`: the (B, 1, H, W) region map of the target, needed by the region loss."""
        pyramid_generated, pyramid_real = self.pyramid(prediction), self.pyramid(target)
        losses = {}
        if self.perceptual is not None:
            losses["perceptual"] = self.perceptual(pyramid_generated, pyramid_real)
        if self.pixel is not None:
            losses["pixel"] = self.pixel(pyramid_generated, pyramid_real)
        if self.gradient is not None:
            losses["gradient"] = self.gradient(pyramid_generated, pyramid_real)
        if self.region is not None:
            if region is None:
                raise ConfigError("the region loss needs the region maps of the training frames: set "
                                  "dataset.region_dir (python tools/make_synthetic_dataset.py --regions writes them), "
                                  "or set the weight to 0", "train.loss_weights.region")
            losses["region"] = self.region(pyramid_generated, pyramid_real, self.region_pyramid(region))
        return losses, pyramid_generated, pyramid_real


class LandmarkLoss:
    """w mean_i |p_{k_i} - l_i|: keypoint k_i (`train.landmark_keypoints[i]`) of a frame pulled to its landmark l_i
    (the dataset's `landmark_dir`), over the known landmarks (not NaN) of source and driving frames; a null k_i
    leaves landmark i out. Not in either paper, whose keypoints are unsupervised: it gives chosen keypoints a place
    that moves with an expression (an upper lid, the lower lip), so that the motion they carry to another face
    includes the expression."""

    def __init__(self, train_cfg, num_keypoints, dataset_cfg=None):
        self.weight = train_cfg["loss_weights"]["landmark"]
        indices = train_cfg["landmark_keypoints"]
        self.indices = None
        if not self.weight:
            return
        chosen = [i for i in indices if i is not None] if isinstance(indices, (list, tuple)) else []
        if (not chosen
                or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < num_keypoints for i in chosen)
                or len(set(chosen)) != len(chosen)):
            raise ConfigError("must list, for each landmark, the distinct keypoint (0 to %d) it places, or null to "
                              "leave it out, got %r" % (num_keypoints - 1, indices), "train.landmark_keypoints")
        if dataset_cfg is not None and not dataset_cfg.get("landmark_dir"):
            raise ConfigError("is non-zero but dataset.landmark_dir is not set; point it at the landmarks of the "
                              "training videos (python tools/make_synthetic_dataset.py --landmarks writes them) or "
                              "set the weight to 0", "train.loss_weights.landmark")
        self.num_landmarks = len(indices)
        self.columns = paddle.to_tensor([c for c, i in enumerate(indices) if i is not None], dtype="int64")
        self.indices = paddle.to_tensor(chosen, dtype="int64")

    def __bool__(self):
        return bool(self.weight)

    def __call__(self, pairs):
        """The loss over [(keypoints (B, K, 2), landmarks (B, N, 2) with NaN where unknown), ...]."""
        total, count = 0.0, 0.0
        for keypoints, landmarks in pairs:
            if landmarks is None:
                raise ConfigError("the landmark loss needs the landmarks of the training frames: set "
                                  "dataset.landmark_dir, or set the weight to 0", "train.loss_weights.landmark")
            if landmarks.shape[1] != self.num_landmarks:
                raise ConfigError("lists %d keypoints but the landmark files hold %d landmarks a frame; list one "
                                  "keypoint (or null) per landmark" % (self.num_landmarks, landmarks.shape[1]),
                                  "train.landmark_keypoints")
            landmarks = paddle.index_select(landmarks, self.columns, axis=1)
            known = paddle.logical_not(paddle.isnan(landmarks))
            target = paddle.where(known, landmarks, paddle.zeros_like(landmarks))
            chosen = paddle.index_select(keypoints, self.indices, axis=1)
            mask = known.astype(chosen.dtype)
            total = total + (paddle.abs(chosen - target) * mask).sum()
            count = count + mask.sum()
        return self.weight * total / paddle.clip(count, min=1.0)


def autocast(scaler):
    """float16 autocast when a GradScaler is given (--amp), else nothing."""
    if scaler is None:
        return contextlib.nullcontext()
    return paddle.amp.auto_cast(level="O1")


def check_finite(losses):
    """{name: float} of the losses; a NaN/inf one raises TrainingDiverged naming it (before any step)."""
    values = {name: float(value) for name, value in losses.items()}
    bad = [name for name, value in values.items() if not math.isfinite(value)]
    if bad:
        raise TrainingDiverged("loss %s is %s; training stopped before the step that would use it. Lower the "
                               "learning rates or check the data" % (", ".join(bad), values[bad[0]]))
    return values


def clip_grad_norm_inf(parameters, max_norm):
    """Scale the gradients of `parameters` so that their largest |entry| is at most `max_norm`, as
    torch.nn.utils.clip_grad_norm_(norm_type=inf): factor min(1, max_norm / (max |g| + 1e-6)), in the
    gradients' precision. Returns the norm before clipping (None without gradients)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return None
    with paddle.no_grad():
        norm = paddle.max(paddle.stack([paddle.abs(g).max().astype(grads[0].dtype) for g in grads]))
        coefficient = paddle.clip(max_norm / (norm + 1e-6), max=1.0)
        if float(coefficient) < 1.0:
            for g in grads:
                g.set_value(g * coefficient.astype(g.dtype))
    return norm


def backward_and_step(loss, optimizers, nets, reduce_gradients=None, scaler=None, before_step=None):
    """Backward of `loss`, gradients of `nets` averaged across processes (`reduce_gradients`), then
    `before_step()` (e.g. clipping; on unscaled gradients with --amp), then each optimizer steps and clears."""
    if scaler is not None:
        scaler.scale(loss).backward()
    else:
        loss.backward()
    if reduce_gradients is not None:
        reduce_gradients([p for net in nets for p in net.parameters()])
    if before_step is not None:
        if scaler is not None:
            for optimizer in optimizers:
                scaler.unscale_(optimizer)
        before_step()
    for optimizer in optimizers:
        if scaler is not None:
            scaler.step(optimizer)
        else:
            optimizer.step()
        optimizer.clear_grad()
    if scaler is not None:
        scaler.update()
