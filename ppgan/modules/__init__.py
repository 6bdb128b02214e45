"""Building blocks, backbones, and the keypoint detectors / dense motion networks of both model families
(registered), with TPSMM's background motion predictor and AVD network and PaddleGAN's mobile FOMM nets."""
from . import geometry  # noqa: F401
from .builder import AVD_NETWORKS, BACKBONES, BG_PREDICTORS, DENSE_MOTIONS, KP_DETECTORS  # noqa: F401
from .hourglass import Hourglass  # noqa: F401
from .resnet import ResNet18  # noqa: F401
from .keypoint_detector import KPDetector, TPSKPDetector  # noqa: F401
from .dense_motion import DenseMotionNetwork  # noqa: F401
from .tps_dense_motion import TPSDenseMotionNetwork  # noqa: F401
from .bg_motion import BGMotionPredictor  # noqa: F401
from .avd_network import AVDNetwork  # noqa: F401
from .antialias import AntiAliasInterpolation2d, ImagePyramide  # noqa: F401
from .mobile import MobileDenseMotionNetwork, MobileHourglass, MobileKPDetector  # noqa: F401
