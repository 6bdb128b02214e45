"""Streaming video I/O at the edge: files in, uint8 RGB HxWx3 frames out (and back), plus audio muxing.

A "video" is any of: a video file (``VIDEO_EXTENSIONS``, decoded by OpenCV), a ``.gif``
(Pillow), a folder of image frames (sorted by name, digits compared as numbers), or a single
image holding the frames side by side (the original FOMM ``.png`` format, split with
``frame_shape``). Frames are yielded one at a time, so a long video never sits in memory.

Output (``VideoWriter``) is an H.264 ``.mp4`` (piped to the ffmpeg binary of the imageio-ffmpeg
wheel, streamed), a ``.gif`` or a folder of PNG frames; ``copy_audio`` adds a soundtrack to an mp4.
"""
import contextlib
import math
import os
import re
import shutil
import subprocess
import tempfile

import cv2
import numpy as np

from .errors import InputError
from .image import to_rgb_float
from .io import atomic_path, atomic_write, temp_dir_next_to, temp_file_next_to
from .logger import get_logger

logger = get_logger("ppgan.utils")

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm")
GIF_EXTENSIONS = (".gif",)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
# file outputs; VideoWriter also writes a folder of PNG frames (a path without extension, see output_kind)
WRITE_EXTENSIONS = (".mp4", ".gif")
DEFAULT_CRF = 18  # x264 quality: 0 lossless .. 51 worst; about 18 looks lossless and stays small

_WRITE_CHOICES = ".mp4, .gif, or a folder of PNG frames (a path without extension or ending with '/')"
_SEPARATORS = os.sep + (os.altsep or "")
# OpenCV reports some containers' time base (1000, 90000) as the frame rate; no real clip is that fast
_MIN_FPS, _MAX_FPS = 0.1, 500.0
_ERROR_LINES = 6  # lines of ffmpeg's stderr quoted in an error
_PROBE_TIMEOUT = 60  # seconds for `ffmpeg -i` to read a file's header
_warned_no_ffmpeg = False  # the mp4v fallback is announced once per process, not once per video

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


def frame_count_hint(path):
    """A cheap frame count for progress bars: exact for folders and gifs, the container's estimate for
    video files (no decoding), None when unknown or unreadable."""
    try:
        if _kind(os.fspath(path)) in ("folder", "gif"):
            return count_frames(path)
        cap = cv2.VideoCapture(os.fspath(path))
        try:
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
        finally:
            cap.release()
        return n if n > 0 else None
    except (InputError, OSError, ValueError):
        return None


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


def video_fps(path, default=25.0):
    """Frame rate of a video file or gif; `default` for folders, strips and implausible values."""
    path = os.fspath(path)
    kind = _kind(path)
    if kind == "video":
        cap = _open_capture(path)
        try:
            fps = cap.get(cv2.CAP_PROP_FPS)
        finally:
            cap.release()
    elif kind == "gif":
        fps = _gif_fps(path)
    else:
        return default
    if fps is None or not math.isfinite(fps) or not _MIN_FPS <= fps <= _MAX_FPS:
        logger.debug("video '%s' reports a frame rate of %r; using %r instead", path, fps, default)
        return default
    return float(fps)


def _gif_fps(path):
    """1000 / the mean frame duration in ms, or None when the gif stores no durations."""
    Image = _pil()
    durations = []
    try:
        with Image.open(path) as img:
            for i in range(int(getattr(img, "n_frames", 1))):
                img.seek(i)
                durations.append(float(img.info.get("duration") or 0))
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise InputError("cannot read gif '%s' (%s); the file is corrupt: replace or delete it" % (path, e)) from e
    # a zero duration means "as fast as the viewer likes", which says nothing about the intended rate
    durations = [d for d in durations if d > 0]
    if not durations:
        return None
    return 1000.0 / (sum(durations) / len(durations))


# ---------------------------------------------------------------------------------------------------------------
# ffmpeg (the static binary of the imageio-ffmpeg wheel): H.264 output and audio


_FFMPEG_HINT = "pip install imageio-ffmpeg"


def _ffmpeg_exe():
    """Path (or command name) of a working ffmpeg binary; InputError saying how to get one if there is none."""
    try:
        import imageio_ffmpeg
    except ImportError as e:
        raise InputError("ffmpeg is not available (imageio-ffmpeg is not installed); %s" % _FFMPEG_HINT) from e
    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except (RuntimeError, OSError) as e:
        raise InputError("ffmpeg is not available (%s); %s" % (e, _FFMPEG_HINT)) from e
    # a system ffmpeg comes back as a bare command name, an explicit IMAGEIO_FFMPEG_EXE as any path
    if not exe or not (os.path.isfile(exe) and os.access(exe, os.X_OK) or shutil.which(exe)):
        raise InputError("ffmpeg is not available (%r is not an executable file); reinstall it: "
                         "pip install --force-reinstall imageio-ffmpeg" % (exe,))
    return exe


def _tail(text, lines=_ERROR_LINES):
    """The last non-empty lines of a tool's output, on one line for error messages."""
    kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(kept) if kept else "(no output)"


def _run_ffmpeg(args, what, timeout=None):
    """Run ffmpeg with `args` (stdin closed, output captured); returns (exit code, stderr text)."""
    exe = _ffmpeg_exe()
    try:
        proc = subprocess.run([exe, "-hide_banner", "-nostdin"] + list(args), stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise InputError("ffmpeg took more than %ds to %s; check that the file is local and readable"
                         % (timeout, what)) from e
    except OSError as e:
        raise InputError("cannot run ffmpeg '%s' to %s (%s); reinstall it: pip install --force-reinstall "
                         "imageio-ffmpeg" % (exe, what, e)) from e
    return proc.returncode, proc.stderr.decode("utf-8", "replace")


_AUDIO_STREAM = re.compile(r"^\s*Stream #\d+:\d+.*?: Audio:", re.MULTILINE)


def has_audio(path):
    """True if the media file `path` has an audio stream (asks ffmpeg; folders, gifs and images have none)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return False
    if not os.path.isfile(path):
        raise InputError("'%s' does not exist; check the path" % path)
    if _ext(path) in GIF_EXTENSIONS + IMAGE_EXTENSIONS:
        return False
    # without an output ffmpeg only prints the input's streams and exits with an error, which is expected here
    _, err = _run_ffmpeg(["-i", path], "read '%s'" % path, timeout=_PROBE_TIMEOUT)
    if "Input #0" not in err:
        raise InputError("ffmpeg cannot read '%s': %s; the file is corrupt or not a media file: replace it"
                         % (path, _tail(err)))
    return bool(_AUDIO_STREAM.search(err))


def copy_audio(video_path, audio_source, out_path):
    """Mux the video of `video_path` with the first audio track of `audio_source` into the .mp4 `out_path`.

    The video stream is copied, the audio re-encoded to AAC and cut or padded with silence to the video's
    length. `out_path` may be `video_path`; it is replaced atomically. Returns False, writing nothing,
    when `audio_source` has no audio.
    """
    video_path, audio_source, out_path = os.fspath(video_path), os.fspath(audio_source), os.fspath(out_path)
    if output_kind(out_path) != "mp4":
        raise InputError("cannot put audio into '%s': only .mp4 outputs carry audio (a gif or a folder of frames "
                         "cannot); write the video as .mp4" % out_path)
    if not os.path.isfile(video_path):
        raise InputError("video '%s' does not exist; check the path" % video_path)
    if source_kind(video_path) != "video":
        raise InputError("cannot add audio to '%s': only video files (%s) have a video stream to copy; write the "
                         "video as .mp4" % (video_path, ", ".join(VIDEO_EXTENSIONS)))
    if not has_audio(audio_source):
        logger.info("'%s' has no audio track; '%s' stays silent", audio_source, out_path)
        return False
    with atomic_path(out_path) as tmp:
        # apad + -shortest makes the video decide the length: a short track is padded with silence instead of
        # cutting off the last frames
        code, err = _run_ffmpeg(["-nostats", "-loglevel", "error", "-y", "-i", video_path, "-i", audio_source,
                                 "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "192k",
                                 "-af", "apad", "-shortest", "-movflags", "+faststart", "-f", "mp4", tmp],
                                "add audio to '%s'" % out_path)
        if code != 0:
            raise InputError("ffmpeg could not add the audio of '%s' to '%s' (exit code %d): %s"
                             % (audio_source, video_path, code, _tail(err)))
    return True


# ---------------------------------------------------------------------------------------------------------------
# writing


def output_kind(path):
    """'mp4', 'gif' or 'folder' (no extension, or a trailing separator: PNG frames) for a writable path."""
    path = os.fspath(path)
    if path.endswith(tuple(_SEPARATORS)) or not _ext(path):
        return "folder"
    ext = _ext(path)
    if ext in WRITE_EXTENSIONS:
        return ext[1:]
    raise InputError("cannot write video '%s': use %s" % (path, _WRITE_CHOICES))


class _FfmpegSink:
    """H.264 (libx264, yuv420p) from raw RGB frames piped to an ffmpeg process; nothing is buffered here."""

    codec = "h264"

    def __init__(self, exe, tmp, path, fps, crf):
        self.exe, self.tmp, self.path, self.fps, self.crf = exe, tmp, path, fps, crf
        self._proc = None
        self._log = None
        self._pad = (0, 0)

    def open(self, size):
        h, w = size
        # 4:2:0 chroma covers 2x2 pixel blocks, so libx264 refuses odd sizes
        self._pad = (h % 2, w % 2)
        if any(self._pad):
            logger.debug("'%s': frames are %dx%d; padding them to %dx%d (edge pixels repeated) for H.264",
                         self.path, w, h, w + self._pad[1], h + self._pad[0])
        # a file rather than a pipe: nobody reads ffmpeg's stderr while frames are written, and a full pipe
        # would block it
        self._log = tempfile.TemporaryFile()
        size = "%dx%d" % (w + self._pad[1], h + self._pad[0])
        cmd = [self.exe, "-hide_banner", "-nostats", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", size, "-r", repr(self.fps), "-i", "-",
               "-an", "-c:v", "libx264", "-crf", str(self.crf), "-pix_fmt", "yuv420p",
               "-movflags", "+faststart", "-f", "mp4", self.tmp]
        try:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log)
        except OSError as e:
            raise InputError("cannot start ffmpeg '%s' to write '%s' (%s); reinstall it: pip install "
                             "--force-reinstall imageio-ffmpeg" % (self.exe, self.path, e)) from e

    def write(self, frame):
        ph, pw = self._pad
        if ph or pw:
            frame = np.pad(frame, ((0, ph), (0, pw), (0, 0)), mode="edge")
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).data)
        except OSError as e:  # BrokenPipeError: ffmpeg has exited
            self._proc.wait()
            raise self._error("stopped reading frames") from e

    def close(self):
        with contextlib.suppress(OSError):  # a broken pipe shows up in the exit code below
            self._proc.stdin.close()
        code = self._proc.wait()
        if code != 0:
            raise self._error("exited with code %d" % code)
        self._log.close()

    def _error(self, what):
        self._log.seek(0)
        err = self._log.read().decode("utf-8", "replace")
        return InputError("ffmpeg %s while writing '%s': %s; check free disk space and write permission, or write "
                          "a .gif or a folder of frames instead" % (what, self.path, _tail(err)))

    def abort(self):
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            with contextlib.suppress(OSError, ValueError):
                self._proc.stdin.close()
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None


class _OpenCVSink:
    """MPEG-4 part 2 ('mp4v') through OpenCV: the fallback when ffmpeg is missing."""

    codec = "mp4v"

    def __init__(self, tmp, path, fps):
        self.tmp, self.path, self.fps = tmp, path, fps
        self._writer = None

    def open(self, size):
        h, w = size
        self._writer = cv2.VideoWriter(self.tmp, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
        if not self._writer.isOpened():
            raise InputError("OpenCV cannot write '%s' with the mp4v codec; install ffmpeg for H.264 (%s) or "
                             "write a .gif instead" % (self.path, _FFMPEG_HINT))

    def write(self, frame):
        self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))

    def close(self):
        self._writer.release()
        self._writer = None

    def abort(self):
        if self._writer is not None:
            self._writer.release()
            self._writer = None


class _GifSink:
    """Pillow gif, encoded at close: it needs all frames, so they are held as palette images until then."""

    codec = "gif"

    def __init__(self, tmp, fps):
        self.tmp, self.fps = tmp, fps
        self._frames = []

    def open(self, size):
        pass

    def write(self, frame):
        self._frames.append(_pil().fromarray(frame).quantize(colors=256))

    def close(self):
        first, rest = self._frames[0], self._frames[1:]
        first.save(self.tmp, format="GIF", save_all=True, append_images=rest,
                   duration=max(1, round(1000.0 / self.fps)), loop=0)
        self._frames = []

    def abort(self):
        self._frames = []


class _FolderSink:
    """PNG frames 00000.png, 00001.png, ... in the temporary folder."""

    codec = "png"

    def __init__(self, tmp):
        self.tmp = tmp
        self._count = 0

    def open(self, size):
        pass

    def write(self, frame):
        _pil().fromarray(frame).save(os.path.join(self.tmp, "%05d.png" % self._count), format="PNG")
        self._count += 1

    def close(self):
        pass

    def abort(self):
        pass


def _replace_folder(tmp, path):
    """Move the finished folder `tmp` onto `path`; an existing `path` is moved aside first, deleted last."""
    if os.path.isfile(path):
        raise InputError("cannot write frames to '%s': it is a file; delete it or choose another output" % path)
    if not os.path.lexists(path):
        os.rename(tmp, path)
        return
    parent = os.path.dirname(os.path.abspath(path))
    # the old frames go inside a fresh folder, so their new name cannot collide with anything
    aside = tempfile.mkdtemp(prefix="." + os.path.basename(path) + ".", suffix=".old", dir=parent)
    old = os.path.join(aside, "old")
    os.rename(path, old)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.rename(old, path)
        os.rmdir(aside)
        raise
    try:
        shutil.rmtree(aside)
    except OSError as e:
        # the new frames are in place, so the write succeeded; only the old copy is left over
        logger.warning("wrote '%s' but could not delete its previous content in '%s' (%s); delete it by hand",
                       path, aside, e)


class VideoWriter:
    """Write frames (uint8 or float in [0, 1], RGB) to an .mp4, a .gif or a folder of PNG frames, atomically.

    The kind comes from `path` (see `output_kind`): .mp4 is H.264 through ffmpeg (OpenCV 'mp4v' if ffmpeg
    is missing), .gif is Pillow (frames held until close, identical consecutive frames merged), and a path
    without extension or ending with a separator is a folder of 00000.png, 00001.png, ... Everything goes to
    a temporary file or folder next to `path` and is moved onto it by `close()` (an existing folder is
    replaced only then); leaving the `with` block by an exception removes it and leaves `path` untouched.
    """

    def __init__(self, path, fps=25, crf=DEFAULT_CRF):
        path = os.fspath(path)
        self.kind = output_kind(path)
        self.path = path.rstrip(_SEPARATORS) if self.kind == "folder" else path
        self.ext = _ext(self.path) if self.kind != "folder" else ""
        if not fps or float(fps) <= 0 or not math.isfinite(float(fps)):
            raise InputError("fps must be positive, got %r" % (fps,))
        if isinstance(crf, bool) or not isinstance(crf, (int, np.integer)) or not 0 <= crf <= 51:
            raise InputError("crf must be an integer from 0 (lossless) to 51 (worst), got %r; 18 looks "
                             "visually lossless" % (crf,))
        self.fps = float(fps)
        self.num_frames = 0
        self._size = None
        self._closed = True  # until the temporary output exists, there is nothing to clean up
        if self.kind == "folder":
            name = os.path.basename(self.path)
            if name in ("", ".", ".."):
                raise InputError("cannot write frames to '%s': name the folder to create (e.g. out/frames)" % path)
            if os.path.isfile(self.path):
                raise InputError("cannot write frames to '%s': it is a file; delete it or choose another output"
                                 % self.path)
            parent = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(parent, exist_ok=True)
            self._tmp = temp_dir_next_to(os.path.join(parent, name))
            self._sink = _FolderSink(self._tmp)
        else:
            self._tmp = temp_file_next_to(self.path)
            if self.kind == "gif":
                self._sink = _GifSink(self._tmp, self.fps)
            else:
                self._sink = self._mp4_sink(crf)
        self._closed = False

    def _mp4_sink(self, crf):
        global _warned_no_ffmpeg
        try:
            return _FfmpegSink(_ffmpeg_exe(), self._tmp, self.path, self.fps, int(crf))
        except InputError as e:
            if not _warned_no_ffmpeg:
                _warned_no_ffmpeg = True
                logger.warning("%s. Writing .mp4 with OpenCV's mp4v codec instead, which browsers and many "
                               "players cannot play; for H.264 video: %s", e, _FFMPEG_HINT)
            return _OpenCVSink(self._tmp, self.path, self.fps)

    @property
    def codec(self):
        """'h264', 'mp4v' (no ffmpeg), 'gif' or 'png' (a folder)."""
        return self._sink.codec

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
        if self._size is not None and size != self._size:
            raise InputError("frame %d of '%s' is %dx%d but the first frame is %dx%d; resize frames to one size"
                             % (self.num_frames, self.path, size[1], size[0], self._size[1], self._size[0]))
        try:
            if self._size is None:
                self._sink.open(size)
                self._size = size
            self._sink.write(frame)
        except BaseException:
            self.abort()
            raise
        self.num_frames += 1

    def close(self):
        """Finish the output and move it onto `path`; writing no frame is an error and leaves nothing behind."""
        if self._closed:
            return
        if self.num_frames == 0:
            self.abort()
            raise InputError("no frames were written to '%s'" % self.path)
        try:
            self._sink.close()
            if self.kind == "folder":
                _replace_folder(self._tmp, self.path)
            else:
                os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self._closed = True

    def abort(self):
        """Drop everything written so far; the target path is left untouched."""
        if getattr(self, "_sink", None) is not None:
            self._sink.abort()
        tmp = getattr(self, "_tmp", None)
        if tmp is not None:
            if os.path.isdir(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        self._closed = True

    def __del__(self):
        # a writer dropped without close() must not leave its hidden temporary file behind
        if not getattr(self, "_closed", True):
            self.abort()


def write_video(path, frames, fps=25, crf=DEFAULT_CRF):
    """Write an iterable of frames to `path` (.mp4, .gif or a folder) atomically; returns the number of frames."""
    with VideoWriter(path, fps, crf) as writer:
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
