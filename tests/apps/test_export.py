"""ppgan/apps/export.py: export folders, their manifest, replacement rules and ONNX conversion."""
import json
import os

import numpy as np
import pytest

from conftest import require_onnx
from ppgan.apps import FirstOrderPredictor
from ppgan.apps import cache
from ppgan.apps.export import ExportError, add_onnx, cached_export, export_model, has_onnx, read_manifest
from ppgan.apps.graphs import GRAPH_NAMES
from ppgan.utils.errors import InputError


@pytest.fixture
def nets(tiny_config, tiny_weights):
    graphs = FirstOrderPredictor(tiny_config, tiny_weights, backend="dygraph").graphs
    return graphs["kp_detector"].kp_detector, graphs["source_encoder"].generator


def test_export_writes_three_graphs_and_a_manifest(nets, tmp_path):
    folder = str(tmp_path / "model")
    manifest = export_model(*nets, folder, (32, 32), source={"config": "tiny"})
    assert manifest == read_manifest(folder)
    assert manifest["image_size"] == [32, 32] and manifest["num_kp"] == 4 and manifest["has_jacobian"]
    assert manifest["graphs"]["frame_generator"]["inputs"] == [
        "source_image", "source_features", "kp_source_value", "kp_driving_value", "kp_source_jacobian",
        "kp_driving_jacobian"]
    for name in GRAPH_NAMES:
        entry = manifest["graphs"][name]
        assert os.path.getsize(os.path.join(folder, entry["model"])) > 0
        assert os.path.getsize(os.path.join(folder, entry["params"])) > 0
    assert not [n for n in os.listdir(str(tmp_path)) if n.startswith(".")], "no temporary folder is left"


def _op_names(node):
    """Operation names of a PIR json program (every '#' field names a type, attribute or operation)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "#" and isinstance(value, str):
                yield value.split(".", 1)[-1]
            else:
                yield from _op_names(value)
    elif isinstance(node, list):
        for item in node:
            yield from _op_names(item)


def test_exported_graphs_have_no_interpolation_or_inverse_ops(nets, tmp_path):
    """Ops Paddle 3.3's oneDNN runtime (interpolation) or ONNX (matrix inverse) cannot run are not exported."""
    folder = str(tmp_path / "model")
    manifest = export_model(*nets, folder, (32, 32))
    if not manifest["graphs"]["kp_detector"]["model"].endswith(".json"):
        pytest.skip("a Paddle 2 program (.pdmodel) lists every op of the framework in its version map")
    for entry in manifest["graphs"].values():
        with open(os.path.join(folder, entry["model"])) as f:
            names = set(_op_names(json.load(f)))
        assert "conv2d" in names
        assert not [n for n in names if "interp" in n or "inverse" in n or "pad3d" in n], entry["model"]


def test_export_replaces_an_earlier_export_but_nothing_else(nets, tmp_path):
    folder = tmp_path / "model"
    export_model(*nets, str(folder), (32, 32))
    (folder / "manifest.json").write_text(json.dumps(dict(read_manifest(str(folder)), source={"old": True})))
    export_model(*nets, str(folder), (32, 32))
    assert read_manifest(str(folder))["source"] == {}
    other = tmp_path / "photos"
    other.mkdir()
    (other / "me.jpg").write_bytes(b"x")
    with pytest.raises(InputError, match="non-empty folder"):
        export_model(*nets, str(other), (32, 32))
    assert os.listdir(str(other)) == ["me.jpg"]
    with pytest.raises(InputError, match="is a file"):
        export_model(*nets, str(other / "me.jpg"), (32, 32))


def test_broken_export_folders_are_one_clear_error(nets, tmp_path):
    folder = tmp_path / "model"
    export_model(*nets, str(folder), (32, 32))
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps(dict(manifest, version=99)))
    with pytest.raises(ExportError, match="another version"):
        read_manifest(str(folder))
    (folder / "manifest.json").write_text(json.dumps(manifest))
    os.unlink(str(folder / "kp_detector.pdiparams"))
    with pytest.raises(ExportError, match="misses kp_detector.pdiparams"):
        read_manifest(str(folder))
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(ExportError, match="cannot read"):
        read_manifest(str(folder))
    with pytest.raises(ExportError, match="not an exported model"):
        read_manifest(str(tmp_path))


def test_onnx_conversion_and_a_missing_extra(nets, tmp_path, monkeypatch):
    require_onnx()
    folder = str(tmp_path / "model")
    export_model(*nets, folder, (32, 32))
    manifest = add_onnx(folder)
    assert all(os.path.getsize(os.path.join(folder, e["onnx"])) > 0 for e in manifest["graphs"].values())
    assert read_manifest(folder) == manifest
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "paddle2onnx" else real(name, *a))
    with pytest.raises(ExportError, match="pip install paddle2onnx onnxruntime"):
        export_model(*nets, str(tmp_path / "again"), (32, 32), onnx=True)
    assert not os.path.exists(str(tmp_path / "again"))


def test_adding_onnx_to_a_cached_export_never_fills_the_disk(nets, tmp_path, monkeypatch):
    """ONNX graphs added to a cached export hold its weights once more: refused when they would leave the disk
    under cache.RESERVE_MB free; an export that has them writes nothing and is never refused."""
    import shutil

    require_onnx()
    folder = str(tmp_path / "cached")
    cached_export(*nets, folder, (32, 32))  # Paddle Inference graphs only
    size = cache.folder_bytes(folder)
    real = shutil.disk_usage
    free = {"bytes": cache.RESERVE_MB * 1024 * 1024 + size - 1}
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=free["bytes"]))
    with pytest.raises(InputError, match="would leave less than the 256 MB an export keeps free"):
        cached_export(*nets, folder, (32, 32), onnx=True)
    assert not has_onnx(read_manifest(folder))
    free["bytes"] += 1
    cached_export(*nets, folder, (32, 32), onnx=True)
    assert has_onnx(read_manifest(folder))
    free["bytes"] = 0
    assert cached_export(*nets, folder, (32, 32), onnx=True) == folder


@pytest.mark.parametrize("paddle_version, converter, advice", [
    ("2.6.2", "2.1.0", 'pip install "paddle2onnx<2"'), ("3.3.1", "1.3.1", 'pip install "paddle2onnx>=2"'),
    ("2.6.2", "1.3.1", None), ("3.3.1", "2.1.0", None), ("0.0.0", "2.1.0", None)])
def test_a_paddle2onnx_that_cannot_read_this_paddles_programs_is_one_error(nets, tmp_path, monkeypatch,
                                                                          paddle_version, converter, advice):
    """paddle2onnx 2.x refuses Paddle 2.6 and 1.x cannot read Paddle 3's programs: the pair is checked before
    a conversion starts, and the error names the release to install."""
    import importlib.metadata
    import re
    import subprocess

    import paddle

    from ppgan.apps.export import OnnxConversionError, convert_to_onnx, converter_mismatch

    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: converter if name == "paddle2onnx" else real(name))
    monkeypatch.setattr(paddle, "__version__", paddle_version)
    if advice is None:
        assert converter_mismatch() is None
        return
    assert advice in converter_mismatch() and converter in converter_mismatch()
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("no conversion is attempted"))
    folder = str(tmp_path / "model")
    manifest = export_model(*nets, folder, (32, 32))
    with pytest.raises(OnnxConversionError, match=re.escape(advice)):
        convert_to_onnx(folder, manifest)
    assert not [n for n in os.listdir(folder) if n.endswith(".onnx")]


def test_export_keeps_the_dygraph_nets_usable(tiny_config, tiny_weights, tmp_path, rng):
    predictor = FirstOrderPredictor(tiny_config, tiny_weights, backend="dygraph")
    clip = rng.rand(32, 32, 3), rng.rand(3, 32, 32, 3)
    before = predictor.animate(*clip)
    graphs = predictor.graphs
    export_model(graphs["kp_detector"].kp_detector, graphs["source_encoder"].generator, str(tmp_path / "m"), (32, 32))
    np.testing.assert_array_equal(predictor.animate(*clip), before)


def test_exporting_prints_no_paddle_tracing_noise(tiny_config, tiny_weights, tmp_path):
    """Paddle 3.3 warns 'PIR not support input out tensor' on every traced addition; the export hides it."""
    import re
    import subprocess
    import sys

    import yaml

    from conftest import REPO
    config = str(tmp_path / "tiny.yaml")
    with open(config, "w") as f:
        yaml.safe_dump(tiny_config, f)
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "export_model.py"), "-c", config, "--load",
                           tiny_weights, "--output_dir", str(tmp_path / "out"), "--image_size", "32"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "not support input out tensor" not in proc.stderr, proc.stderr
    assert not re.search(r"^[IW]\d{4} ", proc.stderr, re.M), proc.stderr   # no glog line at all
    assert "Warning" not in proc.stderr, proc.stderr   # nor Python warnings (Paddle 2.6 deprecates its own op attributes)


def test_drop_native_messages_keeps_the_other_lines_in_order(capfd):
    from ppgan.utils.logger import drop_native_messages
    import re
    with drop_native_messages(re.compile("noise")):
        os.write(2, b"first\nsome noise here\n")
        os.write(2, b"last\n")
    assert capfd.readouterr().err == "first\nlast\n"
