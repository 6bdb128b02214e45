"""dlib's face stack, offline from the `eval` extra (dlib-bin, face-recognition-models): a HOG or CNN (MMOD) face
detector with its 68-point landmark predictor (Kazemi & Sullivan's regression trees, trained on iBUG 300-W, the
landmark scheme of the FOMM paper's AKD), and its 128-d ResNet identity descriptor (the paper's AED uses an
identity network of the same kind, OpenFace)."""
import functools
import importlib.util
import math
import os

import cv2
import numpy as np

from ppgan.utils.errors import InputError

from .base import Face, FaceDetector, FaceEmbedder, largest_first, rgb_uint8
from .builder import FACE_DETECTORS, FACE_EMBEDDERS, DetectorUnavailable, EVAL_EXTRA, require_module

MODELS_PACKAGE = "face_recognition_models"
LANDMARKS_68 = "shape_predictor_68_face_landmarks.dat"
CNN_DETECTOR = "mmod_human_face_detector.dat"
RESNET_DESCRIPTOR = "dlib_face_recognition_resnet_model_v1.dat"
METHODS = ("hog", "cnn", "hog_then_cnn")
# The HOG detector's window is 80x80 pixels: frames are upsampled (by dlib, in powers of two) until their
# shorter side reaches this, so that a face filling a third of a small frame (176x144) is found.
_UPSAMPLE_TO = 256
_MAX_UPSAMPLE = 3
_DETECT_MAX_SIDE = 1024  # larger frames are detected at this size; landmarks are found at full size
CHIP_SIZE = 150  # the descriptor's aligned face chip


def _dlib():
    return require_module("dlib", "dlib face stack", EVAL_EXTRA + " (dlib-bin)")


def model_file(name, path=None):
    """Path of a dlib model file: `path` if given, else the copy in the face-recognition-models package."""
    if path is not None:
        if not os.path.isfile(path):
            raise DetectorUnavailable("dlib model file '%s' does not exist; check the path" % path)
        return path
    spec = importlib.util.find_spec(MODELS_PACKAGE)  # not imported: it needs setuptools' pkg_resources
    if spec is None or spec.origin is None:
        raise DetectorUnavailable("dlib's model %s comes with the package 'face-recognition-models', which is not "
                                  "installed; install it with %s" % (name, EVAL_EXTRA))
    found = os.path.join(os.path.dirname(spec.origin), "models", name)
    if not os.path.isfile(found):
        raise DetectorUnavailable("'face-recognition-models' has no %s (%s); reinstall it with %s"
                                  % (name, found, EVAL_EXTRA))
    return found


@functools.lru_cache(maxsize=None)
def _load(kind, path):
    dlib = _dlib()
    try:
        return {"landmarks": dlib.shape_predictor, "cnn": dlib.cnn_face_detection_model_v1,
                "descriptor": dlib.face_recognition_model_v1}[kind](path)
    except RuntimeError as e:
        raise DetectorUnavailable("dlib could not load its model '%s' (%s): the file is corrupt; reinstall %s"
                                  % (path, e, EVAL_EXTRA)) from e


@functools.lru_cache(maxsize=None)
def _hog():
    return _dlib().get_frontal_face_detector()


def auto_upsample(shape, target=_UPSAMPLE_TO):
    """Times to double a frame of `shape` (H, W[, C]) so that its shorter side reaches `target` (0 to 3)."""
    short = min(int(shape[0]), int(shape[1]))
    return 0 if short >= target else min(_MAX_UPSAMPLE, int(math.ceil(math.log2(target / float(short)))))


def _rect_box(rect, scale):
    return tuple(int(round(v / scale)) for v in (rect.left(), rect.top(), rect.width(), rect.height()))


@FACE_DETECTORS.register("dlib")
class DlibFaceDetector(FaceDetector):
    """Faces by dlib with 68 landmarks each.

    method: 'hog' (HOG + linear SVM, frontal and slightly turned faces, milliseconds per frame), 'cnn' (the MMOD
      CNN, also turned and tilted faces, ~0.3 s per 256x256 frame on one core) or 'hog_then_cnn' (the CNN only
      on frames where HOG finds nothing: HOG's speed, nearly the CNN's recall).
    upsample: times dlib doubles the frame before detecting (None: until its shorter side reaches 256 pixels).
    threshold: added to the HOG detector's decision threshold (negative: more faces, more false ones).
    landmarks: find the 68 landmarks of each face (False: boxes only).
    landmarks_model, cnn_model: other dlib model files (default: those of face-recognition-models).
    """

    def __init__(self, method="hog", upsample=None, threshold=0.0, landmarks=True, landmarks_model=None,
                 cnn_model=None):
        if method not in METHODS:
            raise InputError("dlib face detection method must be one of %s, got %r" % (", ".join(METHODS), method))
        if upsample is not None and (isinstance(upsample, bool) or not isinstance(upsample, int)
                                     or not 0 <= upsample <= _MAX_UPSAMPLE):
            raise InputError("upsample must be None (automatic) or an integer from 0 to %d, got %r"
                             % (_MAX_UPSAMPLE, upsample))
        self.method, self.upsample, self.threshold = method, upsample, float(threshold)
        self.has_landmarks = bool(landmarks)
        _dlib()
        # model files are found (and missing ones reported) now; they are loaded at the first detection
        self._landmarks_path = model_file(LANDMARKS_68, landmarks_model) if landmarks else None
        self._cnn_path = model_file(CNN_DETECTOR, cnn_model) if method != "hog" else None

    def _rects(self, image, upsample):
        if self.method != "cnn":
            rects, scores, _ = _hog().run(image, upsample, self.threshold)
            if rects or self.method == "hog":
                return list(zip(rects, scores))
        return [(d.rect, d.confidence) for d in _load("cnn", self._cnn_path)(image, upsample)]

    def detect(self, image):
        rgb = rgb_uint8(image, "image for face detection")
        h, w = rgb.shape[:2]
        scale = min(1.0, _DETECT_MAX_SIDE / float(max(h, w)))
        small = rgb if scale == 1.0 else cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                                                    interpolation=cv2.INTER_AREA)
        upsample = auto_upsample(small.shape) if self.upsample is None else self.upsample
        faces = [Face(_rect_box(rect, scale), float(score)) for rect, score in self._rects(small, upsample)]
        faces = largest_first(faces)
        if self.has_landmarks:
            faces = [face._replace(landmarks=self.landmarks(rgb, face.box)) for face in faces]
        return faces

    def landmarks(self, image, box):
        """The 68 landmarks ((68, 2) float64 pixel (x, y)) of the face in `box` (x, y, w, h) of a uint8 RGB image."""
        dlib = _dlib()
        x, y, w, h = (int(v) for v in box)
        shape = _load("landmarks", self._landmarks_path)(image, dlib.rectangle(x, y, x + w - 1, y + h - 1))
        return np.array([(p.x, p.y) for p in shape.parts()], np.float64)


@FACE_EMBEDDERS.register("dlib")
class DlibFaceEmbedder(FaceEmbedder):
    """dlib's 128-d ResNet face descriptor (trained so that faces of one person lie within 0.6 of each other in
    L2 distance, i.e. 0.36 squared).

    whole_frame: False (default): the largest face is found (`detector`) and aligned by its landmarks into
      dlib's 150x150 chip; True: the whole frame, resized to 150x150, is the chip, as the authors' evaluation
      feeds whole frames to its identity network (suits face-centred crops such as VoxCeleb's; never misses).
    detector: the face detector for frames given without a face (a FACE_DETECTORS entry with landmarks).
    num_jitters: dlib's test-time augmentation (descriptor averaged over that many jittered chips; 0: none).
    model: another descriptor file (default: the one of face-recognition-models).
    """

    dimension = 128

    def __init__(self, whole_frame=False, detector="dlib", num_jitters=0, model=None):
        from .builder import build_face_detector
        self.whole_frame, self.num_jitters = bool(whole_frame), int(num_jitters)
        _dlib()
        self._model_path = model_file(RESNET_DESCRIPTOR, model)
        self.detector = None if self.whole_frame else build_face_detector(detector)
        if self.detector is not None and not self.detector.has_landmarks:
            raise InputError("the dlib face embedder aligns faces by their landmarks; its detector must find them "
                             "(e.g. 'dlib'), or set whole_frame: true")

    def embed(self, image, face=None):
        rgb = rgb_uint8(image, "image for face embedding")
        model = _load("descriptor", self._model_path)
        if self.whole_frame:
            chip = cv2.resize(rgb, (CHIP_SIZE, CHIP_SIZE), interpolation=cv2.INTER_AREA
                              if min(rgb.shape[:2]) > CHIP_SIZE else cv2.INTER_CUBIC)
            return np.array(model.compute_face_descriptor(chip, self.num_jitters), np.float64)
        if face is None or face.landmarks is None:
            faces = self.detector.detect(rgb)
            if not faces:
                return None
            face = faces[0]
        dlib = _dlib()
        x, y, w, h = face.box
        shape = dlib.full_object_detection(dlib.rectangle(x, y, x + w - 1, y + h - 1),
                                           [dlib.point(int(round(px)), int(round(py))) for px, py in face.landmarks])
        return np.array(model.compute_face_descriptor(rgb, shape, self.num_jitters), np.float64)
