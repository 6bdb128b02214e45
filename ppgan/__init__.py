"""ppgan-fomm: the First Order Motion Model for Image Animation in PaddlePaddle."""
import os
import warnings
# Paddle 2.6's libpaddle.so carries its own copy of zlib's functions: once it is loaded first, the system zlib's
# calls among its own functions land in that copy, and Python's zlib (numpy.random's import, .npz and gzip files)
# crashes the process. Loaded before Paddle, the system zlib keeps to itself.
import zlib  # noqa: F401

__version__ = "0.1.0"

# ONNX Runtime (the default CPU backend) 1.29 and newer send usage telemetry to Microsoft from Linux and macOS and
# keep a device identifier in the temporary folder; nothing of a user's animation is anyone else's business. Both
# variables must be set before onnxruntime is first imported (the first spelling is the full opt-out since 1.29,
# the second one's since 1.33). A user who sets either keeps their value.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("ORT_TELEMETRY_DISABLED", "1")

# Paddle warns at import about a compiler cache used only for building custom C++ ops.
warnings.filterwarnings("ignore", message=".*ccache.*")
# Paddle 2.6 tells, at every batch-norm layer in training mode, that it tracks running statistics (as 3.x does silently)
warnings.filterwarnings("ignore", message="When training, we now always track global mean and variance",
                        category=UserWarning, module=r"paddle\.")

from . import utils, modules, models, datasets, detectors, apps  # noqa: F401,E402
