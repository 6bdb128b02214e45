"""PyTorch checkpoint -> Paddle state dict conversion."""
from .torch_reader import load_torch_checkpoint  # noqa: F401
from .converter import convert, convert_state_dict, convert_torch_checkpoint  # noqa: F401
