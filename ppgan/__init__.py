"""ppgan-fomm: the First Order Motion Model for Image Animation in PaddlePaddle."""
__version__ = "0.1.0"

from . import utils, modules, models, apps  # noqa: F401,E402
