"""ppgan/apps/cache.py and tools/cache.py: the export cache is listed, bounded and cleaned."""
import json
import os
import time

import pytest

from ppgan.apps import cache
from ppgan.utils.errors import InputError

MB = 1024 * 1024


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("PPGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(cache.LIMIT_VARIABLE, raising=False)
    return tmp_path / "cache" / "exports"


def _export(root, name, megabytes, age_seconds, model="TPSMMModel"):
    """A folder shaped as an export (manifest and a weights file of `megabytes`), last used `age_seconds` ago."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "frame_generator.pdiparams").write_bytes(b"\0" * int(megabytes * MB))
    (folder / "manifest.json").write_text(json.dumps({"model": model, "image_size": [64, 64],
                                                      "source": {"weights": "/w/%s.pdparams" % name}}))
    when = time.time() - age_seconds
    os.utime(str(folder), (when, when))
    return str(folder)


def test_the_least_recently_used_go_first_and_recent_or_kept_ones_stay(root):
    old = _export(root, "old", 3, 7200)
    older = _export(root, "older", 3, 9000)
    kept = _export(root, "kept", 3, 99999)
    recent = _export(root, "recent", 3, 60)  # another process may be running it
    assert [os.path.basename(e["path"]) for e in cache.entries()] == ["kept", "older", "old", "recent"]
    removed = cache.prune(limit=6 * MB + 100, keep=[kept])
    assert [os.path.basename(e["path"]) for e in removed] == ["older", "old"]
    assert os.path.isdir(kept) and os.path.isdir(recent) and not os.path.exists(old) and not os.path.exists(older)
    assert cache.prune(limit=0, keep=[kept]) == []  # what is left is kept or in use


def test_the_bound_comes_from_the_environment(root, monkeypatch):
    assert cache.limit_bytes() == cache.DEFAULT_LIMIT_MB * MB
    monkeypatch.setenv(cache.LIMIT_VARIABLE, "5.5")
    assert cache.limit_bytes() == int(5.5 * MB)
    monkeypatch.setenv(cache.LIMIT_VARIABLE, "0")
    _export(root, "a", 1, 9999)
    assert cache.limit_bytes() is None and cache.prune() == []
    monkeypatch.setenv(cache.LIMIT_VARIABLE, "lots")
    with pytest.raises(InputError, match="PPGAN_CACHE_MAX_MB='lots' is not a number"):
        cache.limit_bytes()


def test_an_export_never_fills_the_disk(root, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    free = {"mb": 900}
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 ** 12, 0, free["mb"] * MB))
    cache.check_free_space(str(root / "new"), 20 * MB)  # a shipped 64x64 model's export on a nearly full disk
    with pytest.raises(InputError, match="has 900 MB free, and this export \\(about 700 MB\\) would leave less than "
                                         "the 256 MB an export keeps free") as error:
        cache.check_free_space(str(root / "new"), 700 * MB)
    assert "python tools/cache.py clean" in str(error.value) and "\n" not in str(error.value)
    free["mb"] = 200
    with pytest.raises(InputError, match="has 200 MB free"):  # too little free whatever the export's size
        cache.check_free_space(str(root / "new"))
    monkeypatch.undo()
    cache.check_free_space(str(root / "new"), reserve_mb=1)  # the real disk


def test_an_exports_size_is_estimated_from_the_nets_weights():
    import paddle

    linear, norm = paddle.nn.Linear(10, 5), paddle.nn.BatchNorm2D(3)  # 55 parameters; 6 parameters and 6 buffers
    assert cache.export_bytes(linear) == int(55 * 4 * cache.EXPORT_BYTES_PER_WEIGHT_BYTE)
    assert cache.export_bytes(linear, None, norm) == int((55 + 12) * 4 * cache.EXPORT_BYTES_PER_WEIGHT_BYTE)


def test_the_shipped_models_export_fits_its_estimate():
    """The estimate the free-space check uses covers a real export (Paddle Inference and ONNX graphs) of the
    shipped TPSMM, without overstating it more than twice. (In the tests' export cache: made once per worker.)"""
    from conftest import require_onnx
    from ppgan.apps import TPSMMPredictor
    from ppgan.apps.export import cache_folder

    require_onnx()
    shipped = os.path.join(os.path.dirname(cache.__file__), "default_model_tpsmm")
    weights = os.path.join(shipped, "weights.pdparams")
    predictor = TPSMMPredictor(os.path.join(shipped, "config.yaml"), weights, backend="onnx")
    graphs = predictor.graphs  # released once the export is made
    estimate = cache.export_bytes(graphs["kp_detector"].kp_detector, graphs["source_encoder"].generator)
    predictor.prepare_backend()
    written = cache.folder_bytes(cache_folder(predictor.cfg["model"], weights, (64, 64)))
    assert written <= estimate < 2 * written, (written, estimate)


def test_the_command_lists_and_cleans(root, capsys):
    _export(root, "a", 1, 3 * 86400, model="FirstOrderModel")
    _export(root, "b", 2, 60)
    assert cache.main([]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("2 export(s), 3.0 MB (bound: 2.00 GB, PPGAN_CACHE_MAX_MB)")
    assert "/w/b.pdparams" in out[1] and "TPSMMModel" in out[1] and "64x64" in out[1]  # the most recent first
    assert "/w/a.pdparams" in out[2] and "FirstOrderModel" in out[2]
    assert cache.main(["clean", "--older_than", "1"]) == 0
    assert capsys.readouterr().out.startswith("removed 1 export(s), 1.0 MB")
    assert cache.main(["clean", "--max_mb", "1"]) == 0  # an explicit clean spares nothing in use
    assert capsys.readouterr().out.startswith("removed 1 export(s), 2.0 MB")
    assert cache.main(["clean"]) == 0 and cache.entries() == []
    with pytest.raises(InputError, match="either --older_than or --max_mb"):
        cache.main(["clean", "--older_than", "1", "--max_mb", "2"])


def test_a_new_export_bounds_the_cache_and_a_used_one_is_touched(root, monkeypatch, tiny_model):
    from ppgan.apps import FirstOrderPredictor

    stale = _export(root, "stale", 2, 99999)
    monkeypatch.setenv(cache.LIMIT_VARIABLE, "1")
    predictor = FirstOrderPredictor(*tiny_model, backend="inference")
    predictor.prepare_backend((32, 32))
    made = [e for e in cache.entries()]
    assert not os.path.exists(stale) and len(made) == 1  # the new export itself is kept, even over the bound
    when = time.time() - 5000
    os.utime(made[0]["path"], (when, when))
    FirstOrderPredictor(*tiny_model, backend="inference").prepare_backend((32, 32))
    assert time.time() - cache.entries()[0]["last_used"] < 60
