"""Registries of the detectors, and building one from a name or a config dict.

Four kinds, one registry each: FACE_DETECTORS (face boxes, with 68 landmarks where the detector has them),
FACE_EMBEDDERS (identity descriptors of a face), POSE_ESTIMATORS (body keypoints) and FACE_ENHANCERS (restorers
of face crops). A config entry is a name (``dlib``) or a dict whose ``name`` picks the class and whose other keys
are its arguments (``{name: dlib, upsample: 2}``); unknown names and keys are errors that list the choices.
"""
from ppgan.utils.errors import ConfigError, PPGanError
from ppgan.utils.registry import Registry

FACE_DETECTORS = Registry("face detector")
FACE_EMBEDDERS = Registry("face embedder")
POSE_ESTIMATORS = Registry("pose estimator")
FACE_ENHANCERS = Registry("face enhancer")

EVAL_EXTRA = "pip install 'ppgan-fomm[eval]'"
DEFAULT_FACE_DETECTOR = "dlib"
DEFAULT_POSE_ESTIMATOR = "blazepose"
DEFAULT_FACE_ENHANCER = "gpen"


class DetectorUnavailable(PPGanError):
    """A detector's library or model file is not installed; the message names what to install."""


def _build(registry, cfg, what):
    if isinstance(cfg, str):
        cfg = {"name": cfg}
    try:
        return registry.build(cfg)
    except ConfigError as e:
        raise e.with_prefix(what) from None


def build_face_detector(cfg=DEFAULT_FACE_DETECTOR):
    """A face detector from a registered name or {name: ..., arguments}."""
    return _build(FACE_DETECTORS, cfg, "face_detector")


def face_detector_config(name, method="hog", landmarks=True):
    """The config of the face detector `name` as the tools' --detector and --method give it: dlib's takes the
    `method` and whether to find `landmarks`; other detectors take neither."""
    return {"name": name, "method": method, "landmarks": bool(landmarks)} if name == "dlib" else {"name": name}


def build_face_embedder(cfg="dlib"):
    """A face identity embedder from a registered name or {name: ..., arguments}."""
    return _build(FACE_EMBEDDERS, cfg, "face_embedder")


def build_pose_estimator(cfg=DEFAULT_POSE_ESTIMATOR):
    """A body pose estimator from a registered name or {name: ..., arguments}."""
    return _build(POSE_ESTIMATORS, cfg, "pose_estimator")


def build_face_enhancer(cfg=DEFAULT_FACE_ENHANCER):
    """A face enhancer from a registered name or {name: ..., arguments}."""
    return _build(FACE_ENHANCERS, cfg, "face_enhancer")


def require_module(module, detector, install=EVAL_EXTRA):
    """Import `module` for `detector`, or raise DetectorUnavailable naming what to install."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise DetectorUnavailable("the %s needs the Python package '%s', which is not installed (%s); install it "
                                  "with %s" % (detector, module, e, install)) from e
