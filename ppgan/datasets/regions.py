"""Region maps of face videos drawn from their 68 landmarks: where the eyes and the mouth are, for the region
loss (`train.loss_weights.region`, read through FramesDataset's `region_dir`).

A blink or a mouth opening alters a few percent of a face's pixels; the region loss charges the
reconstruction there as much as over the whole frame. The synthetic renderer knows its regions
(`ppgan.datasets.synthetic.make_region_video`); for real faces a landmark detector finds them. Each eye's
region is an ellipse around its six points (iBUG 36-41 and 42-47) along the line through its corners, its
semi-axes EYE_AXES times the corner-to-corner width, so an eye wide open or shut is inside; the mouth's is
one around its twelve outer points (48-59), semi-axes MOUTH_AXES times its width, or more along its height
when it opens wider. A frame without a face gets an empty map (no region loss on it).

The same pass can write the face's landmarks for the landmark loss (`train.loss_weights.landmark`, read
through FramesDataset's `landmark_dir`): the renderer's eleven (`ppgan.datasets.synthetic.LANDMARKS`) taken
from the 68 (FROM_68: a brow's middle point, an upper lid's two middle points, the nose tip, the mouth
corners, the lower lip's middle, the chin), so a keypoint mapping made for the synthetic faces serves real
ones. The 68 have no pupils: those two are NaN, as is every landmark of a frame without a face.
"""
import math
import os
import shutil

import cv2
import numpy as np

from ppgan.utils import video as vio
from ppgan.utils.errors import InputError
from ppgan.utils.io import temp_dir_next_to

EYES = ((36, 42), (42, 48))
MOUTH = (48, 60)
EYE_AXES = (0.8, 0.55)      # along and across the eye, of its corner-to-corner width
MOUTH_AXES = (0.7, 0.4)     # along and across the mouth, of its corner-to-corner width
MOUTH_OPEN_MARGIN = 0.7     # at least this times the outer lips' height across the mouth
PARTS = ("train", "test")
# the iBUG 300-W points averaged for each of ppgan.datasets.synthetic.LANDMARKS (image left and right: the
# subject's right eye, 36-41, is on the image's left); None: not among the 68
FROM_68 = ((19,), (37, 38), (24,), (43, 44), (30,), (48,), (54,), (57,), (8,), None, None)


def _ellipse(canvas, points, corners, axes, min_across=0.0):
    """Fill the ellipse centred on `points`, aligned with the line through `corners` (two indices into
    `points`), semi-axes `axes` times the corners' distance (the across one at least `min_across` pixels)."""
    centre = points.mean(axis=0)
    direction = points[corners[1]] - points[corners[0]]
    width = float(np.hypot(*direction))
    if width < 1e-6:
        return
    angle = math.degrees(math.atan2(direction[1], direction[0]))
    along, across = axes[0] * width, max(axes[1] * width, min_across)
    cv2.ellipse(canvas, (centre * 16).round().astype(int).tolist(), (round(along * 16), round(across * 16)), angle,
                0, 360, 255, -1, cv2.LINE_8, 4)


def landmark_regions(landmarks, shape):
    """uint8 (H, W) map of a frame of `shape` (H, W, ...): 255 inside the eye and mouth ellipses of its 68
    landmarks ((68, 2) pixel (x, y), iBUG order; module docstring), 0 elsewhere."""
    h, w = shape[:2]
    canvas = np.zeros((h, w), np.uint8)
    points = np.asarray(landmarks, np.float64)
    if points.shape != (68, 2) or not np.isfinite(points).all():
        raise InputError("region maps need 68 landmarks as a (68, 2) array of finite (x, y), got shape %s"
                         % (points.shape,))
    for start, stop in EYES:
        _ellipse(canvas, points[start:stop], (0, 3), EYE_AXES)
    mouth = points[MOUTH[0]:MOUTH[1]]
    height = float(np.ptp(mouth @ _normal(mouth[6] - mouth[0])))
    _ellipse(canvas, mouth, (0, 6), MOUTH_AXES, MOUTH_OPEN_MARGIN * height)
    return canvas


def _normal(direction):
    """The unit vector at a right angle to `direction`."""
    n = np.array([-direction[1], direction[0]], np.float64)
    return n / max(float(np.hypot(*n)), 1e-6)


def landmarks_from_68(landmarks, shape):
    """(len(FROM_68), 2) float64 landmarks in the keypoints' coordinates (-1 and 1: the centres of the first and
    last pixel) from the 68 pixel (x, y) of a frame of `shape` (H, W, ...); NaN for those the 68 lack."""
    h, w = shape[:2]
    points = np.asarray(landmarks, np.float64)
    out = np.full((len(FROM_68), 2), np.nan)
    for i, indices in enumerate(FROM_68):
        if indices is not None:
            out[i] = points[list(indices)].mean(axis=0)
    return 2 * out / np.array([w - 1, h - 1], np.float64) - 1


def frame_regions(frame, detector):
    """(region map, uint8 (H, W); landmarks, (len(FROM_68), 2)) of one frame from the largest face `detector`
    finds (`landmark_regions`, `landmarks_from_68`): an empty map and NaN landmarks when it finds none."""
    faces = detector.detect(frame)
    if not faces or faces[0].landmarks is None:
        return np.zeros(frame.shape[:2], np.uint8), np.full((len(FROM_68), 2), np.nan)
    return landmark_regions(faces[0].landmarks, frame.shape), landmarks_from_68(faces[0].landmarks, frame.shape)


def _frame_shape(path):
    """The frame shape a video is read at: its own, and for an image strip square frames of its height."""
    if vio.source_kind(path) != "strip":
        return None
    from PIL import Image
    with Image.open(path) as img:
        return (img.height, img.height, 3)


def _parts(root_dir):
    """[(subfolder or '', folder)] of the videos of a dataset folder: its train/ and test/, or itself."""
    present = [(part, os.path.join(root_dir, part)) for part in PARTS if os.path.isdir(os.path.join(root_dir, part))]
    return present or [("", root_dir)]


def default_out(root_dir):
    """Where the regions of a dataset with train/ and test/ go by default: `root_dir/regions` (a flat dataset
    folder would read that folder as a video: None)."""
    has_parts = any(os.path.isdir(os.path.join(root_dir, part)) for part in PARTS)
    return os.path.join(root_dir, "regions") if has_parts else None


def write_region_dataset(root_dir, out_dir, detector, force=False, progress=False, landmark_dir=None):
    """Write, for every video of the dataset folder `root_dir`, a video of the same name, format and length into
    `out_dir` (same layout) whose frames are their region maps (white eyes and mouth, `frame_regions`); the
    folder to set as `dataset.region_dir`. With `landmark_dir`, also `<video name>.npz` there (same layout) with
    the frames' landmarks (for `dataset.landmark_dir`). Everything goes to temporary folders moved into place at
    the end. Returns {'videos', 'frames', 'frames_without_face'}."""
    from .synthetic import LANDMARK_FLIP, write_landmarks
    from .frames_dataset import list_videos

    if not getattr(detector, "has_landmarks", False):
        raise InputError("region maps need a face detector with 68 landmarks (e.g. dlib); %s finds boxes only"
                         % type(detector).__name__)
    root_dir, out_dir = os.path.abspath(os.fspath(root_dir)), os.path.abspath(os.fspath(out_dir))
    outputs = [out_dir] + ([os.path.abspath(os.fspath(landmark_dir))] if landmark_dir else [])
    if not os.path.isdir(root_dir):
        raise InputError("dataset folder '%s' does not exist" % root_dir)
    jobs = [(part, name, os.path.join(folder, name)) for part, folder in _parts(root_dir)
            for name in list_videos(folder) if os.path.join(folder, name) not in outputs]
    if not jobs:
        raise InputError("dataset folder '%s' contains no videos" % root_dir)
    for out in outputs:
        if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)) and not force:
            raise InputError("output folder '%s' exists and is not empty; pass --force to replace it" % out)
    for out in outputs:
        os.makedirs(os.path.dirname(out), exist_ok=True)
    temps = [temp_dir_next_to(out) for out in outputs]
    tmp = temps[0]
    counts = {"videos": 0, "frames": 0, "frames_without_face": 0}
    from tqdm import tqdm
    try:
        for part, name, path in tqdm(jobs, desc="region maps", unit="video", disable=not progress):
            maps, points = [], []
            for frame in vio.iter_frames(path, _frame_shape(path)):
                region, landmarks = frame_regions(frame, detector)
                counts["frames_without_face"] += int(not region.any())
                maps.append(np.repeat(region[:, :, None], 3, axis=2))
                points.append(landmarks)
            for folder in temps:
                os.makedirs(os.path.join(folder, part), exist_ok=True)
            if landmark_dir:
                write_landmarks(os.path.join(temps[1], part, name + ".npz"), np.stack(points), LANDMARK_FLIP)
            target = os.path.join(tmp, part, name)
            if vio.source_kind(path) == "strip":
                vio.save_image(target, np.concatenate(maps, axis=1))
            else:
                vio.write_video(target + ("/" if vio.source_kind(path) == "folder" else ""), maps,
                                vio.video_fps(path))
            counts["videos"] += 1
            counts["frames"] += len(maps)
        for folder, out in zip(temps, outputs):
            if os.path.isdir(out):
                shutil.rmtree(out)
            elif os.path.exists(out):
                os.unlink(out)
            os.replace(folder, out)
    except BaseException:
        for folder in temps:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return counts
