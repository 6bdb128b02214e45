"""BlazePose body keypoints (Bazarevsky et al., "BlazePose: On-device Real-time Body Pose tracking", CVPR
Workshops 2020) on ONNX Runtime, from the two networks of MediaPipe's "full" pose model shipped with the package
(models/blazepose/NOTICE.md): no download, no MediaPipe.

Two stages, as MediaPipe runs them on a still image. A single-shot person detector sees the whole frame
letterboxed to 224x224 and gives, per SSD anchor, a score and two alignment points: the hips' centre and a point
whose distance from it is the radius of a circle around the whole body, its direction the body's "up". The best
detection (weighted non-maximum suppression) defines a square region of interest centred on the hips, 1.25 times
the circle's diameter, rotated so that the body stands upright; the landmark network sees that region at 256x256
and regresses 33 keypoints (plus the alignment points of the next frame), each with a visibility and a presence
logit, and a pose flag saying whether a person is there at all.

Coordinates: "continuous" ones put pixel i between i and i + 1 (what resizing and the networks use); the
results are pixel (x, y) with pixel i's centre at i, as the other detectors report.
"""
import functools
import os

import cv2
import numpy as np

from ppgan.utils.errors import InputError

from .base import PoseEstimator, missing_points, rgb_uint8
from .builder import POSE_ESTIMATORS, DetectorUnavailable, require_module

MODEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models", "blazepose")
DETECTOR_FILE = "pose_detection.onnx"
LANDMARK_FILE = "pose_landmark_full.onnx"
DETECTOR_SIZE = 224
LANDMARK_SIZE = 256
NUM_LANDMARKS = 33          # the body keypoints; the network's 6 further points steer tracking and are dropped
_LANDMARK_VALUES = 5        # x, y, z, visibility logit, presence logit
# The detector's SSD layout: five feature layers of these strides with two anchors per cell; anchors have a
# fixed unit size, so only their centres matter and layers of one stride share a grid (2254 anchors).
ANCHOR_STRIDES = (8, 16, 32, 32, 32)
ANCHORS_PER_LAYER = 2
NMS_IOU = 0.3
ROI_SCALE = 1.25
POSE_FLAG_THRESHOLD = 0.5   # MediaPipe's: below it the landmark network saw no person in the region
_SCORE_CLIP = 100.0

# BlazePose-33 index of each OpenPose-18 keypoint (base.OPENPOSE_18); the neck, which BlazePose lacks, is the
# midpoint of the shoulders (11 left, 12 right).
BLAZEPOSE_TO_OPENPOSE = (0, None, 12, 14, 16, 11, 13, 15, 24, 26, 28, 23, 25, 27, 5, 2, 8, 7)
_SHOULDERS = (11, 12)

_INSTALL_HINT = "pip install --force-reinstall ppgan-fomm (the wheel ships the BlazePose models)"


def sigmoid(x):
    """The logistic function, elementwise, clipped so that large logits do not overflow."""
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, np.float64), -_SCORE_CLIP, _SCORE_CLIP)))


def ssd_anchors(size=DETECTOR_SIZE, strides=ANCHOR_STRIDES, per_layer=ANCHORS_PER_LAYER):
    """(N, 2) anchor centres (x, y) in [0, 1] of the detector's SSD head, in its output order: for each distinct
    stride, grid cells row by row, each repeated once per anchor of every layer with that stride."""
    centres = []
    for stride in sorted(set(strides)):
        cells = int(np.ceil(size / float(stride)))
        ys, xs = np.mgrid[0:cells, 0:cells]
        grid = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 2)
        centres.append(np.repeat(grid, per_layer * strides.count(stride), axis=0))
    return np.concatenate(centres)


def letterbox(image, size=DETECTOR_SIZE):
    """`image` (HxWx3 uint8) scaled to fit a black size x size square, centred; returns (square, scale, offset)
    with square coordinates = image coordinates * scale + offset (continuous, per axis (x, y))."""
    h, w = image.shape[:2]
    fit = size / float(max(h, w))
    new_w, new_h = max(1, int(round(w * fit))), max(1, int(round(h * fit)))
    interpolation = cv2.INTER_AREA if fit < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    ox, oy = (size - new_w) // 2, (size - new_h) // 2
    square = np.zeros((size, size, 3), np.uint8)
    square[oy:oy + new_h, ox:ox + new_w] = resized
    return square, np.array([new_w / float(w), new_h / float(h)]), np.array([ox, oy], np.float64)


def decode_detections(raw_boxes, raw_scores, anchors, size=DETECTOR_SIZE, threshold=0.5):
    """The detector's outputs ((N, 12) box and keypoint offsets in input pixels from each anchor's centre,
    (N,) or (N, 1) logits) -> (scores (M,), boxes (M, 4) x0, y0, x1, y1, alignment points (M, 2, 2) (x, y)),
    in [0, 1] of the detector's input, for the M anchors whose score reaches `threshold`."""
    scores = sigmoid(np.asarray(raw_scores).reshape(-1))
    keep = scores >= threshold
    raw = np.asarray(raw_boxes, np.float64).reshape(len(scores), -1)[keep] / size
    centres = np.asarray(anchors, np.float64)[keep]
    box_centre, box_size = raw[:, 0:2] + centres, raw[:, 2:4]
    boxes = np.concatenate([box_centre - box_size / 2, box_centre + box_size / 2], axis=1)
    points = raw[:, 4:8].reshape(-1, 2, 2) + centres[:, None, :]
    return scores[keep], boxes, points


def box_iou(box, boxes):
    """Intersection over union of one (x0, y0, x1, y1) box with each row of `boxes` (M, 4)."""
    top_left = np.maximum(box[:2], boxes[:, :2])
    bottom_right = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
    area = np.prod(np.clip(box[2:] - box[:2], 0, None))
    areas = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
    return inter / np.maximum(area + areas - inter, 1e-12)


def weighted_nms(scores, boxes, points, iou=NMS_IOU):
    """Weighted non-maximum suppression (BlazeFace's blending): the best remaining detection absorbs every one
    overlapping it by more than `iou`, its box and points become their score-weighted mean and its score stays
    its own. Returns [(score, box (4,), points (P, 2))], best first."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    scores, boxes, points = np.asarray(scores)[order], np.asarray(boxes)[order], np.asarray(points)[order]
    fused = []
    while len(scores):
        group = box_iou(boxes[0], boxes) > iou
        group[0] = True
        weights = scores[group] / scores[group].sum()
        fused.append((float(scores[0]), np.tensordot(weights, boxes[group], axes=1),
                      np.tensordot(weights, points[group], axes=1)))
        scores, boxes, points = scores[~group], boxes[~group], points[~group]
    return fused


def roi_affine(centre, top, size=LANDMARK_SIZE, scale=ROI_SCALE):
    """2x3 matrix taking the landmark network's input (continuous, size x size) to image coordinates: a square
    centred on `centre` (the hips) of side 2 * scale * |top - centre|, turned so that its up is toward `top`."""
    centre, top = np.asarray(centre, np.float64), np.asarray(top, np.float64)
    radius = float(np.hypot(*(top - centre)))
    if not np.isfinite(radius) or radius <= 0:
        return None
    dx, dy = (top - centre) / radius
    # the columns are where the crop's x and y axes point: y (down) is away from `top`, x is y turned by -90 deg
    linear = np.array([[-dy, -dx], [dx, -dy]]) * (2 * scale * radius / size)
    return np.concatenate([linear, (centre - linear @ np.full(2, size / 2.0))[:, None]], axis=1)


def apply_affine(affine, points):
    """(N, 2) points through a 2x3 affine matrix."""
    points = np.asarray(points, np.float64)
    return points @ affine[:, :2].T + affine[:, 2]


def crop(image, affine, size=LANDMARK_SIZE):
    """The size x size image whose continuous coordinates `affine` maps into `image` (bilinear, borders
    replicated as MediaPipe's tensor conversion does)."""
    # warpAffine samples at pixel centres: shift by half a pixel on both sides of the continuous map
    centred = affine.copy()
    centred[:, 2] += affine[:, :2] @ np.full(2, 0.5) - 0.5
    return cv2.warpAffine(image, centred, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def decode_landmarks(raw, affine, count=NUM_LANDMARKS):
    """The landmark network's flat output (39 x (x, y, z, visibility logit, presence logit) in its input's
    pixels) -> (points (count, 2) continuous image (x, y), visibility (count,), presence (count,))."""
    values = np.asarray(raw, np.float64).reshape(-1, _LANDMARK_VALUES)[:count]
    return apply_affine(affine, values[:, :2]), sigmoid(values[:, 3]), sigmoid(values[:, 4])


def openpose_18(points, visibility, threshold=0.5):
    """BlazePose's 33 keypoints ((33, 2) pixel (x, y), (33,) visibility) -> (18, 2) in base.OPENPOSE_18 order,
    MISSING where the visibility is below `threshold`; the neck is the shoulders' midpoint, as visible as the
    less visible shoulder."""
    points, visibility = np.asarray(points, np.float64), np.asarray(visibility, np.float64)
    out = missing_points(len(BLAZEPOSE_TO_OPENPOSE))
    for i, j in enumerate(BLAZEPOSE_TO_OPENPOSE):
        if j is None:
            point, seen = points[list(_SHOULDERS)].mean(axis=0), visibility[list(_SHOULDERS)].min()
        else:
            point, seen = points[j], visibility[j]
        if seen >= threshold and np.all(np.isfinite(point)):
            out[i] = point
    return out


def _check_fraction(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InputError("%s must be a number in [0, 1], got %r" % (name, value))
    return float(value)


def _fix(path):
    if os.path.dirname(os.path.abspath(path)) == MODEL_DIR:
        return _INSTALL_HINT
    return "give a model_dir holding %s and %s (the package's are in %s)" % (DETECTOR_FILE, LANDMARK_FILE, MODEL_DIR)


def model_path(name, model_dir=None):
    """Path of one of the two BlazePose ONNX files in `model_dir` (None: the package's), which must exist."""
    path = os.path.join(MODEL_DIR if model_dir is None else str(model_dir), name)
    if not os.path.isfile(path):
        raise DetectorUnavailable("BlazePose model file %s is missing; %s" % (path, _fix(path)))
    return path


@functools.lru_cache(maxsize=None)
def _session(path, threads, input_shape):
    ort = require_module("onnxruntime", "BlazePose pose estimator", "pip install onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: ONNX Runtime's warnings would reach stderr at every load
    try:
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # ONNX Runtime's load errors share no base class below Exception
        reason = (str(e).splitlines() or [""])[0]
        raise DetectorUnavailable("ONNX Runtime could not load the BlazePose model %s, the file is corrupt (%s: %s); %s"
                                  % (path, type(e).__name__, reason, _fix(path))) from e
    inputs = session.get_inputs()
    if len(inputs) != 1 or list(inputs[0].shape) != list(input_shape):
        raise DetectorUnavailable("%s is not the BlazePose model expected there (input %s, expected %s); %s"
                                  % (path, [list(i.shape) for i in inputs], list(input_shape), _fix(path)))
    return session


@POSE_ESTIMATORS.register("blazepose")
class BlazePoseEstimator(PoseEstimator):
    """Body keypoints of the most confident person by BlazePose full (MediaPipe 0.10.14's models), on CPU.

    visibility_threshold: keypoints whose visibility (the network's estimate that the point is in the frame
      and not hidden) is below it are MISSING.
    detection_threshold: smallest person-detector score accepted (MediaPipe's default 0.5).
    threads: ONNX Runtime intra-op threads (0: all cores).
    model_dir: folder with pose_detection.onnx and pose_landmark_full.onnx (None: the package's).
    """

    def __init__(self, visibility_threshold=0.5, detection_threshold=0.5, threads=1, model_dir=None):
        self.visibility_threshold = _check_fraction("visibility_threshold", visibility_threshold)
        self.detection_threshold = _check_fraction("detection_threshold", detection_threshold)
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
            raise InputError("threads must be a whole number >= 0 (0: all cores), got %r" % (threads,))
        self.threads = int(threads)
        self.detector_path = model_path(DETECTOR_FILE, model_dir)
        self.landmark_path = model_path(LANDMARK_FILE, model_dir)
        self._anchors = ssd_anchors()

    def _sessions(self):
        # both loaded at the first frame, so that a broken file shows even when that frame has no person
        return (_session(self.detector_path, self.threads, (1, DETECTOR_SIZE, DETECTOR_SIZE, 3)),
                _session(self.landmark_path, self.threads, (1, LANDMARK_SIZE, LANDMARK_SIZE, 3)))

    def _run_detector(self, rgb):
        session = self._sessions()[0]
        square, scale, offset = letterbox(rgb)
        tensor = square[None].astype(np.float32) / 127.5 - 1.0
        raw_boxes, raw_scores = session.run(None, {session.get_inputs()[0].name: tensor})
        if raw_boxes.shape[1] != len(self._anchors):
            raise DetectorUnavailable("%s gives %d boxes, not BlazePose's %d; %s" % (
                self.detector_path, raw_boxes.shape[1], len(self._anchors), _fix(self.detector_path)))
        found = weighted_nms(*decode_detections(raw_boxes[0], raw_scores[0], self._anchors,
                                                threshold=self.detection_threshold))
        if not found:
            return None
        hips, top = found[0][2] * DETECTOR_SIZE
        return (hips - offset) / scale, (top - offset) / scale

    def _run_landmarks(self, rgb, affine):
        session = self._sessions()[1]
        tensor = crop(rgb, affine)[None].astype(np.float32) / 255.0
        # the first two outputs are the landmarks and the pose flag; a graph with the other heads still attached
        # (segmentation, heatmap, world points) works too, without computing them
        wanted = [output.name for output in session.get_outputs()[:2]]
        landmarks, flag = session.run(wanted, {session.get_inputs()[0].name: tensor})
        return decode_landmarks(landmarks, affine), float(np.ravel(flag)[0])

    def estimate_blazepose(self, image):
        """BlazePose's own 33 keypoints of the most confident person: ((33, 2) float64 pixel (x, y), (33,)
        visibility in [0, 1]), or None when there is no person. Points may lie outside the image."""
        rgb = rgb_uint8(image, "image for pose estimation")
        alignment = self._run_detector(rgb)
        if alignment is None:
            return None
        affine = roi_affine(*alignment)
        if affine is None:
            return None
        (points, visibility, _), flag = self._run_landmarks(rgb, affine)
        if flag < POSE_FLAG_THRESHOLD:
            return None
        return points - 0.5, visibility

    def estimate(self, image):
        """(18, 2) float64 pixel (x, y) in OpenPose-18 order; MISSING (-1, -1) rows for keypoints not seen."""
        found = self.estimate_blazepose(image)
        if found is None:
            return missing_points(len(BLAZEPOSE_TO_OPENPOSE))
        return openpose_18(*found, threshold=self.visibility_threshold)

