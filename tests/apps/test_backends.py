"""ppgan/apps/backends.py: exported graphs run by Paddle Inference and ONNX Runtime equal the dygraph ones."""
import copy
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, require_onnx
from ppgan.apps import FirstOrderPredictor
from ppgan.apps import backends
from ppgan.apps.export import ExportError, export_model
from ppgan.utils.errors import InputError

TOL = 1e-4  # the acceptance bound between a static backend and the dygraph predictor
STATIC = ["inference", "onnx"]


@pytest.fixture(autouse=True)
def _onnx_extra(request):
    if "onnx" in request.node.name:
        require_onnx()


@pytest.fixture
def clip(rng):
    return rng.rand(32, 32, 3).astype(np.float32), rng.rand(5, 32, 32, 3).astype(np.float32)


def _animate(tiny_config, weights, clip, **kwargs):
    return FirstOrderPredictor(tiny_config, weights, **kwargs).animate(*clip, return_keypoints=True)


@pytest.mark.parametrize("backend", STATIC)
@pytest.mark.parametrize("relative", [True, False])
def test_static_backends_equal_dygraph(tiny_config, tiny_weights, clip, backend, relative):
    reference, kp_ref = _animate(tiny_config, tiny_weights, clip, backend="dygraph", relative=relative)
    predictor = FirstOrderPredictor(tiny_config, tiny_weights, backend=backend, relative=relative, batch_size=3)
    frames, kp = predictor.animate(*clip, return_keypoints=True)
    engine = {"inference": backends.InferenceBackend, "onnx": backends.OnnxBackend}[backend]
    assert [type(b) for b in predictor._backends.values()] == [engine]
    assert np.abs(frames - reference).max() <= TOL
    for name in kp_ref:
        assert np.abs(kp[name] - kp_ref[name]).max() <= TOL


@pytest.mark.parametrize("backend", STATIC)
def test_models_without_jacobians_export(tiny_config, clip, backend, tmp_path):
    """Zero-order models (no jacobians, no occlusion) have a frame_generator with four inputs."""
    import paddle

    from ppgan.models import build_nets
    from ppgan.utils.checkpoint import save_weights

    cfg = copy.deepcopy(tiny_config)
    cfg["model"]["common"]["estimate_jacobian"] = False
    cfg["model"]["generator"]["estimate_occlusion_map"] = False
    paddle.seed(3)
    nets = build_nets(cfg["model"], ["kp_detector", "generator"])
    weights = str(tmp_path / "zero.pdparams")
    save_weights({k: {n: v.numpy() for n, v in net.state_dict().items()} for k, net in nets.items()}, weights)
    reference, kp = _animate(cfg, weights, clip, backend="dygraph")
    assert set(kp) == {"value"}
    frames, _ = _animate(cfg, weights, clip, backend=backend)
    assert np.abs(frames - reference).max() <= TOL


def test_exported_folder_runs_without_config_and_checks_its_size(tiny_config, tiny_weights, clip, tmp_path):
    exporter = FirstOrderPredictor(tiny_config, tiny_weights, backend="dygraph")
    folder = str(tmp_path / "export")
    export_model(exporter.graphs["kp_detector"].kp_detector, exporter.graphs["source_encoder"].generator, folder,
                 (32, 32))
    reference = exporter.animate(*clip)
    predictor = FirstOrderPredictor(model_dir=folder, backend="inference", batch_size=2)
    assert predictor.image_size == (32, 32)
    assert FirstOrderPredictor(model_dir=folder).backend == "inference"  # auto: the folder has no ONNX graphs
    assert np.abs(predictor.animate(*clip) - reference).max() <= TOL
    with pytest.raises(InputError, match="exported for 32x32"):
        FirstOrderPredictor(model_dir=folder, backend="inference", image_size=64)
    with pytest.raises(InputError, match="not 'dygraph'"):
        FirstOrderPredictor(model_dir=folder, backend="dygraph")
    with pytest.raises(InputError, match="not both"):
        FirstOrderPredictor(tiny_config, tiny_weights, model_dir=folder)
    with pytest.raises(ExportError, match="--onnx"):
        FirstOrderPredictor(model_dir=folder, backend="onnx")
    with pytest.raises(ExportError, match="does not exist"):
        FirstOrderPredictor(model_dir=str(tmp_path / "missing"), backend="inference")


def test_backend_and_device_choices(tiny_config, tiny_weights, monkeypatch):
    with pytest.raises(InputError, match="backend must be one of"):
        FirstOrderPredictor(tiny_config, tiny_weights, backend="tensorrt")
    with pytest.raises(InputError, match="device must be"):
        FirstOrderPredictor(tiny_config, tiny_weights, device="tpu")
    import paddle

    if not paddle.device.is_compiled_with_cuda():
        with pytest.raises(InputError, match="paddlepaddle-gpu"):
            FirstOrderPredictor(tiny_config, tiny_weights, device="gpu")
    monkeypatch.setattr("ppgan.apps.export.onnx_available", lambda: False)
    assert backends.auto_backend("cpu") == "inference"
    monkeypatch.setattr("ppgan.apps.export.onnx_available", lambda: True)
    assert backends.auto_backend("cpu") == "onnx"
    assert backends.auto_backend("gpu") == "inference"


def test_inference_on_two_threads_survives_many_batches(tmp_path):
    """Regression: oneDNN's batched matmul with a one-channel broadcast operand (the occlusion map's resize)
    corrupted the heap on two threads, crashing most runs of the shipped FOMM at batch 8 (in a child:
    a crash must fail this test, not end the test run)."""
    script = """
import sys
sys.path.insert(0, %r)
import numpy as np
from ppgan.apps import FirstOrderPredictor
from ppgan.apps.demo import SHIPPED_MODEL_DIRS
fomm = SHIPPED_MODEL_DIRS["FirstOrderModel"]
p = FirstOrderPredictor(fomm + "/config.yaml", fomm + "/weights.pdparams", backend="inference", num_threads=2,
                        batch_size=8)
rng = np.random.RandomState(0)
count = sum(1 for _ in p.iter_animate(rng.rand(64, 64, 3), (rng.rand(64, 64, 3) for _ in range(93))))
print("frames", count)
""" % REPO
    env = dict(os.environ, PPGAN_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "frames 93" in proc.stdout


def test_export_cache_is_reused_and_keyed_by_the_weights(tiny_config, tiny_weights, clip, tmp_path, monkeypatch):
    monkeypatch.setenv("PPGAN_CACHE_DIR", str(tmp_path / "cache"))
    FirstOrderPredictor(tiny_config, tiny_weights, backend="inference").animate(*clip)
    exports = os.listdir(str(tmp_path / "cache" / "exports"))
    assert len(exports) == 1
    manifest = os.path.join(str(tmp_path / "cache" / "exports"), exports[0], "manifest.json")
    stamp = os.stat(manifest).st_mtime_ns
    FirstOrderPredictor(tiny_config, tiny_weights, backend="inference").animate(*clip)
    assert os.stat(manifest).st_mtime_ns == stamp  # reused, not exported again
    with open(manifest) as f:
        assert json.load(f)["image_size"] == [32, 32]
    other = str(tmp_path / "other.pdparams")
    with open(tiny_weights, "rb") as src, open(other, "wb") as dst:
        dst.write(src.read())
    import paddle

    state = paddle.load(other)
    key = next(iter(state["generator"]))
    state["generator"][key] = state["generator"][key] + 1
    paddle.save(state, other)
    FirstOrderPredictor(tiny_config, other, backend="inference").animate(*clip)
    assert len(os.listdir(str(tmp_path / "cache" / "exports"))) == 2


def test_unwritable_export_cache_is_one_clear_error(tiny_config, tiny_weights, clip, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    monkeypatch.setenv("PPGAN_CACHE_DIR", str(blocker / "cache"))  # below a file: cannot be created
    with pytest.raises(ExportError, match="PPGAN_CACHE_DIR"):
        FirstOrderPredictor(tiny_config, tiny_weights, backend="inference").animate(*clip)


@pytest.mark.parametrize("backend", ["dygraph", "inference"])
def test_a_frame_size_the_model_cannot_process_is_one_error(tiny_config, tiny_weights, backend, rng):
    predictor = FirstOrderPredictor(tiny_config, tiny_weights, image_size=36, backend=backend)
    with pytest.raises(InputError, match="cannot animate at 36x36.*image_size"):
        predictor.animate(rng.rand(32, 32, 3), rng.rand(2, 32, 32, 3))


def test_batch_size_none_picks_the_fastest_measured_per_backend(tiny_config, tiny_weights, tiny_tpsmm_config,
                                                                 tiny_tpsmm_weights):
    from ppgan.apps import TPSMMPredictor

    fomm = {b: FirstOrderPredictor(tiny_config, tiny_weights, backend=b).batch_size for b in STATIC + ["dygraph"]}
    assert fomm == {"inference": 1, "onnx": 8, "dygraph": 8}
    assert FirstOrderPredictor(tiny_config, tiny_weights, backend="onnx", batch_size=3).batch_size == 3
    assert {TPSMMPredictor(tiny_tpsmm_config, tiny_tpsmm_weights, backend=b).batch_size
            for b in STATIC + ["dygraph"]} == {1}
    with pytest.raises(InputError, match="batch_size must be at least 1"):
        FirstOrderPredictor(tiny_config, tiny_weights, batch_size=0)


def test_auto_falls_back_to_paddle_inference_when_onnx_conversion_fails(tiny_config, tiny_weights, clip,
                                                                        monkeypatch, caplog):
    """A paddle2onnx that cannot convert this Paddle's programs: 'auto' animates with Paddle Inference (and its
    batch size), an explicit 'onnx' stops with the conversion's message."""
    from ppgan.apps import predictor as predictor_module
    from ppgan.apps.export import OnnxConversionError

    def broken(folder):
        raise OnnxConversionError("paddle2onnx could not convert the exported model (exit 1): unsupported program")

    monkeypatch.setattr(predictor_module, "add_onnx", broken)
    monkeypatch.setattr(predictor_module, "auto_backend", lambda device, model_dir=None: "onnx")
    reference = _animate(tiny_config, tiny_weights, clip, backend="dygraph")[0]
    predictor = FirstOrderPredictor(tiny_config, tiny_weights, backend="auto")
    assert (predictor.backend, predictor.batch_size) == ("onnx", 8)
    frames = predictor.animate(*clip)
    assert (predictor.backend, predictor.batch_size) == ("inference", 1)
    assert [type(b) for b in predictor._backends.values()] == [backends.InferenceBackend]
    assert np.abs(frames - reference).max() <= TOL
    assert "animating with Paddle Inference instead" in caplog.text
    with pytest.raises(OnnxConversionError, match="unsupported program"):
        FirstOrderPredictor(tiny_config, tiny_weights, backend="onnx").animate(*clip)
