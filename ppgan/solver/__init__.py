"""Optimizers and learning-rate schedules of the original: Adam(0.5, 0.999) per net, x0.1 at epoch milestones."""
from .builder import build_optimizers, build_schedulers  # noqa: F401
