"""Training and evaluation loops."""
from .evaluator import animate_pairs, reconstruct  # noqa: F401
from .trainer import Trainer  # noqa: F401
