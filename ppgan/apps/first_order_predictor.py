"""Animate a source image with a driving video: the Python API of the First Order Motion Model."""
import paddle

from ppgan.modules.geometry import movement_scale, normalize_kp
from ppgan.utils.errors import InputError

from .predictor import PREDICTORS, AnimationPredictor, cpu_threads, default_num_threads  # noqa: F401


@PREDICTORS.register("FirstOrderModel")
class FirstOrderPredictor(AnimationPredictor):
    """Source image + driving frames -> animated frames, with the original's normalisation modes.

    relative: transfer relative motion (keypoints and jacobians) instead of absolute positions.
    adapt_scale: scale the relative movement by the ratio of keypoint convex hull areas.
    align_corners: grid sampling convention; None keeps the config's value.
    The other arguments are :class:`~ppgan.apps.predictor.AnimationPredictor`'s (config, weight_path,
    model_dir, image_size, batch_size, num_threads, backend, device, use_trt).
    """

    family = "FirstOrderModel"
    BATCH_SIZES = {"dygraph": 8, "inference": 1, "onnx": 8}  # docs/en_US/deployment.md, "Measured"

    def __init__(self, config=None, weight_path=None, relative=True, adapt_scale=True, align_corners=None,
                 image_size=None, batch_size=None, num_threads=None, backend="auto", device=None, use_trt=False,
                 model_dir=None):
        self.relative = relative
        self.adapt_scale = adapt_scale
        self.align_corners = align_corners
        super().__init__(config, weight_path, image_size=image_size, batch_size=batch_size, num_threads=num_threads,
                         backend=backend, device=device, use_trt=use_trt, model_dir=model_dir)

    @classmethod
    def motion_options(cls, args):
        """Constructor options from the command line's motion flags (--relative, --adapt_scale; on unless
        turned off); --mode belongs to TPSMM and is an error here."""
        if getattr(args, "mode", None) is not None:
            raise InputError("--mode is a Thin-Plate Spline Motion Model option; a First Order Motion Model animates "
                             "with --relative/--no-relative and --adapt_scale/--no-adapt_scale")
        return {"relative": args.relative is not False, "adapt_scale": args.adapt_scale is not False}

    def _configure(self, cfg):
        if self.align_corners is not None:
            cfg["model"]["common"]["align_corners"] = bool(self.align_corners)

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
