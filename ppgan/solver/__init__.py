"""Optimizers and learning-rate schedules of the originals: Adam(0.5, 0.999), x0.1 at epoch milestones."""
from .builder import (OptimizerSpec, build_optimizer, build_optimizers, build_scheduler, build_schedulers,  # noqa: F401
                      build_solver)
