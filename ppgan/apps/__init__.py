"""High-level applications (Python API): a predictor per model family, and live animation."""
from .predictor import AnimationPredictor, PreparedSource, predictor_class  # noqa: F401
from .first_order_predictor import FirstOrderPredictor  # noqa: F401
from .tpsmm_predictor import TPSMMPredictor  # noqa: F401
from .live import DeviceCamera, LiveSession, VideoCamera  # noqa: F401
