"""Animate a source image with a driving video: the Python API of the First Order Motion Model, PaddleGAN's call
style included (``FirstOrderPredictor(output=..., relative=True, ...).run(source, driving)``)."""
import os

import paddle

from ppgan.modules.geometry import movement_scale, normalize_kp
from ppgan.utils.config import is_paddlegan_format, read_config_file
from ppgan.utils.download import release_path
from ppgan.utils.errors import CheckpointError, ConfigError, InputError

from .predictor import PREDICTORS, AnimationPredictor, cpu_threads, default_num_threads  # noqa: F401

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "configs")
# PaddleGAN's models when no config is given: (mobile_net, image_size) -> (config, released weights)
PADDLEGAN_MODELS = {
    (False, 256): ("firstorder_vox_256.yaml", "vox-cpk"),
    (False, 512): ("firstorder_vox_256.yaml", "vox-cpk-512"),  # the same architecture, trained at 512x512
    (True, 256): ("firstorder_vox_mobile_256.yaml", "vox-mobile"),
}


def _check_paddlegan_weights(path):
    """A downloaded PaddleGAN checkpoint must read as weights holding its two nets (nothing in it is run)."""
    from ppgan.utils.checkpoint import read_weights

    weights = read_weights(path)
    if not {"generator", "kp_detector"} <= set(weights):
        raise CheckpointError("'%s' is not a PaddleGAN First Order Motion Model checkpoint" % path)


def paddlegan_model(mobile_net=False, image_size=None, weight_path=None, download=True, flag="weight_path"):
    """(config path, weights path) of PaddleGAN's model when no config is given, as its FirstOrderPredictor picks
    them: the vox-256 architecture (or the mobile one), and with no weights PaddleGAN's published file (vox-cpk,
    vox-cpk-512 at image_size 512, vox-mobile), found on this machine or downloaded (`download`); errors name `flag`,
    how the caller passes weights instead."""
    size = 256 if image_size is None else int(image_size if isinstance(image_size, (int, float)) else image_size[0])
    key = (bool(mobile_net), 512 if size == 512 and not mobile_net else 256)
    config_name, release = PADDLEGAN_MODELS[key]
    config = os.path.join(CONFIGS, config_name)
    if not os.path.isfile(config):
        raise InputError("PaddleGAN's default model needs %s, which this installation lacks; pass config=<the "
                         "config of your weights>" % config)
    if weight_path is None:
        weight_path = release_path(release, flag=flag, download=download, check=_check_paddlegan_weights)
    return config, weight_path


@PREDICTORS.register("FirstOrderModel")
class FirstOrderPredictor(AnimationPredictor):
    """Source image + driving frames -> animated frames, with the original's normalisation modes.

    relative: transfer relative motion (keypoints and jacobians) instead of absolute positions.
    adapt_scale: scale the relative movement by the ratio of keypoint convex hull areas.
      Both default to None: on for :meth:`animate` / :meth:`iter_animate` (the project's defaults), off for
      :meth:`run` (PaddleGAN's); a value given here holds for every method.
    align_corners: grid sampling convention; None keeps the config's value.
    config: as :class:`~ppgan.apps.predictor.AnimationPredictor`; None builds PaddleGAN's model: the vox-256
      architecture (configs/firstorder_vox_256.yaml, or configs/firstorder_vox_mobile_256.yaml with `mobile_net`)
      with `weight_path`, or without weights PaddleGAN's published file (vox-cpk.pdparams, vox-cpk-512.pdparams
      for image_size=512, vox-mobile.pdparams), used from this machine (the project's cache or PaddleGAN's
      ~/.cache/ppgan) or downloaded once: the only download the project makes on its own.
    mobile_net: with no config, PaddleGAN's mobile model.
    border_correction: PaddleGAN's border correction of the generator (the config key `model.generator.
      border_correction`: a band width in pixels, True = PaddleGAN's 5, 0/False = off); None keeps the config's
      value, and with no config or a PaddleGAN config (ppgan.utils.config.from_paddlegan) is on, as PaddleGAN's
      FirstOrderPredictor always builds its generator.
    The other arguments are :class:`~ppgan.apps.predictor.AnimationPredictor`'s (weight_path, model_dir,
    image_size, batch_size, num_threads, backend, device, use_trt, and :meth:`run`'s keyword-only options:
    output, filename, find_best_frame, best_frame, ratio, face_detector, multi_person, face_enhancement,
    gpen_weight_path, slice_size, crop, progress).
    """

    family = "FirstOrderModel"
    BATCH_SIZES = {"dygraph": 8, "inference": 1, "onnx": 8}  # docs/en_US/deployment.md, "Measured"

    def __init__(self, config=None, weight_path=None, relative=None, adapt_scale=None, align_corners=None,
                 image_size=None, batch_size=None, num_threads=None, backend="auto", device=None, use_trt=False,
                 model_dir=None, *, mobile_net=False, border_correction=None, **run_options):
        # a folder is never a config: PaddleGAN's output folder usually exists (its demo and ours write there)
        if isinstance(config, (str, os.PathLike)) and not os.path.isfile(config) \
                and not os.fspath(config).lower().endswith((".yaml", ".yml")):
            raise InputError("config %r is not a config file: FirstOrderPredictor's first positional argument is the "
                             "config (PaddleGAN's is the output folder: pass output=%r by name)" % (config, config))
        self._given_motion = {"relative": relative, "adapt_scale": adapt_scale}
        self.relative = True if relative is None else bool(relative)
        self.adapt_scale = True if adapt_scale is None else bool(adapt_scale)
        self.align_corners = align_corners
        self.mobile_net = bool(mobile_net)
        if border_correction is not None and model_dir is not None:
            raise InputError("border_correction applies when the nets are built; an export keeps the one it was "
                             "exported with (tools/export_model.py -o model.generator.border_correction=...)")
        self.border_correction = border_correction
        super().__init__(config, weight_path, image_size=image_size, batch_size=batch_size, num_threads=num_threads,
                         backend=backend, device=device, use_trt=use_trt, model_dir=model_dir, **run_options)

    @classmethod
    def motion_options(cls, args):
        """Constructor options from the command line's motion flags (--relative, --adapt_scale; on unless
        turned off); --mode belongs to TPSMM and is an error here."""
        if getattr(args, "mode", None) is not None:
            raise InputError("--mode is a Thin-Plate Spline Motion Model option; a First Order Motion Model animates "
                             "with --relative/--no-relative and --adapt_scale/--no-adapt_scale")
        return {"relative": args.relative is not False, "adapt_scale": args.adapt_scale is not False}

    def _load_nets(self, config, weight_path, image_size):
        if config is None and self.model_dir is None:
            config, weight_path = paddlegan_model(self.mobile_net, image_size, weight_path)
            paddlegan = True
        else:
            paddlegan = is_paddlegan_format(config if isinstance(config, dict) else read_config_file(config))
        if paddlegan and self.border_correction is None:
            self.border_correction = True  # PaddleGAN's predictor builds its generator with inference=True
        super()._load_nets(config, weight_path, image_size)

    def _configure(self, cfg):
        if self.align_corners is not None:
            cfg["model"]["common"]["align_corners"] = bool(self.align_corners)
        if self.border_correction is not None:
            from ppgan.models.generators.occlusion_aware import border_band

            try:
                cfg["model"]["generator"]["border_correction"] = border_band(self.border_correction)
            except ConfigError as e:
                raise InputError("border_correction: %s" % e.detail) from None

    def _run_view(self):
        view = super()._run_view()
        view.relative = bool(self._given_motion["relative"])
        view.adapt_scale = bool(self._given_motion["adapt_scale"])
        return view

    @staticmethod
    def shape_points(kp):
        return kp["value"]

    def _reference(self, kp_source, kp_initial):
        scale = (movement_scale(kp_source["value"], kp_initial["value"])
                 if self.adapt_scale and self.relative else 1.0)
        return {"initial": kp_initial, "scale": scale}

    def _normalize(self, backend, kp_source, kp_driving, reference):
        """normalize_kp on numpy keypoints (batch-1 source and initial keypoints broadcast)."""
        if not self.relative:
            return kp_driving
        # no_grad is a global switch: entered per call, never held across a yield
        with paddle.no_grad():
            tensors = [{k: paddle.to_tensor(v) for k, v in kp.items()}
                       for kp in (kp_source, kp_driving, reference["initial"])]
            kp_norm = normalize_kp(*tensors, use_relative_movement=True, use_relative_jacobian=True,
                                   scale=reference["scale"])
            return {k: v.numpy() for k, v in kp_norm.items()}
