"""The optional face-alignment plug-in: registered, a one-line error without the library, the weight files it
looks for in each of the library's URL layouts, the download guard; with the library installed, a clear error and
no network access when its weights are not in torch.hub's cache."""
import importlib.util
import os
import sys
import types

import pytest

from ppgan.detectors import FACE_DETECTORS, DetectorUnavailable, build_face_detector
from ppgan.detectors import face_alignment_detector as fad
from ppgan.utils.errors import InputError

HAS_LIBRARY = importlib.util.find_spec("face_alignment") is not None and importlib.util.find_spec("torch") is not None
FAN_URL = "https://example.invalid/python-fan/2DFAN4-11f355bf06.pth.tar"


def test_registered_and_imports_nothing_heavy():
    assert "face_alignment" in FACE_DETECTORS.names()
    assert FACE_DETECTORS.get("face_alignment") is fad.FaceAlignmentDetector
    assert fad.FaceAlignmentDetector.has_landmarks
    if not HAS_LIBRARY:
        assert "torch" not in sys.modules and "face_alignment" not in sys.modules


@pytest.mark.skipif(HAS_LIBRARY, reason="face-alignment is installed here")
def test_without_the_library_one_line_naming_the_package():
    with pytest.raises(DetectorUnavailable, match="pip install face-alignment") as error:
        build_face_detector("face_alignment")
    assert "\n" not in str(error.value)


def test_arguments_checked_before_importing():
    with pytest.raises(InputError, match="device must be one of cpu, cuda, mps"):
        build_face_detector({"name": "face_alignment", "device": "gpu"})
    with pytest.raises(InputError, match="order must be one of largest, library"):
        build_face_detector({"name": "face_alignment", "order": "score"})


def test_weight_url_in_each_layout_of_the_library():
    flat = {"2DFAN-4": FAN_URL, "3DFAN-4": "x"}  # face-alignment <= 1.3.1 and 1.5
    assert fad.weight_url(flat, "2DFAN-4", "2.13.0+cpu") == FAN_URL
    by_torch = {"1.6": {"2DFAN-4": "https://h/2DFAN4_1.6-c827573f02.zip"}}  # 1.3.2 - 1.4.x
    default = {"2DFAN-4": "https://h/2DFAN4-cd938726ad.zip"}
    assert fad.weight_url(by_torch, "2DFAN-4", "1.6.0", default).endswith("2DFAN4_1.6-c827573f02.zip")
    assert fad.weight_url(by_torch, "2DFAN-4", "1.7.0.dev20200101", default).endswith("2DFAN4-cd938726ad.zip")
    assert fad.weight_url(by_torch, "2DFAN-4", "2.13.0", default).endswith("2DFAN4-cd938726ad.zip")
    assert fad.weight_url(None, "2DFAN-4", "2.13.0") is None
    assert fad.url_file_name(FAN_URL) == "2DFAN4-11f355bf06.pth.tar"
    assert fad.url_file_name("https://h/blazeface.pth?raw=true") == "blazeface.pth"


def test_missing_weights(tmp_path):
    other = "https://h/s3fd-619a316812.pth"
    assert fad.missing_weights([other, FAN_URL], str(tmp_path)) == [other, FAN_URL]
    (tmp_path / "s3fd-619a316812.pth").write_bytes(b"w")
    assert fad.missing_weights([other, FAN_URL], str(tmp_path)) == [FAN_URL]


def test_download_guard_refuses_then_restores():
    def real(url, dst, *args, **kwargs):
        return "downloaded"

    hub, by_name, unrelated = (types.SimpleNamespace(download_url_to_file=real), types.SimpleNamespace(
        download_url_to_file=real), types.SimpleNamespace())
    with fad.refusing_downloads([hub, by_name, unrelated], "refused %s to %s") as refuse:
        for module in (hub, by_name):
            with pytest.raises(DetectorUnavailable, match="refused https://h/w.pth to /c/w.pth"):
                module.download_url_to_file("https://h/w.pth", "/c/w.pth", None, progress=True)
        assert not hasattr(unrelated, "download_url_to_file")
        late = types.ModuleType("face_alignment._probe_late_import")
        late.download_url_to_file = refuse  # a module that bound the guard by name while it was active
        sys.modules[late.__name__] = late
    try:
        assert hub.download_url_to_file is real and by_name.download_url_to_file is real
        assert late.download_url_to_file is real
    finally:
        del sys.modules[late.__name__]
    with pytest.raises(RuntimeError, match="boom"), fad.refusing_downloads([hub], "%s %s"):
        raise RuntimeError("boom")
    assert hub.download_url_to_file is real


@pytest.mark.skipif(not HAS_LIBRARY, reason="face-alignment (and torch) are not installed: pip install "
                                            "face-alignment")
def test_empty_hub_cache_one_line_error_and_nothing_fetched(tmp_path, monkeypatch):
    import torch.hub

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    connects = []
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: connects.append(a))
    with pytest.raises(DetectorUnavailable) as error:
        build_face_detector("face_alignment")
    message = str(error.value)
    assert "\n" not in message and "2DFAN4" in message and "s3fd" in message, message
    assert os.path.join(str(tmp_path), "hub", "checkpoints") in message and "FaceAlignment(" in message
    assert connects == [] and not (tmp_path / "hub" / "checkpoints").exists()
