"""ppgan-fomm: the First Order Motion Model for Image Animation in PaddlePaddle."""
import warnings

__version__ = "0.1.0"

# Paddle warns at import about a compiler cache used only for building custom C++ ops.
warnings.filterwarnings("ignore", message=".*ccache.*")

from . import utils, modules, models, datasets, apps  # noqa: F401,E402
