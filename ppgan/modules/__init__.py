"""Building blocks and the keypoint detector / dense motion networks (registered)."""
from . import geometry  # noqa: F401
from .builder import BACKBONES, KP_DETECTORS, DENSE_MOTIONS  # noqa: F401
from .hourglass import Hourglass  # noqa: F401
from .keypoint_detector import KPDetector  # noqa: F401
from .dense_motion import DenseMotionNetwork  # noqa: F401
from .antialias import AntiAliasInterpolation2d, ImagePyramide  # noqa: F401
