"""Raw videos -> a training dataset of square clips that follow one subject (a face or a body).

The FOMM paper's datasets (Siarohin et al., NeurIPS 2019, section 4: VoxCeleb and Tai-Chi-HD) were cut from
raw videos by the authors' `video-preprocessing` scripts: detect the subject in every frame, follow it while
its box keeps overlapping the clip's first box, cut at scene changes, crop one fixed square per clip (the
extent of the clip's boxes, enlarged) and drop clips that are too short or too small. This module does the
same offline with the project's detectors (ppgan.detectors), in two streaming passes over each video so that
memory does not grow with its length:

1. scan: per frame, the subject's box (or None) and the difference to the previous frame (scene cuts);
2. write: the frames of each kept clip, cropped and resized, to ``<out>/<partition>/<stem>#<index>``.

Boxes here are (left, top, right, bottom) in source pixels, right and bottom exclusive.
"""
import csv
import io
import math
import os
import shutil
from typing import NamedTuple, Optional

import cv2
import numpy as np

from ppgan.utils import video as vio
from ppgan.utils.errors import InputError
from ppgan.utils.io import atomic_write
from ppgan.utils.logger import get_logger

from .frames_dataset import list_videos

logger = get_logger("ppgan.datasets")

KINDS = ("face", "body")
FORMATS = ("mp4", "png", "folder")
PARTITIONS = ("train", "test")
METADATA = "metadata.csv"
METADATA_FIELDS = ("video_id", "name", "partition", "start", "end", "left", "top", "right", "bottom",
                   "width", "height", "fps", "source")
# dlib's HOG boxes run from the brows to the chin, tighter than the S3FD boxes behind the authors' 0.1: 0.3 per
# side puts the face at about 60% of the crop, hair and chin inside. Keypoint boxes end at the eyes and ankles,
# so bodies get more than the authors' 0.05 on Mask R-CNN person boxes.
DEFAULT_INCREASE = {"face": 0.3, "body": 0.15}
DEFAULT_MIN_FRAMES = {"face": 64, "body": 32}  # the authors' vox and taichi values
MIN_POSE_POINTS = 4
SIGNATURE_SIZE = 32
DEFAULT_CUT_THRESHOLD = 30.0  # mean |difference| of 32x32 RGB thumbnails, 0-255: fast motion < 20, cuts > 40


class Clip(NamedTuple):
    """Frames [start, end) of one source video where one subject was followed, and the extent of its boxes."""
    start: int
    end: int
    box: tuple

    @property
    def length(self):
        return self.end - self.start


class Scan(NamedTuple):
    """What the first pass keeps of a video: one box (or None) and one difference to the previous frame per
    frame, its frame rate and frame size."""
    boxes: list
    differences: list
    fps: float
    width: int
    height: int


# --- boxes -------------------------------------------------------------------------------------------------


def xywh_to_box(box):
    """(x, y, w, h) -> (left, top, right, bottom)."""
    x, y, w, h = box
    return (x, y, x + w, y + h)


def box_area(box):
    """Area of a box; 0 for an empty one."""
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


def iou(a, b):
    """Intersection over union of two boxes (0 when both are empty)."""
    inter = box_area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    union = box_area(a) + box_area(b) - inter
    return inter / float(union) if union > 0 else 0.0


def join(a, b):
    """The smallest box holding both boxes."""
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def face_box(faces):
    """The box of the largest face of a detector's list (largest first), or None."""
    return xywh_to_box(faces[0].box) if faces else None


def pose_box(points, min_points=MIN_POSE_POINTS):
    """The bounding box of the found keypoints of an (N, 2) OpenPose array ((-1, -1) where missing), or None
    when fewer than `min_points` were found."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    found = points[(points >= 0).all(axis=1)]
    if len(found) < max(1, min_points):
        return None
    (left, top), (right, bottom) = found.min(axis=0), found.max(axis=0)
    return (float(left), float(top), float(right), float(bottom))


def enlarge(box, increase):
    """A box with each side pushed out by `increase` times its longer side."""
    left, top, right, bottom = box
    grow = increase * max(right - left, bottom - top)
    return (left - grow, top - grow, right + grow, bottom + grow)


def square_box(box, increase, frame_size):
    """One square crop (left, top, right, bottom) in integer pixels for a clip's box: centred on it, each side
    pushed out by `increase` times the box's longer side, then moved inside the frame (H, W). Where the square
    cannot fit, the enlargement is given up first (never below the box itself) and only then does the square
    reach beyond the frame (that part is padded black)."""
    left, top, right, bottom = box
    h, w = int(frame_size[0]), int(frame_size[1])
    longest = max(right - left, bottom - top, 1)
    side = int(math.ceil(longest * (1 + 2 * increase)))
    side = max(int(math.ceil(longest)), min(side, h, w))
    x, y = _place(left, right, side, w), _place(top, bottom, side, h)
    return (x, y, x + side, y + side)


def _place(low, high, side, extent):
    """Start of a `side`-long span centred on [low, high), moved inside [0, extent) when it fits."""
    start = int(round((low + high - side) / 2.0))
    if side <= extent:
        start = min(max(start, 0), extent - side)
    return start


def crop_square(frame, box, size):
    """The part of `frame` in the square `box` (parts beyond the frame black), resized to size x size."""
    left, top, right, bottom = box
    h, w = frame.shape[:2]
    inside = frame[max(top, 0):min(bottom, h), max(left, 0):min(right, w)]
    pad = ((max(0, -top), max(0, bottom - h)), (max(0, -left), max(0, right - w)), (0, 0))
    if any(p for pair in pad[:2] for p in pair):
        inside = np.pad(inside, pad)
    side = right - left
    interpolation = cv2.INTER_AREA if side >= size else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(inside), (size, size), interpolation=interpolation)


# --- scene cuts --------------------------------------------------------------------------------------------


def frame_signature(frame, size=SIGNATURE_SIZE):
    """A size x size RGB thumbnail (float32, 0-255) of a frame; thumbnails of one shot differ little."""
    return cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)


def signature_difference(a, b):
    """Mean absolute difference of two thumbnails (0-255)."""
    return float(np.abs(a - b).mean())


def find_cuts(differences, threshold=DEFAULT_CUT_THRESHOLD):
    """Indices of the frames that start a new shot: those differing from their predecessor by more than
    `threshold` (`differences[i]` compares frame i with frame i - 1; `differences[0]` is ignored)."""
    return [i for i, d in enumerate(differences) if i > 0 and d > threshold]


# --- tracking ----------------------------------------------------------------------------------------------


def track(boxes, cuts=(), iou_previous=0.3, iou_initial=0.25, max_gap=5, max_frames=1024, increase=0.0):
    """Split a video's per-frame boxes (None where the subject was not found) into clips of one subject.

    A box continues the current clip when its IoU with the clip's previous box is at least `iou_previous` (the
    same subject) and with the clip's first box at least `iou_initial` (the authors' rule: the subject has not
    wandered off, so one fixed crop still frames it), both boxes enlarged by `increase` as the crop will be (a
    drift is measured against the crop's scale, not the detector's box). A clip ends at a scene cut (a frame
    index in `cuts`), when the subject is missing for more than `max_gap` frames in a row, and after `max_frames`
    frames; frames missing inside a clip belong to it, those after its last box do not.
    """
    clips, current = [], None  # current: [start, last frame with a box, first box, last box, extent]
    cuts = set(cuts)

    def close():
        clips.append(Clip(current[0], current[1] + 1, tuple(current[4])))

    for i, box in enumerate(boxes):
        if current is not None:
            missing = i - current[1] - (0 if box is None else 1)  # frames in a row without a box, up to i
            if i in cuts or missing > max_gap:
                close()
                current = None
        if box is None:
            continue
        if current is not None and (iou(box, current[3]) < iou_previous or i + 1 - current[0] > max_frames
                                    or iou(enlarge(box, increase), enlarge(current[2], increase)) < iou_initial):
            close()
            current = None
        if current is None:
            current = [i, i, box, box, box]
        else:
            current[1], current[3], current[4] = i, box, join(current[4], box)
    if current is not None:
        close()
    return clips


def rejection(clip, min_frames, min_size):
    """Why a clip is dropped ('short': fewer than `min_frames` frames; 'small': its box's longer side is
    below `min_size` pixels), or None to keep it."""
    if clip.length < min_frames:
        return "short"
    left, top, right, bottom = clip.box
    if max(right - left, bottom - top) < min_size:
        return "small"
    return None


# --- splitting ---------------------------------------------------------------------------------------------


def split_sources(names, test_fraction=0.2, seed=0):
    """{name: 'train' | 'test'} for source videos: a seeded random ceil(test_fraction * n) of them go to test,
    always leaving at least one for train, so the clips of one source video are all in one partition."""
    names = sorted(names)
    n_test = min(len(names) - 1, int(math.ceil(test_fraction * len(names)))) if names else 0
    order = np.random.RandomState(seed).permutation(len(names))
    test = {names[i] for i in order[:max(0, n_test)]}
    return {name: "test" if name in test else "train" for name in names}


def clip_names(stems):
    """{input name: output stem}: the file stem, with '#' (the identity separator) replaced and repeated stems
    told apart, so that the clips of each source video share an identity of their own."""
    out, used = {}, set()
    for name in sorted(stems):
        stem = os.path.splitext(name)[0] if os.path.splitext(name)[1].lower() in _READABLE_EXTENSIONS else name
        stem = stem.replace("#", "_") or "video"
        unique, k = stem, 1
        while unique in used:
            k += 1
            unique = "%s_%d" % (stem, k)
        used.add(unique)
        out[name] = unique
    return out


_READABLE_EXTENSIONS = vio.VIDEO_EXTENSIONS + vio.GIF_EXTENSIONS + vio.IMAGE_EXTENSIONS


# --- the subject finders -----------------------------------------------------------------------------------


def build_subject_finder(kind, detector="dlib", method="hog", pose_estimator=None):
    """A function frame -> the subject's box or None: the largest face (`detector`, dlib's `method`), or the
    extent of a body's keypoints (`pose_estimator`: a POSE_ESTIMATORS name; default: BlazePose)."""
    from ppgan import detectors
    if kind == "face":
        face_detector = detectors.build_face_detector(detectors.face_detector_config(detector, method, False))
        return lambda frame: face_box(face_detector.detect(frame))
    if kind != "body":
        raise InputError("kind must be one of %s, got %r" % (", ".join(KINDS), kind))
    estimator = detectors.build_pose_estimator(pose_estimator or detectors.DEFAULT_POSE_ESTIMATOR)
    return lambda frame: pose_box(estimator.estimate(frame))


# --- the two passes ----------------------------------------------------------------------------------------


def _bar(total, desc, progress):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="frame", leave=False, disable=not progress)


def scan_video(path, find_box, progress=False):
    """First pass over a video: per frame the subject's box (`find_box(frame)`) and the thumbnail difference
    to the previous frame; frames are not kept."""
    boxes, differences, previous, size = [], [], None, None
    with vio.open_video(path) as video, _bar(video.frame_count_hint, os.path.basename(path), progress) as bar:
        fps = video.fps or 25.0
        for frame in video:
            if size is None:
                size = frame.shape[:2]
            elif frame.shape[:2] != size:
                raise InputError("frame %d of video '%s' is %dx%d but the first is %dx%d; re-encode it at one size"
                                 % (len(boxes), path, frame.shape[1], frame.shape[0], size[1], size[0]))
            signature = frame_signature(frame)
            differences.append(0.0 if previous is None else signature_difference(signature, previous))
            previous = signature
            boxes.append(find_box(frame))
            bar.update(1)
    if size is None:
        raise InputError("video '%s' has no frames" % path)
    return Scan(boxes, differences, float(fps), int(size[1]), int(size[0]))


def _clip_path(folder, stem, fmt):
    return os.path.join(folder, stem + {"mp4": ".mp4", "png": ".png", "folder": ""}[fmt])


def write_clips(path, jobs, size, fmt, fps, progress=False):
    """Second pass: write each job (clip, crop box, output path) of the video `path`, its frames cropped and
    resized to size x size, each clip to a temporary name renamed when complete. Jobs must not overlap in time.
    A 'png' clip (frames side by side in one image) is held in memory until it is saved."""
    jobs = sorted(jobs, key=lambda job: job[0].start)
    if not jobs:
        return []
    k, writer, strip, written, i = 0, None, [], [], -1
    with vio.open_video(path) as video, _bar(jobs[-1][0].end, "writing " + os.path.basename(path), progress) as bar:
        try:
            for i, frame in enumerate(video):
                clip, box, out = jobs[k]
                if i >= clip.start:
                    crop = crop_square(frame, box, size)
                    if fmt == "png":
                        strip.append(crop)
                    else:
                        writer = writer or vio.VideoWriter(out, fps)
                        writer.write(crop)
                    if i + 1 == clip.end:
                        if fmt == "png":
                            vio.save_image(out, np.concatenate(strip, axis=1))
                        else:
                            writer.close()
                        written.append(out)
                        k, writer, strip = k + 1, None, []
                bar.update(1)
                if k == len(jobs):
                    break
            if k < len(jobs):
                raise InputError("video '%s' ended at frame %d, before its clip of frames %d-%d was complete (did it "
                                 "change while it was read?)" % (path, i + 1, jobs[k][0].start, jobs[k][0].end - 1))
        except BaseException:
            if writer is not None:
                writer.abort()
            for done in written:  # a video's clips are listed in the metadata all together or not at all
                if os.path.isdir(done):
                    shutil.rmtree(done)
                else:
                    os.unlink(done)
            raise
    return written


# --- the whole dataset -------------------------------------------------------------------------------------


def list_inputs(path):
    """The raw videos to prepare: a single video, or the videos of a folder (sorted; other files ignored)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError("input '%s' does not exist; give a folder of videos or one video file" % path)
    if os.path.isfile(path):
        if vio.source_kind(path) is None:
            raise InputError("input '%s' is not a video (%s, .gif, or a folder of frames)"
                             % (path, ", ".join(vio.VIDEO_EXTENSIONS)))
        return [path]
    folder_frames = [n for n in os.listdir(path) if os.path.splitext(n)[1].lower() in vio.IMAGE_EXTENSIONS]
    names = [n for n in list_videos(path) if os.path.isdir(os.path.join(path, n))
             or os.path.splitext(n)[1].lower() not in vio.IMAGE_EXTENSIONS]
    if not names and folder_frames:
        return [path]  # a folder of frames is one video
    if not names:
        raise InputError("input folder '%s' has no videos (%s, .gif, or folders of frames)"
                         % (path, ", ".join(vio.VIDEO_EXTENSIONS)))
    return [os.path.join(path, n) for n in names]


def _prepare_output(out, force):
    out = os.path.abspath(os.fspath(out))
    if os.path.exists(out) and not os.path.isdir(out):
        raise InputError("'%s' exists and is not a folder; choose another output folder" % out)
    if os.path.isdir(out) and os.listdir(out):
        if not force:
            raise InputError("output folder '%s' is not empty; pass --force to replace its train/, test/ and %s, "
                             "or choose another folder" % (out, METADATA))
        for name in PARTITIONS + (METADATA,):
            target = os.path.join(out, name)
            if os.path.isdir(target):
                shutil.rmtree(target)
            elif os.path.exists(target):
                os.unlink(target)
        logger.info("--force: replaced train/, test/ and %s of %s", METADATA, out)
    for part in PARTITIONS:
        os.makedirs(os.path.join(out, part), exist_ok=True)
    return out


def write_metadata(path, rows):
    """Write the clips' metadata CSV (METADATA_FIELDS) atomically."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=METADATA_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_write(path, "w") as f:
        f.write(text.getvalue())


def read_metadata(path):
    """The rows of a metadata CSV as dicts (numbers as int or float)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key in ("start", "end", "left", "top", "right", "bottom", "width", "height"):
            row[key] = int(row[key])
        row["fps"] = float(row["fps"])
    return rows


def _check(name, value, low, integer=True, high=None):
    ok = (isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float))) \
        and not isinstance(value, bool) and value >= low and (high is None or value <= high)
    if not ok:
        raise InputError("%s must be %s >= %s%s, got %r" % (name, "an integer" if integer else "a number", low,
                                                          "" if high is None else " and <= %s" % high, value))


class Options(NamedTuple):
    """The settings of a preparation run (see tools/prepare_dataset.py --help)."""
    kind: str = "face"
    size: int = 256
    fmt: str = "mp4"
    increase: Optional[float] = None
    min_frames: Optional[int] = None
    min_size: int = 64
    max_frames: int = 1024
    iou_previous: float = 0.3
    iou_initial: float = 0.25
    max_gap: int = 5
    cut_threshold: float = DEFAULT_CUT_THRESHOLD
    test_fraction: float = 0.2
    seed: int = 0

    def resolved(self):
        """The options with the kind's defaults filled in, checked."""
        if self.kind not in KINDS:
            raise InputError("kind must be one of %s, got %r" % (", ".join(KINDS), self.kind))
        if self.fmt not in FORMATS:
            raise InputError("format must be one of %s, got %r" % (", ".join(FORMATS), self.fmt))
        opts = self._replace(increase=DEFAULT_INCREASE[self.kind] if self.increase is None else self.increase,
                             min_frames=DEFAULT_MIN_FRAMES[self.kind] if self.min_frames is None else self.min_frames)
        for name, low in (("size", 8), ("min_frames", 1), ("min_size", 0), ("max_frames", 1), ("max_gap", 0),
                          ("seed", 0)):
            _check(name.replace("_", "-"), getattr(opts, name), low)
        _check("increase", opts.increase, 0, integer=False)
        _check("cut-threshold", opts.cut_threshold, 0, integer=False)
        for name in ("iou_previous", "iou_initial", "test_fraction"):
            _check(name.replace("_", "-"), getattr(opts, name), 0, integer=False, high=1)
        return opts


def plan_clips(scan, options):
    """The kept clips of a scanned video and the counts of dropped ones: (clips, {'short': n, 'small': n})."""
    cuts = find_cuts(scan.differences, options.cut_threshold)
    clips = track(scan.boxes, cuts, options.iou_previous, options.iou_initial, options.max_gap, options.max_frames,
                  options.increase)
    kept, dropped = [], {"short": 0, "small": 0}
    for clip in clips:
        reason = rejection(clip, options.min_frames, options.min_size)
        if reason is None:
            kept.append(clip)
        else:
            dropped[reason] += 1
    return kept, dropped, cuts


def prepare_dataset(inputs, out, options=Options(), find_box=None, force=False, progress=False, **finder):
    """Prepare the raw video(s) `inputs` (a folder or one file) into the dataset folder `out` (train/, test/,
    metadata.csv); `find_box` (frame -> box or None) defaults to build_subject_finder(options.kind, **finder).
    Returns a summary dict. An unreadable video is logged and skipped; no clip at all is an InputError."""
    options = options.resolved()
    paths = list_inputs(inputs)
    if find_box is None:
        find_box = build_subject_finder(options.kind, **finder)
    out = _prepare_output(out, force)
    names = {p: os.path.basename(os.path.normpath(p)) for p in paths}
    stems = clip_names(names.values())
    partition = split_sources(names.values(), options.test_fraction, options.seed)
    if len(paths) == 1:
        logger.warning("one source video: all its clips go to train/ (clips are split by source video, so test/ "
                       "needs a second video); evaluation needs test clips")
    summary = {"videos": len(paths), "read": 0, "skipped": [], "frames_read": 0, "frames_with_subject": 0,
               "clips": {p: 0 for p in PARTITIONS}, "frames": {p: 0 for p in PARTITIONS},
               "dropped": {"short": 0, "small": 0}, "cuts": 0, "out": out}
    rows = []
    from tqdm import tqdm
    for path in tqdm(paths, desc="videos", unit="video", disable=not progress):
        name = names[path]
        try:
            scan = scan_video(path, find_box, progress)
            clips, dropped, cuts = plan_clips(scan, options)
            part = partition[name]
            folder = os.path.join(out, part)
            jobs = []
            for index, clip in enumerate(clips):
                box = square_box(clip.box, options.increase, (scan.height, scan.width))
                jobs.append((clip, box, _clip_path(folder, "%s#%03d" % (stems[name], index), options.fmt)))
            write_clips(path, jobs, options.size, options.fmt, scan.fps, progress)
        except InputError as e:
            logger.warning("skipping video '%s': %s", path, e)
            summary["skipped"].append(path)
            continue
        found = sum(b is not None for b in scan.boxes)
        summary["read"] += 1
        summary["frames_read"] += len(scan.boxes)
        summary["frames_with_subject"] += found
        summary["cuts"] += len(cuts)
        for reason in dropped:
            summary["dropped"][reason] += dropped[reason]
        for clip, box, clip_path in jobs:
            summary["clips"][part] += 1
            summary["frames"][part] += clip.length
            rows.append({"video_id": stems[name], "name": os.path.basename(clip_path), "partition": part,
                         "start": clip.start, "end": clip.end, "left": box[0], "top": box[1], "right": box[2],
                         "bottom": box[3], "width": scan.width, "height": scan.height, "fps": round(scan.fps, 3),
                         "source": name})
        logger.info("%s: %d frames, %s in %d, %d scene cut(s) -> %d clip(s) to %s/ (%d shorter than --min-frames "
                    "%d, %d smaller than --min-size %d)", name, len(scan.boxes), options.kind, found, len(cuts),
                    len(jobs), part, dropped["short"], options.min_frames, dropped["small"], options.min_size)
        write_metadata(os.path.join(out, METADATA), rows)
    write_metadata(os.path.join(out, METADATA), rows)
    if not rows:
        raise InputError("no clip was written to '%s': of %d video(s), %d unreadable; %d track(s) shorter than "
                         "--min-frames %d, %d smaller than --min-size %d; lower those limits or give longer videos "
                         "with larger %ss" % (out, len(paths), len(summary["skipped"]), summary["dropped"]["short"],
                                              options.min_frames, summary["dropped"]["small"], options.min_size,
                                              options.kind))
    return summary


def train_command(out, size, kind="face"):
    """The tools/main.py command that trains on a prepared dataset of size x size clips."""
    if size == 64:
        return "python tools/main.py -c configs/firstorder_synthetic_64.yaml -o dataset.root_dir=%s" % out
    config = "configs/firstorder_%s_256.yaml" % ("vox" if kind == "face" else "taichi")
    extra = " dataset.pairs_list=null" if kind == "face" else ""
    shape = "" if size == 256 else " dataset.frame_shape=[%d,%d,3]" % (size, size)
    return "python tools/main.py -c %s -o dataset.root_dir=%s%s%s" % (config, out, extra, shape)
