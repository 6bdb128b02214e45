"""The mobile FOMM deployed: tools/export_model.py exports PaddleGAN's mobile checkpoint (Paddle graphs and ONNX),
and Paddle Inference and ONNX Runtime animate it as the dygraph nets do."""
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, require_onnx
from ppgan.apps import FirstOrderPredictor
from ppgan.apps.export import read_manifest

CONFIG = os.path.join(REPO, "configs", "firstorder_synthetic_mobile_64.yaml")
WEIGHTS = os.path.join(REPO, "tests", "data", "paddlegan_mobile.pdparams")  # written by PaddleGAN's own code
TOL = 1e-4  # the acceptance bound between a static backend and the dygraph predictor


@pytest.fixture(scope="module")
def clip():
    rng = np.random.RandomState(5)
    return rng.rand(64, 64, 3).astype(np.float32), rng.rand(4, 64, 64, 3).astype(np.float32)


@pytest.fixture(scope="module")
def reference(clip):
    return FirstOrderPredictor(CONFIG, WEIGHTS, backend="dygraph").animate(*clip)


def test_export_model_cli_exports_the_mobile_model(clip, reference, tmp_path):
    require_onnx()
    folder = str(tmp_path / "mobile")
    r = subprocess.run([sys.executable, os.path.join(REPO, "tools", "export_model.py"), "-c", CONFIG, "--load",
                        WEIGHTS, "--output_dir", folder, "--onnx"], capture_output=True, text=True, cwd=REPO,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    manifest = read_manifest(folder)
    assert manifest["model"] == "FirstOrderModel" and manifest["image_size"] == [64, 64]
    for backend in ("inference", "onnx"):
        frames = FirstOrderPredictor(model_dir=folder, backend=backend, batch_size=2).animate(*clip)
        print("%s: max |frame - dygraph frame| %.1e" % (backend, np.abs(frames - reference).max()))
        assert np.abs(frames - reference).max() <= TOL, backend
