"""A source image animated by a driving video file, streamed from reader to writer.

The driving video is opened once (`ppgan.utils.video.open_video`) and that reader serves every pass: the first
frame, the face search, the best-frame search, the reference frame, the frames themselves and the audio.

Two ways to frame the object: `none` animates the whole source (padded to a square, never
stretched) and writes frames of the source's aspect; `face` animates a square around each face of
the source, driven by the square around the face of the driving video, and pastes the animated
faces back into the full-resolution source with a soft edge.
"""
import itertools
import os

import numpy as np

from tqdm import tqdm

from ppgan.apps import face_crop
from ppgan.utils.errors import InputError
from ppgan.utils.image import to_rgb_float
from ppgan.utils.logger import get_logger
from ppgan.utils.video import VideoReader, VideoWriter, copy_audio, open_video, output_kind, read_image

logger = get_logger("ppgan.apps")


def output_path(folder, filename, flag="--output"):
    """The result's path; checks the format and that the folder can be written before any work is done (errors
    name `flag`, the option that gave the folder)."""
    path = os.path.join(folder, filename)
    output_kind(path)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise InputError("%s '%s' is a file; give a folder" % (flag, folder))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise InputError("cannot create the output folder '%s' (%s); choose another %s" % (folder, e, flag)) from e
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError("the output folder '%s' is not writable; choose another %s" % (folder, flag))
    return path


class Animation:
    """What to animate with which predictor: the source, its crops and how frames are framed.

    crop: 'none', 'face' or 'auto' (face when the source has one, else none).
    ratio: with face cropping, the pasted face's radius as a fraction of the crop's side (0.5: the ellipse
      inscribed in the crop; face_crop.soft_mask).
    multi_person: animate every face of the source instead of the largest.
    face_detector: 'auto', 'dlib' or 'haar' (ppgan.apps.face_crop.face_detector), or a detector object.
    enhancer: a face enhancer (ppgan.detectors, e.g. GPEN) applied to the animated squares before they are
      composed, or None.
    driving: the path of the driving video, or that video opened by `open_video` (the animation then owns it);
    it stays open until `close()`.
    """

    def __init__(self, predictor, source_path, driving, crop="auto", ratio=face_crop.DEFAULT_RATIO, multi_person=False,
                 progress=True, face_detector="auto", enhancer=None):
        if crop not in ("none", "face", "auto"):
            raise InputError("crop must be none, face or auto, got %r" % (crop,))
        self.predictor = predictor
        self.size = tuple(predictor.image_size)
        if self.size[0] != self.size[1]:
            raise InputError("the model's image size must be square, got %dx%d" % (self.size[1], self.size[0]))
        self.source = to_rgb_float(read_image(source_path), "source image '%s'" % source_path)
        # without face cropping, frames come out at the model's resolution with the source's aspect:
        # enlarging them to the source's own size would add pixels and encoding work, not detail
        scale = self.size[0] / max(self.source.shape[:2])
        self.output_shape = tuple(max(1, int(round(n * scale))) for n in self.source.shape[:2])
        self.ratio = face_crop.check_ratio(ratio)
        self.progress = progress
        self.face_detector = face_detector
        self.enhancer = enhancer
        self.source_boxes, self.driving_box = [], None
        self._references = {}  # (best_frame, find_best_frame) -> reference frame: the search runs once
        # a missing or unreadable video fails here, before any other work
        self.video = driving if isinstance(driving, VideoReader) else open_video(driving)
        self.driving_path = self.video.path
        try:
            self._first_driving_frame()
            if crop in ("face", "auto"):
                self._find_faces(crop, multi_person)
        except BaseException:
            self.close()
            raise

    def close(self):
        """Release the driving video."""
        self.video.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _find_faces(self, crop, multi_person):
        faces = face_crop.detect_faces(self.source, self.face_detector)
        if not faces:
            if crop == "face":
                raise InputError("no face found in the source image; use --crop none to animate the whole image")
            logger.info("no face found in the source image: animating the whole image (--crop none)")
            return
        box = face_crop.driving_face_box(self._driving_frames(), detector=self.face_detector)
        if box is None:
            if crop == "face":
                raise InputError("no face found in the first frames of the driving video; use --crop none")
            logger.info("no face found in the driving video: animating the whole image (--crop none)")
            return
        self.driving_box = box
        self.source_boxes = [face_crop.square_box(f, self.source.shape) for f in (faces if multi_person else faces[:1])]
        logger.info("animating %d face(s) of the source", len(self.source_boxes))

    def _first_driving_frame(self):
        for frame in self._driving_frames():
            return frame
        raise InputError("the driving video '%s' has no frames; give a video with at least one frame"
                         % self.driving_path)

    def _driving_frames(self):
        return (to_rgb_float(f, "driving frame %d" % i) for i, f in enumerate(self.video))

    def _driving_inputs(self):
        """Driving frames as the model sees them (cropped around the face, or padded to a square)."""
        for frame in self._driving_frames():
            yield self._frame_input(frame)

    def _frame_input(self, frame):
        if self.driving_box is not None:
            return face_crop.crop_square(frame, self.driving_box, self.size[0])
        return face_crop.fit_square(frame, self.size[0])

    def _source_inputs(self):
        if self.source_boxes:
            return [face_crop.crop_square(self.source, box, self.size[0]) for box in self.source_boxes]
        return [face_crop.fit_square(self.source, self.size[0])]

    def _compose(self, animated):
        """One output frame from the animated square(s)."""
        if not self.source_boxes:
            return face_crop.unfit_square(animated[0], self.output_shape)
        frame = self.source
        for box, crop in zip(self.source_boxes, animated):
            frame = face_crop.paste_back(frame, crop, box, self.ratio)
        return frame

    def reference_frame(self, best_frame=None, find_best_frame=False):
        """The driving frame (model input) relative motion starts from, or None for the first frame."""
        key = (best_frame, bool(find_best_frame))
        if key not in self._references:
            self._references[key] = self._find_reference(best_frame, find_best_frame)
        return self._references[key]

    def keypoints(self, best_frame=None, find_best_frame=False):
        """((source input, its keypoints), (reference driving frame input, its keypoints)): the two images
        relative motion compares, as the model sees them (the first face's square with face cropping), and
        the keypoints the predictor detects on each ((N, 2), `detect_keypoints`)."""
        source = self._source_inputs()[0]
        reference = self.reference_frame(best_frame, find_best_frame)
        if reference is None:
            reference = self._frame_input(self._first_driving_frame())
        detect = self.predictor.detect_keypoints
        return (source, detect(source)), (reference, detect(reference))

    def _find_reference(self, best_frame, find_best_frame):
        if find_best_frame:
            index = self.predictor.find_best_frame(self._source_inputs()[0], self._driving_inputs())
            logger.info("best matching driving frame: %d", index)
        elif best_frame is not None:
            index = best_frame
        else:
            return None
        try:
            frame = self.video.read([index])[0]
        except InputError as e:
            raise InputError("--best_frame %d: %s" % (index, e)) from e
        return self._frame_input(to_rgb_float(frame, "driving frame %d" % index))

    def frames(self, best_frame=None, find_best_frame=False):
        """Yield the animated output frames (float32 HxWx3 in [0, 1]) in driving order."""
        yield from self._animated(self.reference_frame(best_frame, find_best_frame))

    def _animated(self, initial):
        sources = self._source_inputs()
        streams = itertools.tee(self._driving_inputs(), len(sources))
        animations = [self.predictor.iter_animate(src, stream, initial_frame=initial)
                      for src, stream in zip(sources, streams)]
        for animated in zip(*animations):
            if self.enhancer is not None:
                animated = self.enhancer.enhance(np.stack(animated))
            yield self._compose(animated)

    def write(self, path, best_frame=None, find_best_frame=False, audio=False):
        """Animate into `path` (.mp4, .gif or a folder of PNGs); returns the number of frames written."""
        fps = 25.0 if self.video.fps is None else self.video.fps
        target = path
        if audio:
            folder, name = os.path.split(os.path.abspath(path))
            target = os.path.join(folder, ".%s.noaudio.mp4" % name)
        # the one-off work (a first export of the model, the best-frame search) comes before the progress bar,
        # which then times the frames alone
        self.predictor.prepare_backend(self.size)
        initial = self.reference_frame(best_frame, find_best_frame)
        try:
            with VideoWriter(target, fps) as writer:
                for frame in tqdm(self._animated(initial), total=self.video.frame_count_hint, unit="frame",
                                  desc="animating", disable=not self.progress):
                    writer.write(frame)
            if audio:
                if not copy_audio(target, self.video, path):
                    logger.warning("the driving video has no audio track: the result has none")
                    os.replace(target, path)
        finally:
            if audio and os.path.exists(target):
                os.unlink(target)
        return writer.num_frames
