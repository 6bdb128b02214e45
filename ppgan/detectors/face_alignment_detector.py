"""The FOMM paper's own face landmarks: Bulat & Tzimiropoulos' face-alignment library (an S3FD face detector and
the 2D-FAN landmark network, PyTorch), an optional plug-in for users who installed it (`pip install face-alignment`)
and its weights.

The authors' AKD (pose-evaluation's extract.py) builds ``FaceAlignment(LandmarksType._2D, flip_input=False)`` and
keeps ``get_landmarks(frame)[0]``. The library fetches its weights on first use into torch.hub's cache
(``torch.hub.get_dir()/checkpoints``); this plug-in never does: it checks that the files the installed version
would load are there before building the library's model, and refuses any download the library still attempts.
"""
import contextlib
import importlib
import inspect
import os
import pickle
import pkgutil
import sys
import threading
import warnings
from urllib.parse import urlparse

import numpy as np

from ppgan.utils.errors import InputError

from .base import Face, FaceDetector, largest_first, rgb_uint8
from .builder import FACE_DETECTORS, DetectorUnavailable, require_module

INSTALL = "pip install face-alignment"
ORDERS = ("largest", "library")
_DEVICES = ("cpu", "cuda", "mps")
_LOCK = threading.Lock()  # the download guard patches module attributes: one construction at a time


def weight_url(table, network, torch_version, default=None):
    """The URL the library loads for `network` ('2DFAN-4') from its `models_urls` table: a flat {name: url}
    (face-alignment <= 1.3.1 and >= 1.5), or {torch 'major.minor': {name: url}} with `default` (its
    `default_model_urls`) for other torch versions (1.3.2 - 1.4.x), chosen by `torch_version` as the library does;
    None for a layout not known here."""
    if not isinstance(table, dict):
        return None
    if isinstance(table.get(network), str):
        return table[network]
    version = torch_version.rsplit(".", 2 if "dev" in torch_version else 1)[0]
    chosen = table.get(version, default)
    if isinstance(chosen, dict) and isinstance(chosen.get(network), str):
        return chosen[network]
    return None


def url_file_name(url):
    """The file name torch.hub (and the library) keeps a downloaded `url` under in the checkpoints folder."""
    return os.path.basename(urlparse(url).path)


def missing_weights(urls, folder):
    """The URLs among `urls` whose file is not in `folder`."""
    return [url for url in urls if not os.path.isfile(os.path.join(folder, url_file_name(url)))]


@contextlib.contextmanager
def refusing_downloads(modules, message):
    """Within the block, `download_url_to_file` (torch.hub's, and each copy of it imported by name into one of
    `modules`) raises DetectorUnavailable(`message` % (url, destination)) instead of reaching the network."""

    def refuse(url, dst, *args, **kwargs):
        raise DetectorUnavailable(message % (url, dst))

    original = {}
    kept = None
    for module in modules:
        found = getattr(module, "download_url_to_file", None)
        if found is not None:
            original[id(module)] = (module, found)
            kept = kept or found
            module.download_url_to_file = refuse
    try:
        yield refuse
    finally:
        for module, found in original.values():
            module.download_url_to_file = found
        # a module imported inside the block may have bound the refusing function by name
        for name, module in list(sys.modules.items()):
            if name.startswith("face_alignment") and getattr(module, "download_url_to_file", None) is refuse:
                module.download_url_to_file = kept


def _library():
    torch = require_module("torch", "face-alignment landmark detector", INSTALL + " (it brings PyTorch)")
    fa = require_module("face_alignment", "face-alignment landmark detector", INSTALL)
    return torch, fa


def _parameters(function):
    return inspect.signature(function).parameters


def _detector_choices(fa):
    detection = importlib.import_module(fa.__name__ + ".detection")
    return sorted(m.name for m in pkgutil.iter_modules(detection.__path__) if m.ispkg)


@FACE_DETECTORS.register("face_alignment")
class FaceAlignmentDetector(FaceDetector):
    """Faces by the face-alignment library (S3FD boxes, 2D-FAN 68 landmarks in the iBUG 300-W order): the
    detector of the FOMM paper's AKD. Its weights must already be in torch.hub's cache; nothing is downloaded.

    device: 'cpu' (default), 'cuda' or 'mps' (torch's device names).
    face_detector: the library's face detector ('sfd': S3FD, its default and the authors'; other names of
      face_alignment.detection, e.g. 'blazeface', as the installed version has them).
    flip_input: also run the landmark network on the mirrored crop and average (False, as the authors).
    face_detector_kwargs: passed to the library's face detector (e.g. {filter_threshold: 0.5} or
      {path_to_detector: file} for S3FD weights kept elsewhere).
    compile: let face-alignment >= 1.5 torch.compile its network (False: eager, no compiler needed, nothing
      written to ~/.cache/face_alignment).
    order: 'largest' (default, as every face detector here: largest box first, smaller duplicates dropped) or
      'library' (the library's own order, S3FD's score highest first: faces[0] is the authors' kp[0]). On
      frames with one face, as the paper's face videos, both give that face.
    """

    has_landmarks = True

    def __init__(self, device="cpu", face_detector="sfd", flip_input=False, face_detector_kwargs=None,
                 compile=False, order="largest"):
        if not isinstance(device, str) or device.split(":")[0] not in _DEVICES:
            raise InputError("face-alignment device must be one of %s (e.g. 'cuda:0'), got %r"
                             % (", ".join(_DEVICES), device))
        if order not in ORDERS:
            raise InputError("face-alignment order must be one of %s, got %r" % (", ".join(ORDERS), order))
        self.order = order
        torch, fa = _library()
        choices = _detector_choices(fa)
        if face_detector not in choices:
            raise InputError("face-alignment face_detector must be one of %s, got %r"
                             % (", ".join(choices), face_detector))
        kwargs = dict(face_detector_kwargs or {})
        version = getattr(fa, "__version__", "?")
        folder = os.path.join(torch.hub.get_dir(), "checkpoints")
        two_d = "TWO_D" if hasattr(fa.LandmarksType, "TWO_D") else "_2D"
        fetch = ("python -c \"import face_alignment as f; f.FaceAlignment(f.LandmarksType.%s, device='cpu', "
                 "face_detector='%s')\" once with a network (or copy those files there from a machine that has "
                 "them; TORCH_HOME moves the folder)" % (two_d, face_detector))

        urls = self._required_urls(torch, fa, face_detector, kwargs)
        missing = missing_weights(urls, folder)
        if missing:
            raise DetectorUnavailable(
                "face-alignment %s needs its weights %s in %s, which %s (this project never downloads them); get "
                "them with %s" % (version, ", ".join(url_file_name(u) for u in urls), folder,
                                  "has none of them" if len(missing) == len(urls) else
                                  "lacks " + ", ".join(url_file_name(u) for u in missing), fetch))
        path = kwargs.get("path_to_detector")
        if path is not None and not os.path.isfile(path):
            raise DetectorUnavailable("face-alignment face detector weights '%s' do not exist; check "
                                      "face_detector_kwargs.path_to_detector" % path)

        refused = ("face-alignment %s tried to download %%s to %%s (this project never downloads weights); get "
                   "them with %s" % (version, fetch))
        options = dict(device=device, flip_input=bool(flip_input), face_detector=face_detector,
                       face_detector_kwargs=kwargs)
        if "compile" in _parameters(fa.FaceAlignment.__init__):
            options["compile"] = bool(compile)
        with _LOCK:
            modules = [torch.hub] + [m for n, m in list(sys.modules.items()) if n.startswith("face_alignment")]
            with refusing_downloads(modules, refused):
                try:
                    self._fa = fa.FaceAlignment(getattr(fa.LandmarksType, two_d), **options)
                except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as e:
                    raise DetectorUnavailable(
                        "face-alignment %s could not load its weights from %s (%s: %s): a file there may be "
                        "truncated; delete it and get it again with %s"
                        % (version, folder, type(e).__name__, (str(e).splitlines() or [""])[0][:160], fetch)) from e
        self._returns_boxes = "return_bboxes" in _parameters(fa.FaceAlignment.get_landmarks_from_image)

    @staticmethod
    def _required_urls(torch, fa, face_detector, kwargs):
        """The weight URLs the installed library loads for 2D landmarks and for `face_detector` when its module
        lists exactly one (S3FD's); a detector with several files is left to the download guard."""
        api = sys.modules[fa.FaceAlignment.__module__]
        urls = [weight_url(getattr(api, "models_urls", None), "2DFAN-4", str(torch.__version__),
                           getattr(api, "default_model_urls", None))]
        if kwargs.get("path_to_detector") is None:
            try:
                package = importlib.import_module("face_alignment.detection." + face_detector)
            except ImportError as e:
                raise DetectorUnavailable("face-alignment's face detector '%s' cannot be imported (%s); install "
                                          "what it needs or use face_detector: sfd" % (face_detector, e)) from e
            detector_class = getattr(package, "FaceDetector", None)
            table = getattr(sys.modules.get(getattr(detector_class, "__module__", ""), None), "models_urls", None)
            if isinstance(table, dict) and len(table) == 1 and isinstance(next(iter(table.values())), str):
                urls.insert(0, next(iter(table.values())))
        return [u for u in urls if u]

    def detect(self, image):
        rgb = rgb_uint8(image, "image for face detection")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="No faces were detected")
            if self._returns_boxes:
                found = self._fa.get_landmarks_from_image(rgb, return_bboxes=True)
                landmarks, boxes = found[0], found[-1]
            else:
                landmarks, boxes = self._fa.get_landmarks_from_image(rgb), None
        if not landmarks:
            return []
        faces = []
        for i, points in enumerate(landmarks):
            points = np.asarray(points, np.float64)[:, :2]
            if boxes is not None:
                x1, y1, x2, y2 = (float(v) for v in boxes[i][:4])
                score = float(boxes[i][4]) if len(boxes[i]) > 4 else float("nan")
            else:
                (x1, y1), (x2, y2), score = points.min(axis=0), points.max(axis=0), float("nan")
            box = (int(round(x1)), int(round(y1)), int(round(x2 - x1)), int(round(y2 - y1)))
            faces.append(Face(box, score, points))
        return largest_first(faces) if self.order == "largest" else faces
