"""The Thin-Plate Spline Motion Model (Zhao & Zhang, CVPR 2022) as a model family: its nets, config
sections and training objectives (the original's GeneratorFullModel and train_avd)."""
from ppgan.models.builder import GENERATORS, MODELS
from ppgan.models.generators.inpainting import TPSAnimator
from ppgan.modules.builder import AVD_NETWORKS, BG_PREDICTORS, DENSE_MOTIONS, KP_DETECTORS

# The original's train_params, with its defaults (vox-256) and the project's trainer keys.
TRAIN_SECTION = {
    "num_epochs": 100,
    "num_repeats": 1,
    "epoch_milestones": [],
    "lr_generator": 2.0e-4,
    "batch_size": 1,
    "scales": [1, 0.5, 0.25, 0.125],
    "checkpoint_freq": 1,
    "num_workers": 2,
    "log_freq": 50,
    "vgg19_weights": None,
    "dropout_epoch": 35,
    "dropout_maxp": 0.3,
    "dropout_startp": 0.1,
    "dropout_inc_epoch": 10,
    "bg_start": 10,
    "transform_params": {"sigma_affine": 0.05, "sigma_tps": 0.005, "points_tps": 5},
    "loss_weights": {
        "perceptual": [10, 10, 10, 10, 10],
        "pixel": 0,
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


@MODELS.register()
class TPSMMModel:
    """The nets of the thin-plate spline motion model (`kp_detector`, `dense_motion_network`,
    `inpainting_network`, optionally `bg_predictor` and `avd_network`) and their training objectives."""

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

    @staticmethod
    def animation_nets(nets):
        """(keypoint detector, frame generator) of built nets, for evaluation and animation."""
        return nets["kp_detector"], TPSAnimator(nets["dense_motion_network"], nets["inpainting_network"])
