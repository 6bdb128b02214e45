"""Animate a source image with a driving video: the Python API of the Thin-Plate Spline Motion Model."""
from ppgan.models.tpsmm_model import ANIMATE_MODES as MODES
from ppgan.modules.geometry import affine_relative_control_points, movement_scale, relative_control_points
from ppgan.utils.errors import CheckpointError, InputError

from .predictor import PREDICTORS, AnimationPredictor


@PREDICTORS.register("TPSMMModel")
class TPSMMPredictor(AnimationPredictor):
    """Source image + driving frames -> animated frames with the thin-plate spline motion model.

    mode: the original demo's modes; None (the default) takes the model's own: its config's `animate.mode` (for an
      exported model, the one recorded at export), 'relative' where the config sets none, as in the original's
      configs. 'relative': the source's control points moved by the driving
      frames' motion since the reference frame, scaled by the ratio of the control points' convex hull
      areas (its `relative_kp`); 'standard': the driving control points as they are; 'avd': the AVD
      network puts the driving pose on the source's identity (the weights must hold an `avd_network`).
      One of ours, 'relative-affine': each spline's affine motion since the reference frame (fitted to its
      control points) carried onto the source's points, so a turning or shrinking face turns or shrinks the
      source's face about its own points (geometry.affine_relative_control_points; unscaled).
    adapt_scale: in relative mode, scale the motion by the hull-area ratio as the original always does (True);
      False moves the source's control points by the driving ones' motion unscaled (FOMM's --no-adapt_scale).
    The other arguments are :class:`~ppgan.apps.predictor.AnimationPredictor`'s (config, weight_path,
    model_dir, image_size, batch_size, num_threads, backend, device, use_trt).
    """

    family = "TPSMMModel"
    optional_nets = ("avd_network",)
    BATCH_SIZES = {"dygraph": 1, "inference": 1, "onnx": 1}  # docs/en_US/deployment.md, "TPSMM models"
    points_per_transform = 5  # the control points of one thin-plate spline (paper, Sec. 3.1)

    def __init__(self, config=None, weight_path=None, mode=None, image_size=None, batch_size=None,
                 num_threads=None, backend="auto", device=None, use_trt=False, model_dir=None, *, adapt_scale=True,
                 **run_options):
        if mode is not None and mode not in MODES:
            raise InputError("mode must be one of %s, got %r" % (", ".join(MODES), mode))
        self.mode = mode
        self.model_mode = None  # the model's own mode (its config's animate.mode), known once the model is read
        self.adapt_scale = bool(adapt_scale)
        super().__init__(config, weight_path, image_size=image_size, batch_size=batch_size, num_threads=num_threads,
                         backend=backend, device=device, use_trt=use_trt, model_dir=model_dir, **run_options)

    @classmethod
    def motion_options(cls, args):
        """Constructor options from the command line's motion flags: --mode (default: the model's own), or FOMM's
        --relative / --adapt_scale mapped onto the modes (--relative: relative; --no-relative: standard;
        --no-adapt_scale: relative motion unscaled). Flags that contradict --mode are an error."""
        relative, adapt = args.relative, args.adapt_scale
        mode = args.mode
        if mode is None and (relative is not None or adapt is not None):
            mode = "standard" if relative is False else "relative"
        elif (relative is True and mode != "relative") or (relative is False and mode != "standard"):
            raise InputError("--%srelative contradicts --mode %s: give one of them"
                             % ("" if relative else "no-", mode))
        if adapt is not None and mode not in ("relative", None):
            if mode != "standard" or adapt:  # FOMM's --no-relative --no-adapt_scale is standard mode
                raise InputError("--%sadapt_scale applies to relative motion only, not to --mode %s"
                                 % ("" if adapt else "no-", mode))
        return {"mode": mode, "adapt_scale": adapt is not False}

    def _configure(self, cfg):
        self._set_model_mode(cfg["animate"]["mode"], "the config's animate.mode")

    def _configure_export(self, manifest):
        self._set_model_mode(manifest.get("animate", {}).get("mode", "relative"), "the export's animate mode")

    def _set_model_mode(self, mode, what):
        if mode not in MODES:
            raise InputError("%s must be one of %s, got %r" % (what, ", ".join(MODES), mode))
        self.model_mode = mode
        if self.mode is None:
            self.mode = mode

    def animation_defaults(self):
        return {"mode": self.model_mode}

    def _check_graphs(self, names):
        if self.mode == "avd" and "avd_network" not in names:
            where = ("'%s' was exported without one" % self.model_dir if self.model_dir is not None
                     else "the weights in '%s' hold none" % self.weight_path)
            raise CheckpointError("mode 'avd' needs an AVD network and %s: train it (tools/main.py --stage avd, "
                                  "docs/en_US/training.md) or use mode 'relative'" % where)

    @staticmethod
    def shape_points(kp):
        return kp["fg_kp"]

    def _reference(self, kp_source, kp_initial):
        scale = movement_scale(kp_source["fg_kp"], kp_initial["fg_kp"]) if self.adapt_scale else 1.0
        return {"initial": kp_initial, "scale": scale}

    def _normalize(self, backend, kp_source, kp_driving, reference):
        if self.mode == "standard":
            return kp_driving
        if self.mode == "avd":
            return backend.avd(kp_source, kp_driving)
        if self.mode == "relative-affine":
            return affine_relative_control_points(kp_source, kp_driving, reference["initial"],
                                                  self.points_per_transform)
        return relative_control_points(kp_source, kp_driving, reference["initial"], reference["scale"])
