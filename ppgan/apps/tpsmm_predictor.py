"""Animate a source image with a driving video: the Python API of the Thin-Plate Spline Motion Model."""
from ppgan.modules.geometry import movement_scale, relative_control_points
from ppgan.utils.errors import CheckpointError, InputError

from .predictor import PREDICTORS, AnimationPredictor

MODES = ("relative", "standard", "avd")


@PREDICTORS.register("TPSMMModel")
class TPSMMPredictor(AnimationPredictor):
    """Source image + driving frames -> animated frames with the thin-plate spline motion model.

    mode: the original demo's modes. 'relative': the source's control points moved by the driving
      frames' motion since the reference frame, scaled by the ratio of the control points' convex hull
      areas (its `relative_kp`); 'standard': the driving control points as they are; 'avd': the AVD
      network puts the driving pose on the source's identity (the weights must hold an `avd_network`).
    The other arguments are :class:`~ppgan.apps.predictor.AnimationPredictor`'s (config, weight_path,
    model_dir, image_size, batch_size, num_threads, backend, device, use_trt).
    """

    family = "TPSMMModel"
    optional_nets = ("avd_network",)
    BATCH_SIZES = {"dygraph": 1, "inference": 1, "onnx": 1}  # docs/en_US/deployment.md, "TPSMM models"
    points_per_transform = 5  # the control points of one thin-plate spline (paper, Sec. 3.1)

    def __init__(self, config=None, weight_path=None, mode="relative", image_size=None, batch_size=None,
                 num_threads=None, backend="auto", device=None, use_trt=False, model_dir=None):
        if mode not in MODES:
            raise InputError("mode must be one of %s, got %r" % (", ".join(MODES), mode))
        self.mode = mode
        super().__init__(config, weight_path, image_size=image_size, batch_size=batch_size, num_threads=num_threads,
                         backend=backend, device=device, use_trt=use_trt, model_dir=model_dir)

    @classmethod
    def motion_options(cls, args):
        """Constructor options from the command line's motion flags (--mode, default relative); FOMM's
        --relative / --adapt_scale are an error here."""
        given = [flag for flag, value in (("--relative", args.relative), ("--adapt_scale", args.adapt_scale))
                 if value is not None]
        if given:
            raise InputError("%s %s First Order Motion Model option%s; a Thin-Plate Spline Motion Model animates "
                             "with --mode relative|standard|avd" % (" and ".join(given), "is a" if len(given) == 1
                                                                     else "are", "" if len(given) == 1 else "s"))
        return {"mode": args.mode or "relative"}

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
        return {"initial": kp_initial, "scale": movement_scale(kp_source["fg_kp"], kp_initial["fg_kp"])}

    def _normalize(self, backend, kp_source, kp_driving, reference):
        if self.mode == "standard":
            return kp_driving
        if self.mode == "avd":
            return backend.avd(kp_source, kp_driving)
        return relative_control_points(kp_source, kp_driving, reference["initial"], reference["scale"])
