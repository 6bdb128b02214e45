"""Streaming video I/O at the edge: files in, uint8 RGB HxWx3 frames out (and back), plus audio muxing.

A video is a video file or gif (decoded by PyAV, i.e. FFmpeg), a folder of frames or an image strip; `open_video`
opens it once and its reader yields the frames one at a time, as often as asked, so a long video never sits in
memory. `VideoWriter` writes H.264 .mp4 (in process, streamed), .gif or a folder of PNGs; `copy_audio` adds sound;
`write_y4m` writes raw 4:2:0 frames (a browser's fake camera in the live page's tests).
"""
import contextlib
import functools
import heapq
import itertools
import math
import os
import re
import shutil
import tempfile
from fractions import Fraction

import av
import numpy as np
from PIL import Image

from .errors import InputError
from .image import to_rgb_float
from .io import atomic_path, atomic_write, temp_dir_next_to, temp_file_next_to
from .logger import get_logger

logger = get_logger("ppgan.utils")

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm")
GIF_EXTENSIONS = (".gif",)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
WRITE_EXTENSIONS = (".mp4", ".gif")  # and a folder of PNG frames: a path without extension (see output_kind)
DEFAULT_CRF = 18  # x264 quality: 0 lossless .. 51 worst; about 18 looks lossless and stays small

_SEPARATORS = os.sep + (os.altsep or "")
_MIN_FPS, _MAX_FPS = 0.1, 500.0  # some containers report a time base (1000, 90000) as the frame rate
_PIL_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}
_PIL_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)
_RE_ENCODE = "re-encode it (e.g. ffmpeg -i in -c:v libx264 out.mp4) or delete it"


def _ext(path):
    return os.path.splitext(os.fspath(path))[1].lower()


def source_kind(path):
    """'folder', 'video', 'gif' or 'strip' for a path readable as a video, else None (files are not opened)."""
    if os.path.isdir(path):
        return "folder"
    kinds = (("video", VIDEO_EXTENSIONS), ("gif", GIF_EXTENSIONS), ("strip", IMAGE_EXTENSIONS))
    return next((kind for kind, extensions in kinds if _ext(path) in extensions), None)


def as_uint8_rgb(frame, what="frame"):
    """Convert a frame (grey, RGB or RGBA; uint8, uint16 or float in [0, 1]) to uint8 RGB HxWx3."""
    arr = np.asarray(frame)
    if arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3:
        return np.ascontiguousarray(arr)
    return np.round(to_rgb_float(arr, what) * 255.0).astype(np.uint8)


def nchw_to_uint8(images):
    """A batch of (N, 3, H, W) images in [0, 1] (array or tensor) as (N, H, W, 3) uint8, rounded half up: the frames
    the evaluator writes into its PNG strips, and that the paper's metrics measure."""
    images = images.numpy() if hasattr(images, "numpy") else np.asarray(images)
    return (np.clip(images.transpose(0, 2, 3, 1), 0, 1) * 255 + 0.5).astype(np.uint8)


def _open_image(path, what="image", load=True):
    try:
        img = Image.open(path)
        if load:
            img.load()
        return img
    except _PIL_ERRORS as e:
        raise InputError("cannot read %s '%s' (%s); the file is corrupt or not an image: replace or delete it"
                         % (what, path, e)) from e


def read_image(path):
    """Read one image file as uint8 RGB HxWx3 (alpha composited on white, as ppgan.utils.image does)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError("image '%s' does not exist; check the path" % path)
    img = _open_image(path)
    if (img.mode == "P" and "transparency" in img.info) or img.mode in ("LA", "PA"):
        img = img.convert("RGBA")
    elif img.mode not in ("RGB", "RGBA", "L", "I;16", "I;16B", "I;16L"):
        img = img.convert("RGB")
    arr = np.asarray(img)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return as_uint8_rgb(arr, "image '%s'" % path)


def _open_av(path, what="video"):
    try:
        return av.open(path)
    except (av.FFmpegError, OSError) as e:
        raise InputError("cannot open %s '%s' (%s): the file is corrupt or not a media file; %s"
                         % (what, path, e, _RE_ENCODE)) from e


class VideoReader(contextlib.AbstractContextManager):
    """A video opened once: `fps` (None if the source has no rate), `frame_count_hint` (cheap; None if unknown),
    `count()` (exact), iteration over the frames (uint8 RGB HxWx3, from the first, as often as wanted) and
    `read(indices)`. Subclasses give random access by `_frame(i)`, or override `__iter__` and `_pick`."""

    fps = frame_count_hint = None

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Release the file."""

    def count(self):
        """The exact number of frames."""
        return self.frame_count_hint

    def __iter__(self):
        return map(self._frame, range(self.count()))

    def read(self, indices):
        """The frames at `indices` (any order, repeats allowed); only those are decoded and kept."""
        indices = [int(i) for i in indices]
        if indices and min(indices) < 0:
            raise InputError("frame index %d of video '%s' is negative" % (min(indices), self.path))
        got = self._pick(sorted(set(indices))) if indices else {}
        return [got[i] for i in indices]

    def _pick(self, wanted):
        total = self.count()
        if wanted[-1] >= total:
            raise InputError("video '%s' has %d frames; frame %d does not exist" % (self.path, total, wanted[-1]))
        return {i: self._frame(i) for i in wanted}


class FolderReader(VideoReader):
    """A folder of image files, one frame each in natural name order; a file is read when its frame is."""

    def __init__(self, path, frame_shape=None):
        self.path = path
        names = [n for n in os.listdir(path) if not n.startswith(".") and _ext(n) in IMAGE_EXTENSIONS
                 and os.path.isfile(os.path.join(path, n))]
        if not names:
            raise InputError("video folder '%s' contains no image frames (%s); put the frames there or remove the "
                             "folder" % (path, ", ".join(IMAGE_EXTENSIONS)))
        # frame names such as 1.png, 2.png, 10.png must not sort as 1, 10, 2
        names.sort(key=lambda n: [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", n)])
        self._files = [os.path.join(path, n) for n in names]
        self.frame_count_hint = len(names)

    def _frame(self, i):
        return read_image(self._files[i])


class StripReader(VideoReader):
    """One image with the frames side by side (the original FOMM .png format), split by `frame_shape`; it is
    decoded whole (one file: unavoidable) at the first frame and kept while the reader lives."""

    def __init__(self, path, frame_shape=None):
        self.path, self.frame_shape = path, frame_shape
        with _open_image(path, "image strip", load=False) as img:  # the header only
            self._size = img.size

    @functools.cached_property
    def _width(self):
        (width, height), shape = self._size, self.frame_shape
        if shape is None:
            raise InputError("'%s' is an image; to read it as a strip of frames side by side pass "
                             "frame_shape=(H, W, C) (dataset.frame_shape)" % self.path)
        # a strip stored at another size than frame_shape keeps the frame aspect ratio
        w = int(shape[1]) if height == int(shape[0]) else int(shape[1]) * height / int(shape[0])
        if w != int(w) or int(w) < 1 or width % int(w):
            raise InputError("image strip '%s' is %dx%d pixels, not a whole number of %dx%d frames for frame_shape "
                             "%s; fix dataset.frame_shape or the file" % (self.path, width, height, w, height, shape))
        return int(w)

    @functools.cached_property
    def _image(self):
        return read_image(self.path)

    def count(self):
        return self._size[0] // self._width

    def _frame(self, i):
        return np.ascontiguousarray(self._image[:, i * self._width:(i + 1) * self._width])


class ContainerReader(VideoReader):
    """A video file or gif decoded by PyAV (FFmpeg), opened once: each pass over the frames seeks back to the
    start. `count()` decodes every frame, as container frame counts are estimates for many codecs."""

    def __init__(self, path, frame_shape=None):
        self.path, self._container = path, _open_av(path)
        if not self._container.streams.video:
            self.close()
            raise InputError("'%s' has no video stream; give a video file, or %s" % (path, _RE_ENCODE))
        self._stream = stream = self._container.streams.video[0]
        rates = (stream.guessed_rate, stream.average_rate)  # a GIF's average rate omits its last frame's delay
        rate = float(next((r for r in (rates if stream.codec_context.name == "gif" else rates[::-1]) if r), 0))
        self.fps = rate if math.isfinite(rate) and _MIN_FPS <= rate <= _MAX_FPS else None
        seconds = (self._container.duration or 0) / 1e6
        self.frame_count_hint = stream.frames or (round(seconds * self.fps) if seconds and self.fps else None)

    def close(self):
        self._container.close()

    def _decoded(self):
        self._container.seek(0)  # this also flushes the decoder of a pass that stopped early
        n = 0
        try:
            for n, frame in enumerate(self._container.decode(self._stream), 1):
                yield frame
        except av.FFmpegError as e:
            raise InputError("video '%s' is corrupt after frame %d (%s); %s" % (self.path, n, e, _RE_ENCODE)) from e
        if n == 0:
            raise InputError("video '%s' has no decodable frames: it is empty or corrupt; %s" % (self.path, _RE_ENCODE))

    def count(self):
        return sum(1 for _ in self._decoded())

    def __iter__(self):
        return map(self._rgb, self._decoded())

    @staticmethod
    def _rgb(frame):  # phones store portrait clips as landscape frames plus a rotation to apply when showing them
        return np.ascontiguousarray(np.rot90(frame.to_ndarray(format="rgb24"), round(frame.rotation / 90) % 4))

    def _pick(self, wanted):
        keep, got, n = set(wanted), {}, 0  # the other frames are decoded but never converted
        for n, frame in enumerate(itertools.islice(self._decoded(), wanted[-1] + 1), 1):
            if n - 1 in keep:
                got[n - 1] = self._rgb(frame)
        if n <= wanted[-1]:
            raise InputError("video '%s' has %d frames; frame %d does not exist" % (self.path, n, wanted[-1]))
        return got


def open_video(path, frame_shape=None):
    """Open a video (file, gif, folder of frames, or image strip split by `frame_shape` (H, W, C)) once and
    return its `VideoReader`. Errors are InputError naming the file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError("video '%s' does not exist; check the path" % path)
    readers = {"folder": FolderReader, "strip": StripReader, "gif": ContainerReader, "video": ContainerReader}
    if source_kind(path) is None:
        raise InputError("'%s' is not a supported video: use a folder of %s frames, a video file (%s), a .gif, "
                         "or an image strip" % (path, "/".join(e[1:] for e in IMAGE_EXTENSIONS),
                                                ", ".join(VIDEO_EXTENSIONS)))
    return readers[source_kind(path)](path, frame_shape)


def iter_frames(path, frame_shape=None):
    """Yield the frames of a video one at a time as uint8 RGB HxWx3 (see `open_video`); the video is opened,
    and a strip without `frame_shape` refused, at the call; a corrupt frame fails when it is reached."""
    video = open_video(path, frame_shape)
    frames = iter(video)

    def closing():
        with video:
            yield from frames
    return closing()


def count_frames(path, frame_shape=None):
    """Number of frames of a video; cheap for folders and strips, decodes video files and gifs."""
    with open_video(path, frame_shape) as video:
        return video.count()


def read_frames(path, indices=None, frame_shape=None):
    """A list of the frames at `indices` (all if None; any order, repeats allowed) as uint8 RGB HxWx3."""
    with open_video(path, frame_shape) as video:
        return list(video) if indices is None else video.read(indices)


def video_fps(path, default=25.0):
    """Frame rate of a video file or gif; `default` for folders, strips and implausible values."""
    with open_video(path) as video:
        return default if video.fps is None else video.fps


@contextlib.contextmanager
def _media(source):
    """The PyAV container of `source` (a path, or a reader whose open file is reused); None if it has none."""
    if isinstance(source, VideoReader):
        yield getattr(source, "_container", None)  # folders and strips have none
    elif not os.path.exists(source):
        raise InputError("'%s' does not exist; check the path" % source)
    elif os.path.isdir(source) or _ext(source) in GIF_EXTENSIONS + IMAGE_EXTENSIONS:
        yield None
    else:
        with _open_av(source, "media file") as container:
            yield container


def has_audio(source):
    """True if the media file `source` (a path or a VideoReader) has an audio stream; gifs and images have none."""
    with _media(source) as media:
        return bool(media and media.streams.audio)


def copy_audio(video_path, audio_source, out_path):
    """Mux the video stream of `video_path` (copied) and the first audio track of `audio_source` (a path, or a
    VideoReader whose open file is reused; re-encoded to AAC and cut to the video's length) into the .mp4
    `out_path` (may be `video_path`), atomically. False, writing nothing, if there is no audio."""
    video_path, out_path = os.fspath(video_path), os.fspath(out_path)
    if output_kind(out_path) != "mp4":
        raise InputError("cannot put audio into '%s': only .mp4 outputs carry audio (a gif or a folder of frames "
                         "cannot); write the video as .mp4" % out_path)
    if source_kind(video_path) != "video":
        raise InputError("cannot add audio to '%s': only video files (%s) have a video stream to copy; write the "
                         "video as .mp4" % (video_path, ", ".join(VIDEO_EXTENSIONS)))
    what = getattr(audio_source, "path", audio_source)
    with _media(audio_source) as media:
        if not (media and media.streams.audio):
            logger.info("'%s' has no audio track; '%s' stays silent", what, out_path)
            return False
        with atomic_path(out_path) as tmp, _open_av(video_path) as video:
            try:
                _mux_audio(video, media, tmp)
            except av.FFmpegError as e:
                raise InputError("could not add the audio of '%s' to '%s' (%s); check free disk space, or re-encode "
                                 "the audio (e.g. ffmpeg -i in -c:a aac out.m4a)" % (what, video_path, e)) from e
    return True


def _mux_audio(video, media, tmp):
    v_in, a_in = video.streams.video[0], media.streams.audio[0]
    with av.open(tmp, "w", format="mp4", options={"movflags": "+faststart"}) as out:
        v_out = out.add_stream_from_template(v_in)
        a_out = out.add_stream("aac", rate=a_in.rate or 48000, layout="mono" if a_in.channels == 1 else "stereo")
        a_out.bit_rate = 192000
        seconds = float(v_in.duration * v_in.time_base) if v_in.duration else (video.duration or 0) / 1e6

        def copied():
            for packet in video.demux(v_in):
                if packet.dts is not None:  # not the empty packet that ends demuxing
                    packet.stream = v_out
                    yield packet
        # interleaved by time, so a player never waits for one stream while reading the other
        out.mux(heapq.merge(copied(), _aac_packets(media, a_in, a_out, seconds), key=lambda p: p.dts * p.time_base))


def _aac_packets(media, a_in, a_out, seconds):
    """Packets of the audio of `a_in` encoded by `a_out` up to `seconds` (a shorter track just ends early)."""
    resampler = av.AudioResampler("fltp", a_out.layout, a_out.rate, frame_size=1024)  # the AAC frame size
    media.seek(0)  # a reader's container may be anywhere
    for frame in itertools.chain(media.decode(a_in), [None]):  # None flushes the resampler, then the encoder
        for chunk in resampler.resample(frame) + ([None] if frame is None else []):
            for packet in a_out.encode(chunk):
                if packet.pts * packet.time_base >= seconds:
                    return
                yield packet


def output_kind(path):
    """'mp4', 'gif' or 'folder' (no extension, or a trailing separator: PNG frames) for a writable path."""
    path = os.fspath(path)
    if path.endswith(tuple(_SEPARATORS)) or not _ext(path):
        return "folder"
    if _ext(path) in WRITE_EXTENSIONS:
        return _ext(path)[1:]
    raise InputError("cannot write video '%s': use .mp4, .gif, or a folder of PNG frames (a path without "
                     "extension or ending with '/')" % path)


class VideoWriter(contextlib.AbstractContextManager):
    """Write frames (uint8 or float in [0, 1], RGB) to an .mp4 (H.264, CRF `crf`), a .gif or a folder of PNG
    frames (see `output_kind`), atomically: all goes to a temporary file or folder next to `path`, moved onto it
    by `close()`; an exception inside the `with` block removes it and leaves `path` untouched. `VideoWriter(path)`
    is the subclass for the kind, which fills in `_open(size)`, `_write(frame)`, `_finish()` and `_drop()`.
    """

    def __new__(cls, path, fps=25, crf=DEFAULT_CRF):
        if cls is VideoWriter:
            cls = {"mp4": _H264Writer, "gif": _GifWriter, "folder": _FolderWriter}[output_kind(path)]
        return super().__new__(cls)

    def __init__(self, path, fps=25, crf=DEFAULT_CRF):
        self.path = os.fspath(path).rstrip(_SEPARATORS) if self.kind == "folder" else os.fspath(path)
        if not fps or float(fps) <= 0 or not math.isfinite(float(fps)):
            raise InputError("fps must be positive, got %r" % (fps,))
        if isinstance(crf, bool) or not isinstance(crf, (int, np.integer)) or not 0 <= crf <= 51:
            raise InputError("crf must be an integer from 0 (lossless) to 51 (worst), got %r; 18 looks "
                             "visually lossless" % (crf,))
        self.fps, self.crf, self.num_frames, self._size = float(fps), int(crf), 0, None
        self._tmp = self._temporary()  # set while the writer is open: it owns that file or folder

    def __exit__(self, exc_type, exc, tb):
        (self.close if exc_type is None else self.abort)()

    def write(self, frame):
        """Append one frame; every frame must have the size of the first."""
        if self._tmp is None:
            raise InputError("video '%s' is already closed" % self.path)
        frame = as_uint8_rgb(frame, "frame %d of '%s'" % (self.num_frames, self.path))
        if self._size not in (None, frame.shape[:2]):
            raise InputError("frame %d of '%s' is %dx%d but the first frame is %dx%d; resize frames to one size"
                             % (self.num_frames, self.path, frame.shape[1], frame.shape[0], *self._size[::-1]))
        with self._aborting():
            if self._size is None:
                self._open(frame.shape[:2])
                self._size = frame.shape[:2]
            self._write(frame)
        self.num_frames += 1

    def close(self):
        """Finish the output and move it onto `path`; writing no frame is an error and leaves nothing behind."""
        if self._tmp is not None:
            with self._aborting():
                if self.num_frames == 0:
                    raise InputError("no frames were written to '%s'" % self.path)
                self._finish()
            self._tmp = None

    def abort(self):
        """Drop everything written so far; the target path is left untouched."""
        tmp, self._tmp = getattr(self, "_tmp", None), None
        if tmp is not None:
            self._drop()
            if os.path.isdir(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
            elif os.path.exists(tmp):
                os.unlink(tmp)

    def __del__(self):
        # a writer dropped without close() must not leave its hidden temporary file behind
        self.abort()

    @contextlib.contextmanager
    def _aborting(self):
        try:
            yield
        except BaseException as e:
            self.abort()
            if isinstance(e, (av.FFmpegError, OSError)):
                raise InputError("cannot write '%s' (%s); check free disk space and write permission, or write a "
                                 ".gif or a folder of frames instead" % (self.path, e)) from e
            raise

    def _temporary(self):
        return temp_file_next_to(self.path)

    def _open(self, size):
        pass

    def _finish(self):
        os.replace(self._tmp, self.path)

    def _drop(self):
        pass


class _H264Writer(VideoWriter):
    """H.264 (libx264, yuv420p) .mp4 encoded in process by PyAV; each frame goes straight to the encoder."""

    kind, codec, _out = "mp4", "h264", None

    def _open(self, size):
        h, w = size
        self._pad = ((0, h % 2), (0, w % 2), (0, 0))  # 4:2:0 chroma covers 2x2 blocks: libx264 refuses odd sizes
        if h % 2 or w % 2:
            logger.debug("'%s': frames are %dx%d; padding them to %dx%d (edge pixels repeated) for H.264",
                         self.path, w, h, w + w % 2, h + h % 2)
        self._out = av.open(self._tmp, "w", format="mp4", options={"movflags": "+faststart"})
        rate = Fraction(self.fps).limit_denominator(1001)
        self._stream = self._out.add_stream("libx264", rate=rate, options={"crf": str(self.crf)})
        self._stream.width, self._stream.height, self._stream.pix_fmt = w + w % 2, h + h % 2, "yuv420p"

    def _write(self, frame):
        frame = av.VideoFrame.from_ndarray(np.pad(frame, self._pad, mode="edge"), format="rgb24")
        self._out.mux(self._stream.encode(frame))

    def _finish(self):
        self._out.mux(self._stream.encode(None))
        self._out.close()
        super()._finish()

    def _drop(self):
        if self._out is not None:
            with contextlib.suppress(av.FFmpegError, OSError):  # the file is deleted anyway
                self._out.close()


class _GifWriter(VideoWriter):
    """Pillow gif, encoded at close: it needs all frames, so they are held as palette images until then."""

    kind = codec = "gif"

    def _open(self, size):
        self._frames = []

    def _write(self, frame):
        self._frames.append(Image.fromarray(frame).quantize(colors=256))

    def _finish(self):
        self._frames[0].save(self._tmp, format="GIF", save_all=True, append_images=self._frames[1:],
                             duration=max(1, round(1000.0 / self.fps)), loop=0)
        super()._finish()


class _FolderWriter(VideoWriter):
    """PNG frames 00000.png, 00001.png, ... in a temporary folder that replaces `path` at close."""

    kind, codec = "folder", "png"

    def _temporary(self):
        if os.path.basename(self.path) in ("", ".", ".."):
            raise InputError("cannot write frames to '%s': name the folder to create (e.g. out/frames)" % self.path)
        self._refuse_file()
        return temp_dir_next_to(self.path)

    def _refuse_file(self):
        if os.path.isfile(self.path):
            raise InputError("cannot write frames to '%s': it is a file; delete it or choose another output"
                             % self.path)

    def _write(self, frame):
        Image.fromarray(frame).save(os.path.join(self._tmp, "%05d.png" % self.num_frames), format="PNG")

    def _finish(self):
        """Move the finished folder onto `path`; an existing `path` is moved aside first, deleted last."""
        self._refuse_file()
        if not os.path.lexists(self.path):
            return os.rename(self._tmp, self.path)
        aside = tempfile.mkdtemp(prefix="." + os.path.basename(self.path) + ".", suffix=".old",
                                 dir=os.path.dirname(self._tmp))
        os.rename(self.path, os.path.join(aside, "old"))  # inside a fresh folder: no name can collide
        try:
            os.rename(self._tmp, self.path)
        except BaseException:
            os.rename(os.path.join(aside, "old"), self.path)
            os.rmdir(aside)
            raise
        try:
            shutil.rmtree(aside)
        except OSError as e:  # the new frames are in place, so the write succeeded; only the old copy is left
            logger.warning("wrote '%s' but could not delete its previous content in '%s' (%s); delete it by hand",
                           self.path, aside, e)


def write_video(path, frames, fps=25, crf=DEFAULT_CRF):
    """Write an iterable of frames to `path` (.mp4, .gif or a folder) atomically; returns the number of frames."""
    with VideoWriter(path, fps, crf) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.num_frames


def save_image(path, image):
    """Save an image (uint8 or float in [0, 1]; grey, RGB or RGBA) as PNG (or JPEG/BMP by extension), atomically."""
    path = os.fspath(path)
    if _ext(path) not in _PIL_FORMATS:
        raise InputError("cannot save image '%s': use one of %s" % (path, ", ".join(IMAGE_EXTENSIONS)))
    img = Image.fromarray(as_uint8_rgb(image, "image for '%s'" % path))
    with atomic_write(path) as f:
        img.save(f, format=_PIL_FORMATS[_ext(path)])
    return path


# BT.601 studio-swing RGB -> Y'CbCr (rows Y, Cb, Cr): the colours a browser assumes for a 4:2:0 stream without tags
_BT601 = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]) / 255.0


def write_y4m(path, frames, fps=25):
    """Write frames (uint8 or float in [0, 1] RGB, one even size) as an uncompressed 4:2:0 YUV4MPEG2 file
    (BT.601, studio range), atomically; returns the number of frames. Chromium plays such a file as a fake camera
    (--use-file-for-fake-video-capture)."""
    path = os.fspath(path)
    if not fps or not math.isfinite(float(fps)) or float(fps) <= 0:
        raise InputError("fps must be positive, got %r" % (fps,))
    rate = Fraction(float(fps)).limit_denominator(1001)
    count, size = 0, None
    with atomic_write(path) as f:
        for frame in frames:
            rgb = as_uint8_rgb(frame, "frame %d of '%s'" % (count, path)).astype(np.float32)
            if size is None:
                size = rgb.shape[:2]
                if size[0] % 2 or size[1] % 2:
                    raise InputError("cannot write '%s': 4:2:0 needs an even width and height, the frames are "
                                     "%dx%d; crop or resize them" % (path, size[1], size[0]))
                f.write(b"YUV4MPEG2 W%d H%d F%d:%d Ip A1:1 C420jpeg\n"
                        % (size[1], size[0], rate.numerator, rate.denominator))
            elif rgb.shape[:2] != size:
                raise InputError("frame %d of '%s' is %dx%d but the first frame is %dx%d; resize frames to one "
                                 "size" % (count, path, rgb.shape[1], rgb.shape[0], size[1], size[0]))
            ycc = rgb @ _BT601.T.astype(np.float32) + np.float32([16.0, 128.0, 128.0])
            # chroma: the mean of each 2x2 block (the centred siting that C420jpeg names)
            chroma = ycc[..., 1:].reshape(size[0] // 2, 2, size[1] // 2, 2, 2).mean(axis=(1, 3))
            f.write(b"FRAME\n")
            for plane in (ycc[..., 0], chroma[..., 0], chroma[..., 1]):
                f.write(np.clip(np.round(plane), 0, 255).astype(np.uint8).tobytes())
            count += 1
        if count == 0:
            raise InputError("no frames were written to '%s'" % path)
    return count
