"""High-level applications (Python API)."""
from .first_order_predictor import FirstOrderPredictor  # noqa: F401
