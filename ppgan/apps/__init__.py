"""High-level applications (Python API): a predictor per model family."""
from .predictor import AnimationPredictor, predictor_class  # noqa: F401
from .first_order_predictor import FirstOrderPredictor  # noqa: F401
from .tpsmm_predictor import TPSMMPredictor  # noqa: F401
