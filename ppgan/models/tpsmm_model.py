"""The Thin-Plate Spline Motion Model (Zhao & Zhang, CVPR 2022) as a model family: its nets, config sections
and training objectives.

Two training stages, as the original's `run.py --mode train` and `--mode train_avd`:

* `train` (:class:`TPSMMModel`): keypoint detector, dense motion network, inpainting network and background
  predictor on the paper's training losses (the original's GeneratorFullModel and train.py);
* `avd` (:class:`TPSMMAVDStage`): the AVD network alone, on a trained model (the original's train_avd.py).
"""
import copy

import paddle

from ppgan.models.builder import GENERATORS, MODELS, build_nets, common_params
from ppgan.models.criterions import equivariance_value_loss
from ppgan.models.generators.inpainting import TPSAnimator
from ppgan.models.training import (LandmarkLoss, ReconstructionLoss, autocast, backward_and_step, check_finite,
                                   clip_grad_norm_inf)
from ppgan.modules.builder import AVD_NETWORKS, BG_PREDICTORS, DENSE_MOTIONS, KP_DETECTORS
from ppgan.modules.geometry import (RandomTransform, affine_relative_control_points, movement_scale,
                                   relative_control_points, thin_plate_kernel)
from ppgan.solver.builder import OptimizerSpec
from ppgan.utils.config import SECTIONS
from ppgan.utils.errors import CheckpointError, ConfigError
from ppgan.utils.logger import get_logger

logger = get_logger("ppgan.models")

# The original's train_params, with its defaults (vox-256) and the project's trainer keys.
# The trainer's keys, with the defaults they have for every family (ppgan.utils.config.SECTIONS["train"]).
_TRAINER_KEYS = ("num_epochs", "num_repeats", "epoch_milestones", "lr_generator", "batch_size", "scales",
                 "checkpoint_freq", "num_workers", "log_freq", "vgg19_weights", "transform_params")
TRAIN_SECTION = {
    **{key: copy.deepcopy(SECTIONS["train"][key]) for key in _TRAINER_KEYS},
    "dropout_epoch": 35,
    "dropout_maxp": 0.3,
    "dropout_startp": 0.1,
    "dropout_inc_epoch": 10,
    "bg_start": 10,
    "transform_params": {"sigma_affine": 0.05, "sigma_tps": 0.005, "points_tps": 5},
    "landmark_keypoints": None,
    "loss_weights": {
        "perceptual": [10, 10, 10, 10, 10],
        "pixel": 0,
        "gradient": 0,
        "region": 0,
        "landmark": 0,
        "equivariance_value": 10,
        "warp_loss": 10,
        "bg": 10,
    },
}

# The original's train_avd_params: the second stage, training the AVD network on a trained model.
TRAIN_AVD_SECTION = {
    "num_epochs": 100,
    "num_repeats": 1,
    "epoch_milestones": [],
    "lr": 1.0e-3,
    "batch_size": 256,
    "checkpoint_freq": 10,
    "num_workers": 2,
    "log_freq": 50,
    "lambda_shift": 1,
    "random_scale": 0.25,
}

ANIMATE_SECTION = {"num_pairs": 50, "format": ".mp4", "mode": "relative"}
ANIMATE_MODES = ("relative", "standard", "avd", "relative-affine")

WEIGHT_DECAY = 1e-4   # the original's Adam(weight_decay=1e-4) of the first stage
MAX_GRAD_NORM = 10    # the original's clip_grad_norm_(max_norm=10, norm_type=inf)
VISUAL_ITEMS = 6      # batch items in the AVD stage's training picture, as the original's


def dropout_probability(epoch, train_cfg):
    """The TPS dropout probability p of `epoch` (Eq. 7-8), None once dropout is over (`dropout_epoch`).

    As the original computes it: p = min(epoch / dropout_inc_epoch * dropout_maxp + dropout_startp,
    dropout_maxp), so it rises from dropout_startp by dropout_maxp every dropout_inc_epoch epochs; dropout
    softmax is used up to dropout_epoch even where p is 0.
    """
    if epoch >= train_cfg["dropout_epoch"]:
        return None
    return min(epoch / train_cfg["dropout_inc_epoch"] * train_cfg["dropout_maxp"] + train_cfg["dropout_startp"],
               train_cfg["dropout_maxp"])


def background_loss(bg_param, bg_param_reverse, weight):
    """L_bg = w mean|A_bg A'_bg - I|: the background affine from source to driving (Eq. 4) composed with the one
    from driving to source must be the identity."""
    value = paddle.matmul(bg_param, bg_param_reverse)
    return weight * paddle.abs(paddle.eye(3, dtype=value.dtype) - value).mean()


def warp_loss(driving_maps, warped_maps, weight):
    """L_warp = w sum_i mean|E_i(D) - T(E_i(S))|: the source's encoder maps warped by the optical flow (deepest
    first) against the driving frame's own encoder maps (finest first), both masked by the occlusion masks."""
    total = 0.0
    for i, target in enumerate(driving_maps):
        total = total + paddle.abs(target - warped_maps[-i - 1]).mean()
    return weight * total


def random_scale(kp, scale):
    """The AVD stage's augmentation: each item's control points scaled by diag(s_x, s_y), s ~ U(1 - scale,
    1 + scale) per item and axis, so that the pose branch cannot carry the identity's proportions."""
    points = kp["fg_kp"]
    factors = paddle.rand([points.shape[0], 1, 2], dtype=points.dtype) * (2 * scale) + (1 - scale)
    return {"fg_kp": points * factors}


def _require(condition, message, key):
    if not condition:
        raise ConfigError(message, key)


class KeypointNormalizer:
    """TPSMM's keypoint normalisation for animation, the original demo's modes (`animate.mode`): 'relative'
    (the source's control points moved by the driving motion since the initial frame, scaled by the ratio of the
    control points' convex hull areas: geometry.relative_control_points, geometry.movement_scale), 'standard'
    (the driving control points as they are), 'avd' (the AVD network's driving pose on the source identity), and
    one of ours, 'relative-affine' (each spline's affine motion since the initial frame carried onto the source's
    control points: geometry.affine_relative_control_points)."""

    def __init__(self, mode, avd_network=None):
        self.mode = mode
        self.avd_network = avd_network
        if avd_network is not None:
            avd_network.eval()

    def scale(self, kp_source, kp_initial):
        """The movement scale of a (source, initial driving frame) pair (relative mode)."""
        if self.mode != "relative":
            return 1.0
        return movement_scale(kp_source["fg_kp"].numpy(), kp_initial["fg_kp"].numpy())

    def __call__(self, kp_source, kp_driving, kp_initial, scale):
        """The control points to animate with (dicts of equal batch size)."""
        if self.mode == "standard":
            return kp_driving
        if self.mode == "avd":
            return self.avd_network(kp_source, kp_driving)
        if self.mode == "relative-affine":
            moved = affine_relative_control_points(*({"fg_kp": kp["fg_kp"].numpy()}
                                                     for kp in (kp_source, kp_driving, kp_initial)))
            return {"fg_kp": paddle.to_tensor(moved["fg_kp"])}
        return relative_control_points(kp_source, kp_driving, kp_initial, scale)


class _TPSMMNets:
    """The nets of a built TPSMM config as attributes (`kp_detector`, `dense_motion_network`,
    `inpainting_network`, `bg_predictor`, `avd_network`; the optional ones may be None)."""

    def _build_nets(self, config):
        nets = build_nets(config["model"])
        for name, net in nets.items():
            setattr(self, name, net)
        common = common_params(config["model"])
        self.num_channels, self.num_keypoints = common["num_channels"], 5 * common["num_tps"]

    @property
    def nets(self):
        """{name: net} of the nets this stage's checkpoints hold."""
        return {name: getattr(self, name) for name in self.saved_nets if getattr(self, name) is not None}

    @staticmethod
    def animation_nets(nets):
        """(keypoint detector, frame generator) of built nets, for evaluation and animation."""
        return TPSMMModel.animation_nets(nets)

    def eval(self):
        """Put every net in inference mode (running BatchNorm statistics)."""
        for net in self.nets.values():
            net.eval()


@MODELS.register()
class TPSMMModel(_TPSMMNets):
    """The thin-plate spline motion model's first training stage (the original's GeneratorFullModel + train.py).

    Nets: `kp_detector`, `dense_motion_network`, `inpainting_network`, optionally `bg_predictor` (and
    `avd_network`, trained by the `avd` stage: :class:`TPSMMAVDStage`). Losses (`train.loss_weights`, each on
    when non-zero), summed: the reconstruction L_rec (the VGG19 perceptual pyramid, or the pixel pyramid L1 that
    needs no pretrained net), the equivariance L_eq of the control points under a random TPS warp, the warp loss
    L_warp on the inpainting network's encoder maps, and from epoch `bg_start` the background loss L_bg. TPS
    dropout (Eq. 7-8) runs until `dropout_epoch`. One Adam (weight decay 1e-4) updates keypoint detector, dense
    motion and inpainting networks; a second one the background predictor, from `bg_start`; gradients of the
    keypoint detector, dense motion network and background predictor are clipped to max |g| <= 10.

    `vgg` may be given (a :class:`Vgg19` with weights set); otherwise the perceptual loss reads
    `train.vgg19_weights`.
    """

    common_keys = {"num_tps": 10, "num_channels": 3, "multi_mask": True}
    net_sections = {
        "kp_detector": (KP_DETECTORS, ("num_tps", "num_channels")),
        "dense_motion_network": (DENSE_MOTIONS, ("num_tps", "num_channels", "multi_mask")),
        "inpainting_network": (GENERATORS, ("num_channels", "multi_mask")),
        "bg_predictor": (BG_PREDICTORS, ("num_channels",)),
        "avd_network": (AVD_NETWORKS, ("num_tps",)),
    }
    required_sections = ("kp_detector", "dense_motion_network", "inpainting_network")
    inference_sections = ("kp_detector", "dense_motion_network", "inpainting_network")
    config_sections = {"train": TRAIN_SECTION, "train_avd": TRAIN_AVD_SECTION, "animate": ANIMATE_SECTION}

    train_section = "train"
    requires_weights = None
    saved_nets = ("kp_detector", "dense_motion_network", "inpainting_network", "bg_predictor")

    @staticmethod
    def animation_nets(nets):
        """(keypoint detector, frame generator) of built nets, for evaluation and animation."""
        return nets["kp_detector"], TPSAnimator(nets["dense_motion_network"], nets["inpainting_network"])

    @classmethod
    def training_stages(cls):
        """{stage name: training model class}: `train` (the motion model) and `avd` (the AVD network)."""
        return {"train": cls, "avd": TPSMMAVDStage}

    @staticmethod
    def _animate_mode(animate_cfg):
        mode = animate_cfg["mode"]
        _require(mode in ANIMATE_MODES, "must be one of %s, got %r" % (", ".join(ANIMATE_MODES), mode),
                 "animate.mode")
        return mode

    @classmethod
    def evaluation_sections(cls, animate_cfg):
        """The nets evaluation builds and loads: the background predictor too (the reconstruction applies it; None
        where the config has none), and the AVD network in `animate.mode: avd`."""
        extra = ("avd_network",) if cls._animate_mode(animate_cfg) == "avd" else ()
        return cls.inference_sections + ("bg_predictor",) + extra

    @staticmethod
    def background_predictor(nets, loaded):
        """The background predictor the reconstruction of test videos applies, as the original's reconstruction.py:
        the config's `bg_predictor` (`nets`: the built nets) when the weights held it (`loaded`: the nets they
        held), else None. Weights without one while the config has one (the original's training saves it from
        epoch `bg_start` on only) reconstruct without background motion, with a warning: the original computes
        the same with them, its predictor keeping its initial weights, whose transform is the identity."""
        if nets.get("bg_predictor") is None:
            return None
        if loaded.get("bg_predictor") is None:
            logger.warning("the config has a background predictor (model.bg_predictor) but the weights hold none (an "
                           "original TPSMM checkpoint from before train.bg_start has none): the reconstruction runs "
                           "without background motion, as the original's does with these weights; give weights "
                           "that hold it to apply it, or set model.bg_predictor to null (in an original config: "
                           "model_params.common_params.bg=false) to silence this")
            return None
        return nets["bg_predictor"]

    @classmethod
    def keypoint_normalizer(cls, animate_cfg, nets):
        """How evaluation animates: `animate.mode` relative | standard | avd (see :class:`KeypointNormalizer`).
        `nets['avd_network']` is None when the weights hold none."""
        mode = cls._animate_mode(animate_cfg)
        if mode == "avd" and nets.get("avd_network") is None:
            raise CheckpointError("animate.mode 'avd' needs an avd_network in the weights and they hold none: "
                                  "train it with tools/main.py --stage avd --load <these weights>, or set "
                                  "animate.mode to relative")
        return KeypointNormalizer(mode, nets.get("avd_network") if mode == "avd" else None)

    def __init__(self, config, vgg=None):
        self._build_nets(config)
        self.train_cfg = train = config["train"]
        self.scales = list(train["scales"])
        self.transform_params = dict(train["transform_params"])
        self.loss_weights = weights = train["loss_weights"]
        self.bg_start = train["bg_start"]
        self.reconstruction = ReconstructionLoss(train, self.num_channels, vgg, config.get("dataset"))
        self.landmark_loss = LandmarkLoss(train, self.num_keypoints, config.get("dataset"))
        self.pyramid = self.reconstruction.pyramid
        if weights["bg"] and self.bg_predictor is None:
            raise ConfigError("bg is non-zero but model.bg_predictor is missing; add a background predictor "
                              "(the original's bg: true) or set bg to 0", "train.loss_weights.bg")
        _require(isinstance(self.bg_start, int) and not isinstance(self.bg_start, bool) and self.bg_start >= 0,
                 "must be an epoch number (>= 0), got %r" % (self.bg_start,), "train.bg_start")
        if train["dropout_epoch"] > 0:
            _require(train["dropout_inc_epoch"] > 0, "must be positive while TPS dropout is on (dropout_epoch > 0), "
                     "got %r" % (train["dropout_inc_epoch"],), "train.dropout_inc_epoch")
            for key in ("dropout_startp", "dropout_maxp"):
                _require(0 <= train[key] <= 1, "must be a probability in [0, 1], got %r" % (train[key],),
                         "train." + key)

    # --- the trainer's interface ------------------------------------------------------------------
    def optimizer_specs(self):
        """The original's: one Adam for keypoint detector, dense motion and inpainting networks, one for the
        background predictor (if any), both at `train.lr_generator` with weight decay 1e-4."""
        specs = [OptimizerSpec("generator", ("kp_detector", "dense_motion_network", "inpainting_network"),
                               "lr_generator", WEIGHT_DECAY)]
        if self.bg_predictor is not None:
            specs.append(OptimizerSpec("bg_predictor", ("bg_predictor",), "lr_generator", WEIGHT_DECAY))
        return specs

    def describe(self):
        """What this run trains, for the log's first line."""
        bg = ("background predictor from epoch %d" % (self.bg_start + 1) if self.bg_predictor is not None
              else "no background predictor")
        dropout = ("TPS dropout up to epoch %d" % self.train_cfg["dropout_epoch"] if self.train_cfg["dropout_epoch"] > 0
                   else "no TPS dropout")
        return "%s; %s" % (bg, dropout)

    def visuals(self, batch, generated):
        """(source, driving, outputs) of the training picture: the last batch and its outputs."""
        return batch["source"], batch["driving"], generated

    def train(self):
        """Put the nets in training mode (BatchNorm with batch statistics)."""
        for net in self.nets.values():
            net.train()

    def uses_background(self, epoch):
        """True from epoch `bg_start` on (with a background predictor)."""
        return self.bg_predictor is not None and epoch >= self.bg_start

    def sample_transform(self, batch_size):
        """Draw the random affine + TPS warp of the equivariance loss (thin-plate kernel r^2 log r^2)."""
        return RandomTransform.sample(batch_size, align_corners=True, kernel=thin_plate_kernel,
                                      **self.transform_params)

    def generator_losses(self, source, driving, epoch, transform=None, dropout_draw=None, region=None,
                         landmarks=(None, None)):
        """The losses of one (source, driving) batch at `epoch` (0-based): ({name: scalar}, generated).
        `region`: the driving frames' region maps, for the region loss; `landmarks`: (source's, driving's) (B, N, 2),
        for the landmark loss.

        `transform` (a :class:`RandomTransform`) and `dropout_draw` ((B, K+1) uniform draws) replay recorded
        random draws; else they are drawn. `generated` holds the inpainting network's outputs plus `kp_source`,
        `kp_driving` and, with the equivariance loss, `transformed_frame` / `transformed_kp`.
        """
        w = self.loss_weights
        kp_source = self.kp_detector(source)
        kp_driving = self.kp_detector(driving)
        bg_param = self.bg_predictor(source, driving) if self.uses_background(epoch) else None
        motion = self.dense_motion_network(source, kp_driving, kp_source, bg_param=bg_param,
                                           dropout_p=dropout_probability(epoch, self.train_cfg),
                                           dropout_draw=dropout_draw)
        generated = self.inpainting_network(source, motion)
        generated.update(kp_source=kp_source, kp_driving=kp_driving)

        losses = self.reconstruction(generated["prediction"], driving, region)[0]
        if self.landmark_loss:
            losses["landmark"] = self.landmark_loss([(kp_source["fg_kp"], landmarks[0]),
                                                     (kp_driving["fg_kp"], landmarks[1])])
        if w["equivariance_value"]:
            if transform is None:
                transform = self.sample_transform(driving.shape[0])
            transformed_frame = transform.transform_frame(driving)
            transformed_kp = self.kp_detector(transformed_frame)
            generated.update(transformed_frame=transformed_frame, transformed_kp=transformed_kp)
            losses["equivariance_value"] = equivariance_value_loss(kp_driving, transformed_kp, transform,
                                                                   w["equivariance_value"], key="fg_kp")
        if w["warp_loss"]:
            targets = self.inpainting_network.get_encode(driving, generated["occlusion_map"])
            losses["warp_loss"] = warp_loss(targets, generated["warped_encoder_maps"], w["warp_loss"])
        if bg_param is not None and w["bg"]:
            losses["bg"] = background_loss(bg_param, self.bg_predictor(driving, source), w["bg"])
        return losses, generated

    def train_iter(self, batch, optimizers, reduce_gradients=None, scaler=None, epoch=0):
        """One step of the original's train.py at `epoch`; returns ({loss name: float}, generated).

        Backward of the summed losses, gradients averaged across processes (`reduce_gradients(params)`),
        keypoint detector, dense motion network and (from bg_start) background predictor clipped to
        max |g| <= 10, then the optimizers step. A NaN/inf loss raises TrainingDiverged before any step.
        """
        with autocast(scaler):
            losses, generated = self.generator_losses(batch["source"], batch["driving"], epoch,
                                                      region=batch.get("driving_region"),
                                                      landmarks=(batch.get("source_landmarks"),
                                                                 batch.get("driving_landmarks")))
        values = check_finite(losses)
        clipped = [self.kp_detector, self.dense_motion_network]
        steps, nets = [optimizers["generator"]], [self.kp_detector, self.dense_motion_network,
                                                   self.inpainting_network]
        if self.uses_background(epoch):
            clipped.append(self.bg_predictor)
            steps.append(optimizers["bg_predictor"])
            nets.append(self.bg_predictor)

        def clip():
            for net in clipped:
                clip_grad_norm_inf(net.parameters(), MAX_GRAD_NORM)
        backward_and_step(sum(losses.values()), steps, nets, reduce_gradients, scaler, before_step=clip)
        return values, generated


class TPSMMAVDStage(_TPSMMNets):
    """The second stage (the original's train_avd.py): the AVD network (Sec. 3.4, animation via disentanglement)
    learns to rebuild the driving control points from the source's (identity) and the driving ones randomly
    rescaled (pose): loss `lambda_shift` * mean|p_D - AVD(p_S, s p_D)|, Adam(`train_avd.lr`, betas 0.5, 0.999),
    divided by 10 after each of `train_avd.epoch_milestones` (one epoch later than the first stage's: the
    original steps this schedule with the epoch just finished). The other nets come from a trained checkpoint
    (--load) and stay frozen in inference mode (the original leaves them in training mode, so its keypoints
    come from batch statistics); checkpoints hold every net, the AVD network included.
    """

    train_section = "train_avd"
    requires_weights = ("the AVD stage trains on a trained model: give its weights with --load (e.g. "
                        "<run>/checkpoints/checkpoint.pdparams), or --resume an AVD run")
    saved_nets = ("kp_detector", "dense_motion_network", "inpainting_network", "bg_predictor", "avd_network")

    def __init__(self, config, vgg=None):
        _require(config["model"].get("avd_network") is not None, "missing section: the AVD stage trains it",
                 "model.avd_network")
        self._build_nets(config)
        self.train_cfg = train = config["train_avd"]
        self.random_scale = train["random_scale"]
        self.lambda_shift = train["lambda_shift"]
        _require(0 <= self.random_scale < 1, "must be in [0, 1), got %r" % (self.random_scale,),
                 "train_avd.random_scale")
        _require(self.lambda_shift > 0, "must be positive, got %r" % (self.lambda_shift,), "train_avd.lambda_shift")
        for name, net in self.nets.items():
            if name != "avd_network":
                for p in net.parameters():
                    p.stop_gradient = True

    def optimizer_specs(self):
        """One Adam for the AVD network at `train_avd.lr`, no weight decay."""
        return [OptimizerSpec("avd_network", ("avd_network",), "lr", 0.0, milestone_delay=1)]

    def describe(self):
        """What this run trains, for the log's first line."""
        return "AVD network only (the other nets frozen)"

    def train(self):
        """The AVD network in training mode, the frozen nets in inference mode."""
        for name, net in self.nets.items():
            net.train() if name == "avd_network" else net.eval()

    def avd_losses(self, source, driving):
        """({'rec_kp': scalar}, generated) of one batch; `generated` holds `kp_source`, `kp_driving` and the
        AVD network's reconstruction `kp_norm`."""
        with paddle.no_grad():
            kp_source = self.kp_detector(source)
            kp_driving = self.kp_detector(driving)
            kp_random = random_scale(kp_driving, self.random_scale)
        rebuilt = self.avd_network(kp_source, kp_random)
        loss = self.lambda_shift * paddle.abs(kp_driving["fg_kp"] - rebuilt["fg_kp"]).mean()
        return {"rec_kp": loss}, {"kp_source": kp_source, "kp_driving": kp_driving, "kp_norm": rebuilt}

    def train_iter(self, batch, optimizers, reduce_gradients=None, scaler=None, epoch=0):
        """One step of the original's train_avd.py; returns ({'rec_kp': float}, generated)."""
        with autocast(scaler):
            losses, generated = self.avd_losses(batch["source"], batch["driving"])
        values = check_finite(losses)
        backward_and_step(losses["rec_kp"], [optimizers["avd_network"]], [self.avd_network], reduce_gradients,
                          scaler)
        return values, generated

    def visuals(self, batch, generated):
        """The training picture: up to 6 sources animated through the AVD network by the driving frame of the next
        item (another video: the pose of one identity on another), all nets in inference mode."""
        n = min(VISUAL_ITEMS, batch["source"].shape[0])
        source = batch["source"][:n]
        driving = paddle.concat([batch["driving"][1:n], batch["driving"][:1]]) if n > 1 else batch["driving"][:1]
        modes = [(net, net.training) for net in self.nets.values()]
        self.eval()
        try:
            with paddle.no_grad():
                kp_source, kp_driving = self.kp_detector(source), self.kp_detector(driving)
                kp_norm = self.avd_network(kp_source, kp_driving)
                out = self.animation_nets(self.nets)[1](source, kp_driving=kp_norm, kp_source=kp_source)
        finally:
            for net, training in modes:
                net.train() if training else net.eval()
        out.update(kp_source=kp_source, kp_driving=kp_driving, kp_norm=kp_norm)
        return source, driving, out
