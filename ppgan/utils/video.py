"""Streaming video I/O at the edge: files in, uint8 RGB HxWx3 frames out (and back).

A "video" is any of: a video file (``VIDEO_EXTENSIONS``, decoded by OpenCV), a ``.gif``
(Pillow), a folder of image frames (sorted by name, digits compared as numbers), or a single
image holding the frames side by side (the original FOMM ``.png`` format, split with
``frame_shape``). Frames are yielded one at a time, so a long video never sits in memory.
"""
import contextlib
import os
import re
import tempfile

import cv2
import numpy as np

from .errors import InputError
from .image import to_rgb_float
from .io import atomic_write

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm")
GIF_EXTENSIONS = (".gif",)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
WRITE_EXTENSIONS = (".mp4", ".gif")

_PIL_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}


def _pil():
    try:
        from PIL import Image
    except ImportError as e:  # only gifs, image frames and strips need it
        raise InputError("reading or writing images and gifs needs Pillow: pip install Pillow") from e
    return Image


def _ext(path):
    return os.path.splitext(os.fspath(path))[1].lower()


def is_video_path(path):
    """True if `path` names a video file or a gif by its extension (folders and strips are not)."""
    return _ext(path) in VIDEO_EXTENSIONS + GIF_EXTENSIONS


def source_kind(path):
    """'folder', 'video', 'gif' or 'strip' for a path readable as a video, else None (files are not opened)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return "folder"
    ext = _ext(path)
    if ext in VIDEO_EXTENSIONS:
        return "video"
    if ext in GIF_EXTENSIONS:
        return "gif"
    if ext in IMAGE_EXTENSIONS:
        return "strip"
    return None


def _kind(path):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError("video '%s' does not exist; check the path" % path)
    kind = source_kind(path)
    if kind is None:
        raise InputError("'%s' is not a supported video: use a folder of %s frames, a video file (%s), a .gif, "
                         "or an image strip" % (path, "/".join(e[1:] for e in IMAGE_EXTENSIONS),
                                                ", ".join(VIDEO_EXTENSIONS)))
    return kind


def _natural_key(name):
    # frame names such as 1.png, 2.png, 10.png must not sort as 1, 10, 2
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _frame_files(folder):
    names = [n for n in os.listdir(folder)
             if not n.startswith(".") and _ext(n) in IMAGE_EXTENSIONS and os.path.isfile(os.path.join(folder, n))]
    if not names:
        raise InputError("video folder '%s' contains no image frames (%s); put the frames there or remove the folder"
                         % (folder, ", ".join(IMAGE_EXTENSIONS)))
    return [os.path.join(folder, n) for n in sorted(names, key=_natural_key)]


def as_uint8_rgb(frame, what="frame"):
    """Convert a frame (grey, RGB or RGBA; uint8, uint16 or float in [0, 1]) to uint8 RGB HxWx3."""
    arr = np.asarray(frame)
    if arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3:
        return np.ascontiguousarray(arr)
    if arr.dtype == np.uint8 and arr.ndim == 2:
        return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
    return np.round(to_rgb_float(arr, what) * 255.0).astype(np.uint8)


def _pil_to_rgb(img, what):
    """PIL image of any mode -> uint8 RGB array (alpha composited on white, as ppgan.utils.image does)."""
    if (img.mode == "P" and "transparency" in img.info) or img.mode in ("LA", "PA"):
        img = img.convert("RGBA")
    elif img.mode not in ("RGB", "RGBA", "L", "I;16", "I;16B", "I;16L"):
        img = img.convert("RGB")
    arr = np.asarray(img)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return as_uint8_rgb(arr, what)


def _open_image(path):
    Image = _pil()
    try:
        img = Image.open(path)
        img.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise InputError("cannot read image '%s' (%s); the file is corrupt or not an image: replace or delete it"
                         % (path, e)) from e
    return img


def read_image(path):
    """Read one image file as uint8 RGB HxWx3."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError("image '%s' does not exist; check the path" % path)
    return _pil_to_rgb(_open_image(path), "image '%s'" % path)


def _need_frame_shape(path):
    return InputError("'%s' is an image; to read it as a strip of frames side by side pass "
                      "frame_shape=(H, W, C) (dataset.frame_shape)" % path)


def _strip_frame_width(path, width, height, frame_shape):
    if frame_shape is None:
        raise _need_frame_shape(path)
    fh, fw = int(frame_shape[0]), int(frame_shape[1])
    # a strip stored at another size than frame_shape keeps the frame aspect ratio
    frame_w = fw if height == fh else fw * height / fh
    if frame_w != int(frame_w) or int(frame_w) < 1 or width % int(frame_w):
        raise InputError("image strip '%s' is %dx%d pixels, which is not a whole number of %dx%d frames for "
                         "frame_shape %s; fix dataset.frame_shape or the file"
                         % (path, width, height, frame_w, height, list(frame_shape)))
    return int(frame_w)


def _strip_size(path):
    Image = _pil()
    try:
        with Image.open(path) as img:
            return img.size
    except (OSError, ValueError, SyntaxError) as e:
        raise InputError("cannot read image strip '%s' (%s); the file is corrupt or not an image: replace or "
                         "delete it" % (path, e)) from e


def _iter_strip(path, frame_shape):
    width, height = _strip_size(path)
    frame_w = _strip_frame_width(path, width, height, frame_shape)
    image = read_image(path)  # one file: decoding it whole is unavoidable
    for x in range(0, width, frame_w):
        yield np.ascontiguousarray(image[:, x:x + frame_w])


def _iter_folder(path):
    for name in _frame_files(path):
        yield read_image(name)


def _iter_gif(path):
    Image = _pil()
    try:
        img = Image.open(path)
    except (OSError, ValueError, SyntaxError) as e:
        raise InputError("cannot read gif '%s' (%s); the file is corrupt: replace or delete it" % (path, e)) from e
    count = 0
    with img:
        while True:
            try:
                img.seek(count)
                frame = img.convert("RGB")
            except EOFError:
                break
            except (OSError, ValueError, SyntaxError) as e:
                raise InputError("gif '%s' is corrupt at frame %d (%s); replace or delete it" % (path, count, e)) from e
            count += 1
            yield np.asarray(frame)
    if count == 0:
        raise InputError("gif '%s' has no frames; replace or delete it" % path)


def _open_capture(path):
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        cap.release()
        raise InputError("cannot open video '%s': the file is corrupt or its codec is not supported by OpenCV; "
                         "re-encode it (e.g. ffmpeg -i in -c:v libx264 out.mp4) or delete it" % path)
    return cap


def _iter_capture(path, wanted=None):
    """Decode `path` in order; with `wanted` (a set), yield (index, frame) only for those and stop after the last."""
    cap = _open_capture(path)
    last = max(wanted) if wanted else None
    index = 0
    try:
        while last is None or index <= last:
            if wanted is not None and index not in wanted:
                ok = cap.grab()  # skips the colour conversion of frames nobody asked for
                frame = None
            else:
                ok, frame = cap.read()
            if not ok:
                break
            if frame is not None:
                yield index, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        cap.release()
    if index == 0:
        raise InputError("video '%s' has no decodable frames: it is empty or corrupt; re-encode or delete it" % path)


def iter_frames(path, frame_shape=None):
    """Yield the frames of a video (file, gif, folder of frames or image strip) one at a time as uint8 RGB HxWx3.

    `frame_shape` (H, W, C) is needed only to split an image strip. Errors are InputError naming the file;
    a missing or unsupported path is reported at the call, a corrupt or empty file when iterated.
    """
    path = os.fspath(path)
    kind = _kind(path)
    if kind == "strip" and frame_shape is None:
        raise _need_frame_shape(path)
    return _iter_kind(path, kind, frame_shape)


def _iter_kind(path, kind, frame_shape):
    if kind == "folder":
        yield from _iter_folder(path)
    elif kind == "gif":
        yield from _iter_gif(path)
    elif kind == "strip":
        yield from _iter_strip(path, frame_shape)
    else:
        for _, frame in _iter_capture(path):
            yield frame


def count_frames(path, frame_shape=None):
    """Number of frames of a video; cheap for folders and strips (file headers), decodes video files."""
    path = os.fspath(path)
    kind = _kind(path)
    if kind == "folder":
        return len(_frame_files(path))
    if kind == "strip":
        width, height = _strip_size(path)
        return width // _strip_frame_width(path, width, height, frame_shape)
    if kind == "gif":
        Image = _pil()
        try:
            with Image.open(path) as img:
                n = int(getattr(img, "n_frames", 1))
        except (OSError, ValueError, SyntaxError, EOFError) as e:
            raise InputError("cannot read gif '%s' (%s); the file is corrupt: replace or delete it" % (path, e)) from e
        if n < 1:
            raise InputError("gif '%s' has no frames; replace or delete it" % path)
        return n
    # container frame counts are estimates for many codecs, so count what actually decodes
    cap = _open_capture(path)
    n = 0
    try:
        while cap.grab():
            n += 1
    finally:
        cap.release()
    if n == 0:
        raise InputError("video '%s' has no decodable frames: it is empty or corrupt; re-encode or delete it" % path)
    return n


def _check_indices(path, indices, total=None):
    for i in indices:
        if i < 0:
            raise InputError("frame index %d of video '%s' is negative" % (i, path))
        if total is not None and i >= total:
            raise InputError("video '%s' has %d frames; frame %d does not exist" % (path, total, i))


def read_frames(path, indices=None, frame_shape=None):
    """Return a list of the frames at `indices` (all frames if None) as uint8 RGB HxWx3; only those are kept.

    Indices may repeat and come in any order; the result follows their order.
    """
    path = os.fspath(path)
    if indices is None:
        return list(iter_frames(path, frame_shape))
    indices = [int(i) for i in indices]
    if not indices:
        return []
    kind = _kind(path)
    wanted = sorted(set(indices))
    if kind == "folder":
        files = _frame_files(path)
        _check_indices(path, wanted, len(files))
        got = {i: read_image(files[i]) for i in wanted}
    elif kind == "strip":
        width, height = _strip_size(path)
        frame_w = _strip_frame_width(path, width, height, frame_shape)
        _check_indices(path, wanted, width // frame_w)
        image = read_image(path)
        got = {i: np.ascontiguousarray(image[:, i * frame_w:(i + 1) * frame_w]) for i in wanted}
        del image
    elif kind == "gif":
        _check_indices(path, wanted, count_frames(path))
        Image = _pil()
        got = {}
        try:
            with Image.open(path) as img:
                for i in wanted:
                    img.seek(i)
                    got[i] = np.asarray(img.convert("RGB"))
        except (OSError, ValueError, SyntaxError, EOFError) as e:
            raise InputError("gif '%s' is corrupt (%s); replace or delete it" % (path, e)) from e
    else:
        _check_indices(path, wanted)
        got = dict(_iter_capture(path, set(wanted)))
        missing = [i for i in wanted if i not in got]
        if missing:
            raise InputError("video '%s' ends before frame %d; it may be truncated: re-encode or delete it"
                             % (path, missing[0]))
    return [got[i] for i in indices]


def _temp_name(path):
    """A temporary file next to `path` with the same extension (encoders pick the format by extension)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    base, ext = os.path.splitext(os.path.basename(path))
    fd, tmp = tempfile.mkstemp(prefix="." + base + ".", suffix=".tmp" + ext, dir=folder)
    os.close(fd)
    return tmp


class VideoWriter:
    """Write frames (uint8 or float in [0, 1], RGB) to an .mp4 (OpenCV 'mp4v') or .gif (Pillow) atomically.

    Frames go to a temporary file next to `path`, renamed onto `path` by `close()`; leaving the `with`
    block by an exception removes it. A gif is encoded at close, so its frames (palette images, one
    byte per pixel) are held until then, and Pillow merges identical consecutive frames into one.
    """

    def __init__(self, path, fps=25):
        self.path = os.fspath(path)
        self.ext = _ext(self.path)
        if self.ext not in WRITE_EXTENSIONS:
            raise InputError("cannot write video '%s': use one of %s" % (self.path, ", ".join(WRITE_EXTENSIONS)))
        if not fps or float(fps) <= 0:
            raise InputError("fps must be positive, got %r" % (fps,))
        self.fps = float(fps)
        self.num_frames = 0
        self._size = None
        self._writer = None
        self._gif_frames = []
        self._tmp = _temp_name(self.path)
        self._closed = False

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False

    def write(self, frame):
        """Append one frame; every frame must have the size of the first."""
        if self._closed:
            raise InputError("video '%s' is already closed" % self.path)
        frame = as_uint8_rgb(frame, "frame %d of '%s'" % (self.num_frames, self.path))
        size = frame.shape[:2]
        if self._size is None:
            self._size = size
            self._open(size)
        elif size != self._size:
            raise InputError("frame %d of '%s' is %dx%d but the first frame is %dx%d; resize frames to one size"
                             % (self.num_frames, self.path, size[1], size[0], self._size[1], self._size[0]))
        if self.ext == ".gif":
            self._gif_frames.append(_pil().fromarray(frame).quantize(colors=256))
        else:
            self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.num_frames += 1

    def _open(self, size):
        if self.ext == ".gif":
            return
        h, w = size
        self._writer = cv2.VideoWriter(self._tmp, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
        if not self._writer.isOpened():
            self.abort()
            raise InputError("OpenCV cannot write '%s' with the mp4v codec; write a .gif instead" % self.path)

    def close(self):
        """Finish the file and move it onto `path`; writing no frame is an error and leaves nothing behind."""
        if self._closed:
            return
        if self.num_frames == 0:
            self.abort()
            raise InputError("no frames were written to '%s'" % self.path)
        try:
            if self.ext == ".gif":
                first, rest = self._gif_frames[0], self._gif_frames[1:]
                first.save(self._tmp, format="GIF", save_all=True, append_images=rest,
                           duration=max(1, round(1000.0 / self.fps)), loop=0)
                self._gif_frames = []
            else:
                self._writer.release()
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self._closed = True

    def abort(self):
        """Drop everything written so far; the target path is left untouched."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self._gif_frames = []
        with contextlib.suppress(OSError):
            os.unlink(self._tmp)
        self._closed = True

    def __del__(self):
        # a writer dropped without close() must not leave its hidden temporary file behind
        if not getattr(self, "_closed", True):
            self.abort()


def write_video(path, frames, fps=25):
    """Write an iterable of frames to `path` (.mp4 or .gif) atomically; returns the number of frames."""
    with VideoWriter(path, fps) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.num_frames


def save_image(path, image):
    """Save an image (uint8 or float in [0, 1]; grey, RGB or RGBA) as PNG (or JPEG/BMP by extension), atomically."""
    path = os.fspath(path)
    fmt = _PIL_FORMATS.get(_ext(path))
    if fmt is None:
        raise InputError("cannot save image '%s': use one of %s" % (path, ", ".join(IMAGE_EXTENSIONS)))
    img = _pil().fromarray(as_uint8_rgb(image, "image for '%s'" % path))
    with atomic_write(path) as f:
        img.save(f, format=fmt)
    return path
