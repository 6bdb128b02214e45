"""Utilities: registries, configs, errors, logging, file helpers."""
from .errors import PPGanError, ConfigError, CheckpointError, InputError  # noqa: F401
from .registry import Registry  # noqa: F401
