"""Generators, discriminators and training models, built from config through registries."""
from .builder import (MODELS, GENERATORS, DISCRIMINATORS, build_inference_nets, build_nets, build_net,  # noqa: F401
                      build_model, model_family)
from . import generators, discriminators, criterions  # noqa: F401
from .firstorder_model import FirstOrderModel  # noqa: F401
from .tpsmm_model import TPSMMModel  # noqa: F401
