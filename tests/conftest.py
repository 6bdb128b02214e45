"""Shared fixtures: the parity fixture folder and a tiny model config."""
import copy
import os
import socket
import threading
import warnings

import numpy as np
import pytest

warnings.filterwarnings("ignore", message=".*ccache.*")
# Tests never touch the network: a released file the code would download is refused with its offline error
# (ppgan.utils.download), in this process and in every program a test starts.
os.environ["PPGAN_OFFLINE"] = "1"

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARITY_DIR = os.environ.get("PPGAN_PARITY_DIR", os.path.join(os.path.dirname(REPO), "shared", "parity"))
TPSMM_PARITY_DIR = os.environ.get("PPGAN_TPSMM_PARITY_DIR",
                                  os.path.join(os.path.dirname(REPO), "shared", "parity-tpsmm"))
REQUIRE_PARITY = os.environ.get("PPGAN_REQUIRE_PARITY", "") not in ("", "0")
PARITY_MODELS = ["vox", "vox-adv", "mgif", "zero-order", "multiscale-pad"]

# The suite runs in parallel (pytest.ini: pytest-xdist, -n auto --dist loadgroup): every module is one
# unit of work, kept in one process so that its module fixtures are built once, unless its tests name
# their own xdist_group. Units start in the order below, the slowest first (measured with --durations=0
# on 2 cores), so that none of them starts last and ends the run late; the rest follow in file order.
SLOWEST_FIRST = ["tests/test_docs.py", "tests/engine/test_learning.py", "tests/apps/test_shipped_models.py"]
MAX_WORKERS = 4  # each worker holds a Paddle process of 1-2 GB and starts multi-threaded subprocesses


class OutboundRecorder:
    """A stand-in HTTP(S) proxy on loopback: a process told to reach other hosts through it (`env`) has every
    attempt recorded here (its request line, e.g. 'CONNECT host:443 HTTP/1.1'; the connection is then closed)
    instead of leaving the machine."""

    def __init__(self):
        self.requests = []
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(8)
        self.url = "http://127.0.0.1:%d" % self._socket.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def env(self, base=None):
        """`base` (default os.environ) with every proxy variable pointing here, loopback excepted."""
        names = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
        env = dict(os.environ if base is None else base, **{name: self.url for name in names})
        env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
        return env

    def _serve(self):
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(2)
                try:
                    self.requests.append(connection.recv(4096).split(b"\r\n", 1)[0].decode("latin-1"))
                except OSError:
                    pass

    def close(self):
        self._socket.close()


def pytest_xdist_auto_num_workers(config):
    """-n auto: one worker per core this process may use, at most MAX_WORKERS."""
    return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    """Group each test by its module (unless it names an xdist_group) and put the slowest groups first."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))

    def rank(item):
        module = item.nodeid.split("::")[0]
        return SLOWEST_FIRST.index(module) if module in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=rank)


def _fixture(root, parts, where, variable):
    path = os.path.join(root, *parts)
    if not os.path.exists(path):
        message = ("parity fixture %s not found: clone the project next to shared/ (%s) or set %s"
                   % (path, where, variable))
        if REQUIRE_PARITY:
            pytest.fail(message)
        pytest.skip(message)
    return path


def parity_path(*parts):
    """Path inside the parity fixtures; skips (or fails when PPGAN_REQUIRE_PARITY=1) if they are absent."""
    return _fixture(PARITY_DIR, parts, "../shared/parity", "PPGAN_PARITY_DIR")


def tpsmm_parity_path(*parts):
    """Path inside the TPSMM parity fixtures (../shared/parity-tpsmm); skips or fails as parity_path."""
    return _fixture(TPSMM_PARITY_DIR, parts, "../shared/parity-tpsmm", "PPGAN_TPSMM_PARITY_DIR")


def require_onnx():
    """Skip without paddle2onnx + onnxruntime (requirements of the install); fail instead in CI
    (PPGAN_REQUIRE_PARITY=1)."""
    from ppgan.apps.export import onnx_available

    if not onnx_available():
        message = 'paddle2onnx or onnxruntime is not installed: pip install -e ".[test]"'
        if REQUIRE_PARITY:
            pytest.fail(message)
        pytest.skip(message)


def parity_cases():
    """(model, align_corners) pairs of every io-*.npz the fixtures are expected to hold."""
    cases = [(m, False) for m in PARITY_MODELS]
    cases += [("vox", True), ("mgif", True)]
    return cases


TINY_MODEL = {
    "common": {"num_kp": 4, "num_channels": 3, "estimate_jacobian": True, "align_corners": True},
    "kp_detector": {"name": "KPDetector", "temperature": 0.1, "scale_factor": 0.5,
                    "backbone": {"name": "Hourglass", "block_expansion": 4, "max_features": 16, "num_blocks": 3}},
    "generator": {"name": "OcclusionAwareGenerator", "block_expansion": 4, "max_features": 16, "num_down_blocks": 2,
                  "num_bottleneck_blocks": 1, "estimate_occlusion_map": True,
                  "dense_motion": {"name": "DenseMotionNetwork", "scale_factor": 0.5,
                                   "backbone": {"name": "Hourglass", "block_expansion": 4, "max_features": 16,
                                                "num_blocks": 3}}},
    "discriminator": {"name": "MultiScaleDiscriminator", "scales": [1], "block_expansion": 4, "max_features": 16,
                      "num_blocks": 2, "sn": True},
}


# A small thin-plate spline motion model (the ResNet18s keep their width; 64x64 frames work).
TINY_TPSMM_MODEL = {
    "name": "TPSMMModel",
    "common": {"num_tps": 2, "num_channels": 3, "multi_mask": True},
    "kp_detector": {"name": "TPSKPDetector", "backbone": {"name": "ResNet18"}},
    "dense_motion_network": {"name": "TPSDenseMotionNetwork", "scale_factor": 0.25,
                             "backbone": {"name": "Hourglass", "block_expansion": 4, "max_features": 16,
                                          "num_blocks": 3, "norm": "instance"}},
    "inpainting_network": {"name": "InpaintingNetwork", "block_expansion": 4, "max_features": 16, "num_down_blocks": 3},
    "bg_predictor": {"name": "BGMotionPredictor", "backbone": {"name": "ResNet18"}},
    "avd_network": {"name": "AVDNetwork", "id_bottle_size": 8, "pose_bottle_size": 8},
}


@pytest.fixture
def tiny_tpsmm_config():
    """A small native TPSMM config at 64x64."""
    return {"model": copy.deepcopy(TINY_TPSMM_MODEL), "dataset": {"frame_shape": [64, 64, 3]}}


@pytest.fixture
def tiny_tpsmm_weights(tiny_tpsmm_config, tmp_path):
    """A .pdparams of every net of the tiny TPSMM model (seeded random weights; the control points are
    spread by a random output layer so that the splines are not degenerate)."""
    import paddle
    from ppgan.models import build_nets
    from ppgan.utils.checkpoint import save_weights
    paddle.seed(2)
    nets = build_nets(tiny_tpsmm_config["model"])
    state = {k: {n: v.numpy() for n, v in net.state_dict().items()} for k, net in nets.items()}
    rng = np.random.RandomState(2)
    fc = state["kp_detector"]
    fc["fg_encoder.fc.bias"] = rng.uniform(-2, 2, fc["fg_encoder.fc.bias"].shape).astype(np.float32)
    fc["fg_encoder.fc.weight"] = fc["fg_encoder.fc.weight"] * 0.1
    path = str(tmp_path / "tiny_tpsmm.pdparams")
    save_weights(state, path)
    return path


@pytest.fixture(autouse=True, scope="session")
def export_cache(tmp_path_factory):
    """Exports made for the static backends go to a temporary cache, never the user's ~/.cache."""
    folder = str(tmp_path_factory.mktemp("export-cache"))
    previous = os.environ.get("PPGAN_CACHE_DIR")
    os.environ["PPGAN_CACHE_DIR"] = folder
    yield folder
    if previous is None:
        os.environ.pop("PPGAN_CACHE_DIR", None)
    else:
        os.environ["PPGAN_CACHE_DIR"] = previous


@pytest.fixture
def tiny_config():
    """A small native config (32x32 frames work)."""
    return {"model": copy.deepcopy(TINY_MODEL), "dataset": {"frame_shape": [32, 32, 3]}}


@pytest.fixture
def tiny_weights(tiny_config, tmp_path):
    """A .pdparams of the tiny model's kp_detector and generator (seeded random weights)."""
    import paddle
    from ppgan.models import build_nets
    from ppgan.utils.checkpoint import save_weights
    paddle.seed(1)
    nets = build_nets(tiny_config["model"], ["kp_detector", "generator"])
    path = str(tmp_path / "tiny.pdparams")
    save_weights({k: {n: v.numpy() for n, v in net.state_dict().items()} for k, net in nets.items()}, path)
    return path


def _config_file(config, path):
    """`config` written as YAML to `path`; returns the path as a string."""
    import yaml

    with open(str(path), "w") as f:
        yaml.safe_dump(config, f)
    return str(path)


@pytest.fixture
def tiny_model(tiny_config, tiny_weights, tmp_path):
    """(config path, weights path) of the tiny model, as the command lines take them."""
    return _config_file(tiny_config, tmp_path / "tiny.yaml"), tiny_weights


@pytest.fixture
def tiny_tpsmm_model(tiny_tpsmm_config, tiny_tpsmm_weights, tmp_path):
    """(config path, weights path) of the tiny TPSMM model, as the command lines take them."""
    return _config_file(tiny_tpsmm_config, tmp_path / "tiny_tpsmm.yaml"), tiny_tpsmm_weights


@pytest.fixture
def rng():
    return np.random.RandomState(0)


def seeded_vgg():
    """The VGG19 of the parity fixtures' perceptual losses: seeded weights (../shared/parity/vgg19_weights.py)."""
    import sys
    from ppgan.models.criterions import Vgg19
    path = parity_path("vgg19_weights.py")
    sys.path.insert(0, os.path.dirname(path))
    try:
        from vgg19_weights import seeded_vgg19_weights
    finally:
        sys.path.remove(os.path.dirname(path))
    vgg = Vgg19()
    vgg.set_weights(seeded_vgg19_weights())
    return vgg
