"""Live animation: a camera, or a video file played as one, drives an avatar in real time.

A camera runs in a thread of its own and keeps only its newest frame (:class:`LatestFrame`): when the model is
slower than the camera, frames are dropped, never queued, so a frame waits at most one frame's processing time.
Each frame the session takes is cut around the tracked face (:class:`FaceTracker`: the project's face detector
on every few frames, on a reduced copy; the square holds still until the face really moves), animated by the
current avatar (:class:`Avatar`) against a reference frame of relative motion (the first frame, or the one
taken when the user calibrates; with `find_keyframe`, any later frame whose keypoints match the avatar's
better, Avatarify's "find keyframe"), and pasted back into the avatar, or shown as the animated square, at a
fixed output size. Sinks take the output frames: a window, a virtual camera, a video file, a callback.

Everything here runs the predictors of `ppgan.apps` (any model family and backend) through
:class:`ppgan.apps.predictor.PreparedSource`, one frame at a time (the backend's batch 1 path).
"""
import collections
import contextlib
import os
import sys
import threading
import time

import cv2
import numpy as np

from ppgan.modules.geometry import shape_distance
from ppgan.utils.errors import InputError
from ppgan.utils.image import to_rgb_float
from ppgan.utils.logger import get_logger
from ppgan.utils.video import IMAGE_EXTENSIONS, as_uint8_rgb, open_video, read_image

from . import face_crop

logger = get_logger("ppgan.apps")

CROPS = ("auto", "face", "none")
VIEWS = ("paste", "crop")
DEFAULT_OUTPUT_SIZE = (512, 512)  # (W, H) of the output frames
DEFAULT_DETECT_EVERY = 5  # the face detector runs on one camera frame in this many
# ... on a copy whose shorter side is at most this many pixels: the size dlib's HOG detector looks at without
# upsampling (ppgan.detectors.dlib_face); a 320x240 copy of a 640x480 camera was upsampled back to 640x480, and a
# detection took 30 ms instead of 8
DETECT_SIDE = 256
ZOOM_RANGE = (0.5, 4.0)
ZOOM_STEP = 1.1
STATS_WINDOW = 250  # frames the rolling figures (fps, latency percentiles) are taken over
FIRST_FRAME_TIMEOUT = 20.0  # seconds a camera may take to deliver its first frame
FRAME_TIMEOUT = 5.0  # ... and each later one, before it counts as lost
KEYS = {"c": "calibrate", "n": "next_avatar", "b": "previous_avatar", "p": "toggle_passthrough",
        "m": "toggle_mirror", "+": "zoom_in", "=": "zoom_in", "-": "zoom_out", "k": "toggle_find_keyframe",
        "s": "toggle_stats", "q": "quit", "\x1b": "quit"}


class CameraLost(InputError):
    """The camera stopped delivering frames (unplugged, taken by another program, a video that broke off)."""


Captured = collections.namedtuple("Captured", "index time frame")
Captured.__doc__ = "A camera frame: its index among the frames captured, its capture time (time.monotonic) and pixels."


class LatestFrame:
    """The one-frame slot between a camera thread and the session: :meth:`put` replaces a frame nobody took yet
    (a dropped frame), :meth:`take` waits for a frame newer than the last one taken."""

    def __init__(self):
        self._cond = threading.Condition()
        self._item = None
        self._ended = False
        self._error = None
        self.captured = 0
        self.dropped = 0

    def put(self, frame, when):
        """Offer the frame captured at `when` (time.monotonic); it replaces the one waiting, if any."""
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = Captured(self.captured, when, frame)
            self.captured += 1
            self._cond.notify_all()

    def end(self, error=None):
        """No more frames: the camera ended (error None) or was lost (`error`, a CameraLost)."""
        with self._cond:
            self._ended, self._error = True, error
            self._cond.notify_all()

    def take(self, timeout):
        """The newest frame not yet taken (waiting up to `timeout` seconds), or None when the camera ended and every
        frame was taken; raises the camera's CameraLost, or CameraLost after `timeout` without a frame."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._item is not None or self._ended, timeout):
                raise CameraLost("no frame from the camera for %.0f s: it stopped delivering frames" % timeout)
            item, self._item = self._item, None
            if item is None and self._error is not None:
                raise self._error
            return item


class Camera:
    """A source of live frames: a thread that reads frames (:meth:`_read`) into a :class:`LatestFrame`.

    Opening (:meth:`open`) happens in the caller's thread, so a camera that cannot be opened is one error before
    anything starts; :meth:`start` begins capturing. `decode_seconds` keeps the last frames' read-and-convert
    times.
    """

    name = "camera"

    def __init__(self):
        self.slot = LatestFrame()
        self.decode_seconds = collections.deque(maxlen=STATS_WINDOW)
        self.fps = None
        self._stop = threading.Event()
        self._thread = None
        self._opened = False

    def open(self):
        """Open the device or file once (errors are InputError naming it); returns self."""
        if not self._opened:
            self._open()
            self._opened = True
        return self

    def _open(self):
        pass

    def start(self):
        """Begin capturing in a background thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._capture, name="ppgan-live-camera", daemon=True)
            self._thread.start()

    def stop(self):
        """Stop capturing and release the device or file."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._release()

    def _capture(self):
        try:
            self._frames()
        except CameraLost as lost:
            self.slot.end(lost)
        except Exception as error:  # a device or decoder failure mid-stream: the session ends with one line
            self.slot.end(CameraLost("%s stopped delivering frames (%s)" % (self.name, error)))
        else:
            self.slot.end()

    def _frames(self):
        raise NotImplementedError

    def _release(self):
        pass


@contextlib.contextmanager
def _opencv_quiet():
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None:
        yield
        return
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging.setLogLevel(level)


class DeviceCamera(Camera):
    """A camera device read by OpenCV (`index` as cv2.VideoCapture numbers them); frames as the driver delivers
    them, converted to RGB."""

    def __init__(self, index=0, width=None, height=None):
        super().__init__()
        self.index = int(index)
        self.name = "camera %d" % self.index
        self.size = (width, height)
        self._capture_device = None

    def _open(self):
        with _opencv_quiet():  # OpenCV's warnings about each backend it tried would bury the one-line error
            capture = cv2.VideoCapture(self.index)
        if not capture.isOpened():
            capture.release()
            raise InputError("camera %d cannot be opened (no such device, or another program uses it); check "
                             "--camera, or play a video as the camera with --driving_video" % self.index)
        for prop, value in zip((cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT), self.size):
            if value:
                capture.set(prop, value)
        rate = capture.get(cv2.CAP_PROP_FPS)
        self.fps = rate if 1 <= rate <= 240 else None
        self._capture_device = capture

    def _frames(self):
        while not self._stop.is_set():
            ok, bgr = self._capture_device.read()
            if not ok:
                if self._stop.is_set():
                    return
                raise CameraLost("camera %d stopped delivering frames (unplugged, or taken by another program)"
                                 % self.index)
            when = time.monotonic()
            self.slot.put(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), when)
            self.decode_seconds.append(time.monotonic() - when)

    def _release(self):
        if self._capture_device is not None:
            self._capture_device.release()


class VideoCamera(Camera):
    """A video file played as a camera at its own frame rate (`fps` overrides it): frame i is captured at
    start + i / fps whether or not the session took frame i - 1. `loop` plays it again and again."""

    def __init__(self, path, fps=None, loop=False):
        super().__init__()
        self.path = os.fspath(path)
        self.name = "the video '%s'" % self.path
        self.loop = bool(loop)
        self._rate = fps
        self._video = None

    def _open(self):
        if self._rate is not None and not self._rate > 0:
            raise InputError("the camera's frame rate must be positive, got %r" % (self._rate,))
        self._video = open_video(self.path)
        self.fps = float(self._rate or self._video.fps or 25.0)

    def _frames(self):
        start, index = time.monotonic(), 0
        while not self._stop.is_set():
            decoded = 0
            frames = iter(self._video)
            while not self._stop.is_set():
                began = time.monotonic()
                try:
                    frame = as_uint8_rgb(next(frames), "frame %d of '%s'" % (decoded, self.path))
                except StopIteration:
                    break
                except InputError as error:
                    raise CameraLost("%s broke off after %d frames (%s)" % (self.name, decoded, error)) from None
                self.decode_seconds.append(time.monotonic() - began)
                due = start + index / self.fps
                self._stop.wait(max(0.0, due - time.monotonic()))
                self.slot.put(frame, due)
                decoded += 1
                index += 1
            if not self.loop or decoded == 0:
                return

    def _release(self):
        if self._video is not None:
            self._video.close()


def detection_copy(frame):
    """(the copy of `frame` the tracker's detector looks at, its scale): shrunk so that its shorter side is at most
    DETECT_SIDE pixels, never enlarged."""
    height, width = frame.shape[:2]
    scale = min(1.0, DETECT_SIDE / float(min(height, width)))
    if scale == 1.0:
        return frame, scale
    size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA), scale


class FaceTracker:
    """The square around the face in camera frames, followed from frame to frame.

    The face detector runs on the first frame and on every `detect_every`-th after it, on a copy whose shorter
    side is at most DETECT_SIDE pixels. A detection moves the square's target only when the face moved or
    changed size by more than `deadzone` of the square's side: within it, the head's motion stays in the crop,
    where relative motion measures it against the reference frame. The square eases towards its target
    (`smoothing` of the way each frame). When the face is lost, the last square is kept.
    """

    def __init__(self, detector="auto", detect_every=DEFAULT_DETECT_EVERY, margin=face_crop.DEFAULT_MARGIN,
                 deadzone=0.15, smoothing=0.35):
        if isinstance(detect_every, bool) or int(detect_every) < 1:
            raise InputError("detect_every must be a frame count of at least 1, got %r" % (detect_every,))
        self.detector = face_crop.face_detector(detector) if isinstance(detector, str) else detector
        self.detect_every, self.margin = int(detect_every), float(margin)
        self.deadzone, self.smoothing = float(deadzone), float(smoothing)
        self.box = None  # the square used now (x, y, side, side), float
        self.target = None
        self.face_visible = None  # the last detection found a face (None before the first)
        self._count = 0

    def reset(self):
        """Forget the face (the next frame is searched)."""
        self.box = self.target = self.face_visible = None
        self._count = 0

    def update(self, frame):
        """The square (x, y, side, side) of ints to crop `frame` (HxWx3 uint8) at, or None while no face was ever
        found."""
        if self._count % self.detect_every == 0:
            self._detect(frame)
        self._count += 1
        if self.target is None:
            return None
        self.box = self.target if self.box is None else self.box + self.smoothing * (self.target - self.box)
        x, y, side = (int(np.floor(v + 0.5)) for v in self.box[[0, 1, 2]])
        return x, y, max(side, 1), max(side, 1)

    def _detect(self, frame):
        small, scale = detection_copy(frame)
        faces = face_crop.detect_faces(small, self.detector)
        visible = bool(faces)
        if visible != self.face_visible:
            if visible:
                logger.info("face found in the camera frame")
            elif self.face_visible is None:
                logger.info("no face in the camera frame: animating its centre until a face shows")
            else:
                logger.info("the face left the camera frame: keeping its last position")
        self.face_visible = visible
        if not visible:
            return
        x, y, side, _ = face_crop.square_box(faces[0], small.shape, self.margin)
        found = np.array([x, y, side], np.float64) / scale
        if self.target is None:
            self.target = found
            return
        centre_shift = np.hypot(*(found[:2] + found[2] / 2.0 - self.target[:2] - self.target[2] / 2.0))
        if centre_shift > self.deadzone * self.target[2] or abs(found[2] - self.target[2]) > self.deadzone \
                * self.target[2]:
            self.target = found


def letterbox_geometry(shape, output_shape):
    """(scale, left, top, width, height): where an image of `shape` (H, W) lands, aspect kept and centred, in a
    canvas of `output_shape` (H, W)."""
    height, width = shape[:2]
    out_h, out_w = output_shape[:2]
    scale = min(out_w / float(width), out_h / float(height))
    w, h = max(1, int(round(width * scale))), max(1, int(round(height * scale)))
    return scale, (out_w - w) // 2, (out_h - h) // 2, w, h


def letterbox_into(out, image):
    """Draw `image` (HxWx3, the dtype of `out`) into `out` with its aspect kept, centred on black; returns `out`."""
    _, left, top, w, h = letterbox_geometry(image.shape, out.shape)
    if (h, w) != out.shape[:2]:
        out[...] = 0
    shrink = w * h < image.shape[0] * image.shape[1]
    cv2.resize(image, (w, h), dst=out[top:top + h, left:left + w],
               interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return out


class Avatar:
    """A source image made ready for live animation at an output size: the model's input (the square around its
    face, or the whole image padded to a square), where the animated square goes in the output frame, and the
    output frame's background.

    crop: 'face' (a face must be found), 'none', or 'auto' (face when one is found).
    """

    def __init__(self, path, size, output_shape, crop="auto", face_detector="auto"):
        if crop not in CROPS:
            raise InputError("crop must be one of %s, got %r" % (", ".join(CROPS), crop))
        self.path = os.fspath(path)
        self.name = os.path.basename(self.path)
        self.image = to_rgb_float(read_image(self.path), "avatar '%s'" % self.path)
        faces = face_crop.detect_faces(self.image, face_detector) if crop != "none" else []
        if crop == "face" and not faces:
            raise InputError("no face found in the avatar '%s'; choose a portrait, or crop none" % self.path)
        scale, left, top, w, h = letterbox_geometry(self.image.shape, output_shape)
        self.background = np.zeros(tuple(output_shape[:2]) + (3,), np.float32)
        letterbox_into(self.background, self.image)
        if faces:
            box = face_crop.square_box(faces[0], self.image.shape)
            self.source_input = face_crop.crop_square(self.image, box, size)
            self.box = tuple(int(round(v)) for v in (left + box[0] * scale, top + box[1] * scale,
                                                     box[2] * scale, box[3] * scale))
        else:
            self.source_input = face_crop.fit_square(self.image, size)
            side = max(w, h)  # the padded square, whose visible part is the letterboxed image
            self.box = (left + (w - side) // 2, top + (h - side) // 2, side, side)
        self.has_face = bool(faces)
        self.prepared = None  # the predictor's PreparedSource (LiveSession.prepare makes it)


def avatar_paths(source_image=None, folder=None):
    """The avatar files: `source_image`, or the images of `folder` in name order (one error when there are none)."""
    if (source_image is None) == (folder is None):
        raise InputError("give either a source image or a folder of avatars, not both or neither")
    if source_image is not None:
        return [os.fspath(source_image)]
    if not os.path.isdir(folder):
        raise InputError("--avatars '%s' is not a folder; give a folder of images" % folder)
    paths = [os.path.join(folder, name) for name in sorted(os.listdir(folder))
             if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS]
    if not paths:
        raise InputError("--avatars '%s' holds no %s images" % (folder, "/".join(e[1:] for e in IMAGE_EXTENSIONS)))
    return paths


# Where each part of a frame's latency starts and ends (Timing's fields): waiting in the camera's slot, face
# tracking, the model, compositing, the sinks; and all of it
STAGES = {"wait": ("captured", "started"), "detect": ("started", "detected"), "model": ("detected", "animated"),
          "composite": ("animated", "composed"), "output": ("composed", "emitted"), "latency": ("captured", "emitted")}


def stage_ms(timings, name):
    """The milliseconds each of `timings` (Timing) spent in stage `name` (STAGES), as an array."""
    start, end = STAGES[name]
    return np.array([(getattr(t, end) - getattr(t, start)) * 1000.0 for t in timings])


Timing = collections.namedtuple("Timing", "camera_index captured started detected animated composed emitted")
Timing.__doc__ = ("One output frame: the index of its camera frame (None when not known), then its times "
                  "(time.monotonic): captured, then after each stage of the session.")


class LiveSession:
    """Camera frames in, animated avatar frames out (HxWx3 uint8 RGB at `output_size` (W, H)), one at a time.

    predictor: a `ppgan.apps` predictor (any family and backend; it animates at its image_size, else 256).
    avatars: image paths; one that cannot be read is skipped with one line (none readable is an error).
    crop: how avatars are framed ('auto', 'face', 'none'; :class:`Avatar`).
    view: 'paste' (the animated square blended into the avatar) or 'crop' (the animated square alone).
    ratio: the pasted face's radius as a fraction of its square (face_crop.soft_mask).
    face_detector, detect_every: the camera's face tracking (:class:`FaceTracker`).
    mirror: flip camera frames left-right first (a selfie view); zoom: >1 crops the camera's face tighter.
    find_keyframe: replace the reference frame by any frame whose keypoints match the avatar's better.
    The controls (:meth:`calibrate`, :meth:`next_avatar`, ...) may be called between frames, from any thread.
    """

    def __init__(self, predictor, avatars, crop="auto", view="paste", output_size=DEFAULT_OUTPUT_SIZE,
                 ratio=face_crop.DEFAULT_RATIO, face_detector="auto", detect_every=DEFAULT_DETECT_EVERY,
                 mirror=False, zoom=1.0, find_keyframe=False, passthrough=False):
        if view not in VIEWS:
            raise InputError("view must be one of %s, got %r" % (", ".join(VIEWS), view))
        width, height = (int(v) for v in output_size)
        if width < 16 or height < 16:
            raise InputError("the output size must be at least 16x16, got %dx%d" % (width, height))
        self.predictor = predictor
        self.size = tuple(predictor.image_size or (256, 256))
        if self.size[0] != self.size[1]:
            raise InputError("the model's image size must be square, got %dx%d" % (self.size[1], self.size[0]))
        self.output_shape = (height, width)
        self.view = view
        self.ratio = face_crop.check_ratio(ratio)
        self.tracker = FaceTracker(face_detector, detect_every)
        self.avatars, avatars, error = [], list(avatars), None
        if not avatars:
            raise InputError("no avatar given: pass at least one image path")
        for path in avatars:
            try:
                self.avatars.append(Avatar(path, self.size[0], self.output_shape, crop, self.tracker.detector))
            except InputError as failure:
                error = failure
                if len(avatars) > 1:
                    logger.warning("skipping avatar '%s': %s", path, failure)
        if not self.avatars:
            if len(avatars) == 1:
                raise error
            raise InputError("none of the %d avatars could be read; give readable PNG/JPEG/BMP images"
                             % len(avatars))
        self.mirror, self.passthrough = bool(mirror), bool(passthrough)
        self.find_keyframe = bool(find_keyframe)
        self.zoom = 1.0
        self.set_zoom(zoom)
        self.show_stats = True
        self.avatar_index = 0
        self.kp_reference = None  # the reference frame's keypoints (batch 1)
        self.reference_count = 0  # how many times the reference was set (calibrations and keyframes included)
        self._calibrate = False
        self._stop_requested = False
        self._best_distance = None
        self._lock = threading.Lock()
        self._out = np.zeros(self.output_shape + (3,), np.uint8)
        self._work = np.zeros(self.output_shape + (3,), np.float32)
        self._drawn = None  # the avatar whose background _work holds
        self.timings = collections.deque(maxlen=STATS_WINDOW)
        self.frames = 0
        self.last_timing = None

    # --- controls ----------------------------------------------------------------------------------
    @property
    def avatar(self):
        """The avatar shown now."""
        return self.avatars[self.avatar_index]

    def calibrate(self):
        """Take the next camera frame as the reference of relative motion: the avatar then shows its own pose when
        the user holds the pose they had at that moment."""
        self._calibrate = True

    def select_avatar(self, index):
        """Show avatar `index` (taken modulo the number of avatars)."""
        with self._lock:
            self.avatar_index = int(index) % len(self.avatars)
            self._best_distance = None
        logger.info("avatar %d/%d: %s", self.avatar_index + 1, len(self.avatars), self.avatar.name)

    def next_avatar(self):
        """Show the next avatar."""
        self.select_avatar(self.avatar_index + 1)

    def previous_avatar(self):
        """Show the previous avatar."""
        self.select_avatar(self.avatar_index - 1)

    def toggle_passthrough(self):
        """Show the camera itself instead of the avatar, or back."""
        self.passthrough = not self.passthrough

    def toggle_mirror(self):
        """Flip the camera frames left-right, or back."""
        self.mirror = not self.mirror
        self.tracker.reset()

    def toggle_find_keyframe(self):
        """Keep replacing the reference by better matching frames, or stop."""
        self.find_keyframe = not self.find_keyframe
        self._best_distance = None

    def toggle_stats(self):
        """Show the frame rate and latency over a window's frames, or hide them."""
        self.show_stats = not self.show_stats

    def set_zoom(self, zoom):
        """Crop the camera's face square `zoom` times tighter (1: the demo's framing)."""
        zoom = float(zoom)
        if not ZOOM_RANGE[0] <= zoom <= ZOOM_RANGE[1]:
            raise InputError("zoom must be in [%g, %g], got %g" % (ZOOM_RANGE + (zoom,)))
        self.zoom = zoom

    def zoom_in(self):
        """Zoom in one step."""
        self.set_zoom(min(self.zoom * ZOOM_STEP, ZOOM_RANGE[1]))

    def zoom_out(self):
        """Zoom out one step."""
        self.set_zoom(max(self.zoom / ZOOM_STEP, ZOOM_RANGE[0]))

    def stop(self):
        """End :meth:`run` before its next frame (from any thread)."""
        self._stop_requested = True

    def close(self):
        """Release what the avatars hold on the backend (their keypoints and features); a run in progress ends."""
        self.stop()
        for avatar in self.avatars:
            avatar.prepared = None
        self._drawn = None

    def press(self, key):
        """Run the control of a key (KEYS); returns its name, or None for a key without one."""
        action = KEYS.get(key)
        if action == "quit":
            self.stop()
        elif action is not None:
            getattr(self, action)()
        return action

    # --- frames ------------------------------------------------------------------------------------
    def prepare(self):
        """Make ready what frames need (the backend's export, each avatar's keypoints and features, the backend's
        first call), so that none of it is paid while the camera runs."""
        if self.predictor.backend == "inference" and self.predictor.device == "cpu":
            logger.warning("Paddle Inference holds Python's interpreter lock while it computes, which stops the "
                           "camera's thread: frames arrive late and latency grows; on the CPU animate live with "
                           "backend 'onnx' (--backend onnx, the default when ONNX Runtime is installed)")
        for avatar in self.avatars:
            self._prepared(avatar)
        prepared = self.avatar.prepared
        prepared.animate(prepared.driving_input(self.avatar.source_input))  # kernels are set up at the first call

    def _prepared(self, avatar):
        if avatar.prepared is None:
            avatar.prepared = self.predictor.prepare_source(avatar.source_input)
            avatar.reference_count = -1
        return avatar.prepared

    def _driving_square(self, frame, box):
        if box is None:  # no face yet: the largest centred square
            side = min(frame.shape[:2])
            box = ((frame.shape[1] - side) // 2, (frame.shape[0] - side) // 2, side, side)
        if self.zoom != 1.0:
            x, y, side, _ = box
            tight = max(1, int(round(side / self.zoom)))
            box = (x + (side - tight) // 2, y + (side - tight) // 2, tight, tight)
        return face_crop.crop_square(frame, box, self.size[0])

    def _update_reference(self, avatar, prepared, kp_driving):
        """Set the reference from this frame's keypoints when calibrating, at the first frame, or (find_keyframe)
        when they match the avatar's better than the reference's; then give the avatar the current reference."""
        take = self._calibrate or self.kp_reference is None
        if self.find_keyframe and not take:
            shape = self.predictor.shape_points
            distance = shape_distance(shape(prepared.kp_source)[0], shape(kp_driving)[0])
            if self._best_distance is None:
                self._best_distance = shape_distance(shape(prepared.kp_source)[0], shape(self.kp_reference)[0])
            take = distance < self._best_distance
        if take:
            if self._calibrate:
                logger.info("calibrated: this frame is the reference of the motion")
            self._calibrate = False
            self.kp_reference = {k: v[:1].copy() for k, v in kp_driving.items()}
            self.reference_count += 1
            self._best_distance = None
        if avatar.reference_count != self.reference_count:
            prepared.set_reference_keypoints(self.kp_reference)
            avatar.reference_count = self.reference_count

    def process(self, frame, captured=None, camera_index=None):
        """The output frame for the camera frame `frame` (HxWx3 uint8 RGB) captured at `captured` (time.monotonic;
        default now), the camera's frame `camera_index`. The returned array is reused by the next call: copy it to
        keep it."""
        started = time.monotonic()
        captured = started if captured is None else captured
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            frame = as_uint8_rgb(frame, "camera frame")
        if self.mirror:
            frame = frame[:, ::-1]
        with self._lock:
            avatar = self.avatar
        box = self.tracker.update(frame)
        detected = time.monotonic()
        if self.passthrough:
            letterbox_into(self._out, np.ascontiguousarray(frame))
            animated_at = detected
        else:
            prepared = self._prepared(avatar)
            driving = prepared.driving_input(self._driving_square(frame, box))
            kp_driving = prepared.keypoints(driving)
            self._update_reference(avatar, prepared, kp_driving)
            animated = prepared.animate(driving, kp_driving=kp_driving)[0]
            animated_at = time.monotonic()
            self._compose(avatar, animated)
        composed = time.monotonic()
        self.last_timing = Timing(camera_index, captured, started, detected, animated_at, composed, composed)
        self.timings.append(self.last_timing)
        self.frames += 1
        return self._out

    def _compose(self, avatar, animated):
        if self.view == "crop":
            letterbox_into(self._out, cv2.convertScaleAbs(animated, alpha=255.0))
            return
        if self._drawn is not avatar:  # a new avatar: its whole background once; then only its square changes
            self._work[...] = avatar.background
            self._drawn = avatar
        x, y, w, h = avatar.box
        y0, y1, x0, x1 = max(y, 0), min(y + h, self.output_shape[0]), max(x, 0), min(x + w, self.output_shape[1])
        self._work[y0:y1, x0:x1] = avatar.background[y0:y1, x0:x1]
        face_crop.paste_into(self._work, animated, avatar.box, self.ratio)
        cv2.convertScaleAbs(self._work, self._out, alpha=255.0)

    def emitted(self, when=None):
        """Record that the last output frame reached its sinks at `when` (default now): the end of its latency
        (without this call, a frame's latency ends when it was composed)."""
        if self.last_timing is not None:
            self.last_timing = self.last_timing._replace(emitted=time.monotonic() if when is None else when)
            self.timings[-1] = self.last_timing

    def stats(self):
        """Figures over the last STATS_WINDOW frames: fps (output frames per second), latency_ms_p50 / _p95
        (capture to output), and the median milliseconds of each stage (detect, model, composite, output)."""
        timings = list(self.timings)
        figures = {"frames": self.frames, "avatar": self.avatar.name, "reference_count": self.reference_count,
                   "passthrough": self.passthrough}
        if not timings:
            return figures
        span = timings[-1].emitted - timings[0].emitted
        latency = stage_ms(timings, "latency")
        figures.update(fps=(len(timings) - 1) / span if span > 0 else None,
                       latency_ms_p50=float(np.percentile(latency, 50)),
                       latency_ms_p95=float(np.percentile(latency, 95)))
        for name in ("detect", "model", "composite", "output"):
            figures[name + "_ms"] = float(np.median(stage_ms(timings, name)))
        return figures

    def stats_line(self):
        """The stats as one short line (the window's overlay, the log)."""
        s = self.stats()
        if s.get("fps") is None:
            return "%d frames" % s["frames"]
        return "%.1f fps  latency p50 %.0f ms p95 %.0f ms  model %.0f ms" % (
            s["fps"], s["latency_ms_p50"], s["latency_ms_p95"], s["model_ms"])

    # --- the loop ----------------------------------------------------------------------------------
    def run(self, camera, sinks, max_frames=None, max_seconds=None, presses=None):
        """Animate `camera`'s frames (a :class:`Camera`, opened here if needed) into every sink until the camera
        ends, a sink asks to stop (a window's q or Esc), or `max_frames` / `max_seconds` pass. `presses` maps an
        output frame's number to the keys (KEYS) pressed just before it is made (scripted controls). Returns a
        :class:`LiveReport`. A camera that is lost ends the session with the report's `error` set (one line)."""
        presses = {} if presses is None else presses
        self._stop_requested = False
        report = LiveReport(camera)
        aborted = True
        try:
            self.prepare()
            camera.open()
            report.name = camera.name
            camera.start()
            began = time.monotonic()
            timeout = FIRST_FRAME_TIMEOUT
            while max_frames is None or report.frames < max_frames:
                if max_seconds is not None and time.monotonic() - began >= max_seconds:
                    break
                item = camera.slot.take(timeout)
                timeout = FRAME_TIMEOUT
                if item is None:
                    break
                for key in presses.get(report.frames, ()):
                    self.press(key)
                if self._stop_requested:
                    break
                out = self.process(item.frame, item.time, item.index)
                stop = False
                for sink in sinks:
                    stop = sink.write(out, self) is False or stop
                self.emitted()
                report.add(self.last_timing)
                if stop or self._stop_requested:
                    break
            aborted = False
        except CameraLost as lost:
            report.error = str(lost)
            logger.warning("%s; the session ended", lost)
            aborted = False
        except KeyboardInterrupt:  # Ctrl-C is how a session without a window ends: what was made is kept
            logger.info("interrupted: the session ended")
            aborted = False
        finally:
            camera.stop()
            for sink in sinks:
                sink.close(aborted=aborted)
        report.finish(camera)
        return report


def read_keys(stream, session):
    """Press the keys typed on `stream` (a terminal's lines: each character is a key of KEYS) until it ends or q;
    the controls of a session without a window. Runs in a daemon thread (:func:`terminal_keys`)."""
    for line in stream:
        for key in line.strip():
            if session.press(key) == "quit":
                return


def terminal_keys(session, stream=None):
    """Read the session's keys from the terminal in the background (`stream`: default sys.stdin)."""
    thread = threading.Thread(target=read_keys, args=(sys.stdin if stream is None else stream, session),
                              name="ppgan-live-keys", daemon=True)
    thread.start()
    return thread


class CallbackSink:
    """Hands each output frame to `callback(frame, session)` (the frame is reused by the session: copy it to keep
    it); a callback returning False stops the session."""

    def __init__(self, callback):
        self.callback = callback

    def write(self, frame, session):
        return self.callback(frame, session)

    def close(self, aborted=False):
        pass


class VideoSink:
    """Records the output frames into a video file (.mp4, .gif or a folder of PNG frames, see
    ppgan.utils.video.VideoWriter) at `fps`; written under a temporary name and moved into place by close()."""

    def __init__(self, path, fps):
        from ppgan.utils.video import VideoWriter

        self.path = os.fspath(path)
        self.writer = VideoWriter(self.path, fps)

    def write(self, frame, session):
        self.writer.write(frame)

    def close(self, aborted=False):
        if aborted or self.writer.num_frames == 0:
            self.writer.abort()
        else:
            self.writer.close()

    @property
    def frames(self):
        return self.writer.num_frames


def display_available():
    """(True, None) when OpenCV can open a window here, else (False, the reason)."""
    if _opencv_gui() == "NONE":
        return False, "this OpenCV has no window support (opencv-python-headless); pip install opencv-python"
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False, "there is no display (DISPLAY is not set)"
    return True, None


def _opencv_gui():
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return line.split(":", 1)[1].strip()
    return "UNKNOWN"


class WindowSink:
    """Shows the output frames in an OpenCV window and turns its keys into the session's controls (KEYS); q or
    Esc, or closing the window, stops the session. With the session's `show_stats`, the frame rate and latency
    are drawn on the shown frame (not on the other sinks' frames)."""

    def __init__(self, title="ppgan live"):
        ok, reason = display_available()
        if not ok:
            raise InputError("cannot open a window: %s; record with --output FILE or stream to --virtual_camera "
                             "instead (--no-window)" % reason)
        self.title = title
        cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)
        self._shown = None

    def write(self, frame, session):
        if self._shown is None or self._shown.shape != frame.shape:
            self._shown = np.empty(frame.shape, np.uint8)
        cv2.cvtColor(frame, cv2.COLOR_RGB2BGR, dst=self._shown)
        if session.show_stats:
            cv2.putText(self._shown, session.stats_line(), (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 255, 0), 1,
                        cv2.LINE_AA)
        cv2.imshow(self.title, self._shown)
        key = cv2.waitKey(1) & 0xFF
        if key != 0xFF and session.press(chr(key)) == "quit":
            return False
        if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            return False
        return True

    def close(self, aborted=False):
        cv2.destroyWindow(self.title)


VIRTUAL_CAMERA_HELP = ("on Linux load v4l2loopback (sudo modprobe v4l2loopback devices=1 exclusive_caps=1 "
                       "card_label=ppgan); on Windows and macOS install OBS Studio and start its virtual camera once")


class VirtualCameraSink:
    """Sends the output frames to a virtual camera (pyvirtualcam, the `live` extra) that video-call programs can
    pick as their camera. Frames go out as they are made (no pacing: the newest frame is always the one shown)."""

    def __init__(self, width, height, fps, device=None):
        try:
            import pyvirtualcam
        except ImportError:
            raise InputError("--virtual_camera needs pyvirtualcam, the virtual camera library: "
                             "pip install 'ppgan-fomm[live]'") from None
        try:
            self.camera = pyvirtualcam.Camera(width=int(width), height=int(height), fps=float(fps),
                                              fmt=pyvirtualcam.PixelFormat.RGB, device=device)
        except Exception as error:  # pyvirtualcam raises RuntimeError (no device) or ValueError (bad device)
            raise InputError("no virtual camera to send to (%s); %s" % (str(error).strip().splitlines()[0]
                                                                       if str(error).strip() else type(error).__name__,
                                                                       VIRTUAL_CAMERA_HELP)) from None
        logger.info("sending to the virtual camera %s", self.camera.device)

    def write(self, frame, session):
        self.camera.send(frame)

    def close(self, aborted=False):
        self.camera.close()


class LiveReport:
    """What a session did: frames captured, animated and dropped, elapsed time, every frame's latency (a bounded
    array of floats), the per-stage times, and `error`, the one line of a lost camera (else None)."""

    def __init__(self, camera):
        self.name = camera.name
        self.frames = 0
        self.captured = 0
        self.dropped = 0
        self.error = None
        self.timings = collections.deque(maxlen=100000)  # about an hour at 25 fps, 7 floats each
        self.decode_ms = None

    def add(self, timing):
        self.frames += 1
        self.timings.append(timing)

    def finish(self, camera):
        self.captured = camera.slot.captured
        self.dropped = self.captured - self.frames
        if camera.decode_seconds:
            self.decode_ms = 1000.0 * float(np.median(camera.decode_seconds))

    @property
    def fps(self):
        """Output frames per second from the first frame's capture to the last frame's output."""
        if self.frames < 2:
            return None
        return (self.frames - 1) / max(self.timings[-1].emitted - self.timings[0].emitted, 1e-9)

    def latency_ms(self):
        """Every frame's latency, capture to output, in milliseconds."""
        return stage_ms(self.timings, "latency")

    def stage_ms(self, name):
        """Every frame's time in one stage (STAGES), in milliseconds."""
        return stage_ms(self.timings, name)

    def summary(self):
        """One line: frames, drops, frame rate and latency."""
        if not self.frames:
            return "no frame was animated (%d captured)" % self.captured
        latency = self.latency_ms()
        return ("%d frames animated of %d captured (%.1f%% dropped), %s frames/s, latency p50 %.0f ms, p95 %.0f ms"
                % (self.frames, self.captured, 100.0 * self.dropped / max(self.captured, 1),
                   "%.1f" % self.fps if self.fps else "-", np.percentile(latency, 50), np.percentile(latency, 95)))
