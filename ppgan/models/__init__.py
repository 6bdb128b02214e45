"""Generators, discriminators and training models, built from config through registries."""
from .builder import MODELS, GENERATORS, DISCRIMINATORS, build_nets, build_net, build_model  # noqa: F401
from . import generators, discriminators, criterions  # noqa: F401
from .firstorder_model import FirstOrderModel  # noqa: F401
