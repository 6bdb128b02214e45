"""Generators, discriminators and training models, built from config through registries."""
from .builder import MODELS, GENERATORS, DISCRIMINATORS, build_nets, build_net  # noqa: F401
from . import generators, discriminators  # noqa: F401
