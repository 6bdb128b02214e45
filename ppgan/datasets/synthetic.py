"""Procedural cartoon-face videos, so training can be shown without downloading a dataset.

An identity fixes the look (face shape and size, skin, eye and hair colour, ears, background);
a video moves it smoothly (translation, in-plane rotation, scale) while the eyes blink, the pupils
wander and the mouth opens and closes: the kind of motion FOMM's keypoints and local affine
transforms are meant to capture. Everything is drawn at 4x the target size with OpenCV and
reduced with area filtering, which anti-aliases the edges. Output depends only on the seed.
"""
import math
import os
import shutil
from types import SimpleNamespace

import cv2
import numpy as np

from ppgan.utils.errors import InputError
from ppgan.utils.io import temp_dir_next_to
from ppgan.utils.video import save_image, write_video

FORMATS = ("png", "mp4", "gif", "folder")
SUPERSAMPLE = 4

_SKIN = [(255, 224, 196), (241, 194, 150), (224, 172, 125), (198, 134, 86), (141, 85, 54), (255, 214, 170),
         (180, 220, 140), (170, 200, 255)]
_EYES = [(70, 120, 200), (60, 150, 90), (110, 70, 40), (40, 40, 40), (140, 110, 60), (120, 90, 200)]
_HAIR = [(30, 20, 15), (90, 55, 25), (200, 160, 80), (160, 50, 20), (230, 230, 230), (60, 60, 160),
         (200, 60, 140)]
_PATTERNS = ("solid", "stripes", "checker", "gradient", "dots")
CLOSED_EYE = 0.15   # eyes_open below this is drawn as a shut lid


def _colour(rng, palette, jitter=18):
    base = np.array(palette[rng.randint(len(palette))], dtype=np.float64)
    return tuple(float(v) for v in np.clip(base + rng.uniform(-jitter, jitter, 3), 0, 255))


def random_identity(rng):
    """Appearance parameters of one cartoon person (sizes are fractions of the frame side)."""
    background = tuple(float(v) for v in rng.uniform(30, 225, 3))
    return {
        "face_height": rng.uniform(0.26, 0.34),    # semi-axis
        "face_aspect": rng.uniform(0.72, 1.0),     # width / height
        "skin": _colour(rng, _SKIN),
        "eye_colour": _colour(rng, _EYES, 25),
        "eye_spacing": rng.uniform(0.32, 0.45),    # of the face width
        "eye_size": rng.uniform(0.16, 0.24),       # of the face width
        "eye_height": rng.uniform(0.12, 0.25),     # above the centre, of the face height
        "mouth_width": rng.uniform(0.3, 0.5),      # of the face width
        "mouth_y": rng.uniform(0.42, 0.55),        # below the centre, of the face height
        "ears": bool(rng.rand() < 0.6),
        "ear_size": rng.uniform(0.18, 0.3),
        "hair": int(rng.randint(3)),               # 0: none, 1: cap, 2: cap with a tuft
        "hair_colour": _colour(rng, _HAIR),
        "background": background,
        "background2": tuple(float(v) for v in np.clip(np.array(background) + rng.uniform(-45, 45, 3), 0, 255)),
        "pattern": _PATTERNS[rng.randint(len(_PATTERNS))],
        "pattern_scale": rng.uniform(0.2, 0.5),
        "pattern_angle": rng.uniform(0, math.pi),
    }


def _smooth(rng, t, amplitude, cycles=(0.3, 1.5), terms=2):
    """A random sum of `terms` slow sinusoids over t in [0, 1), peak roughly `amplitude`."""
    out = np.zeros_like(t)
    for _ in range(terms):
        out += rng.uniform(0.3, 1.0) * np.sin(2 * math.pi * rng.uniform(*cycles) * t + rng.uniform(0, 2 * math.pi))
    return amplitude * out / terms


def random_motion(rng, num_frames):
    """Per-frame pose and expression arrays (length `num_frames`) for one video."""
    t = np.arange(num_frames) / max(num_frames, 1)
    blink = np.ones(num_frames)
    for centre in rng.uniform(0, num_frames, size=rng.randint(1, 3)):
        width = rng.uniform(0.8, 1.6)
        blink = np.minimum(blink, 1 - np.exp(-((np.arange(num_frames) - centre) / width) ** 2))
    mouth = np.clip(0.5 + 0.8 * _smooth(rng, t, 1.0, cycles=(1.0, 3.0)) + rng.uniform(-0.3, 0.3), 0, 1)
    return {
        "dx": _smooth(rng, t, 0.22), "dy": _smooth(rng, t, 0.15),
        "angle": _smooth(rng, t, 25.0), "scale": 1 + _smooth(rng, t, 0.18),
        "eyes_open": np.clip(blink, 0.04, 1), "mouth_open": mouth,
        "pupil_x": _smooth(rng, t, 0.9, cycles=(0.5, 2.0)), "pupil_y": _smooth(rng, t, 0.6, cycles=(0.5, 2.0)),
    }


def render_background(identity, size):
    """The static background (pattern and colours of the identity) at `size` x `size`, float RGB 0..255."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    a = identity["pattern_angle"]
    u = xx * math.cos(a) + yy * math.sin(a)
    v = -xx * math.sin(a) + yy * math.cos(a)
    period = identity["pattern_scale"]
    pattern = identity["pattern"]
    if pattern == "stripes":
        mix = (np.floor(u / period) % 2).astype(np.float64)
    elif pattern == "checker":
        mix = ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float64)
    elif pattern == "gradient":
        mix = np.clip(u / 1.4 + 0.3, 0, 1)
    elif pattern == "dots":
        fu, fv = (u / period) % 1 - 0.5, (v / period) % 1 - 0.5
        mix = (fu ** 2 + fv ** 2 < 0.09).astype(np.float64)
    else:
        mix = np.zeros_like(u)
    c1, c2 = np.array(identity["background"]), np.array(identity["background2"])
    return (c1 * (1 - mix[:, :, None]) + c2 * mix[:, :, None]).astype(np.float32)


class _Pose:
    """Face-local coordinates (units of the big canvas, y down) -> canvas points, as fillPoly wants them."""

    SHIFT = 4  # fractional bits: sub-pixel polygon vertices

    def __init__(self, centre, angle_deg, scale):
        a = math.radians(angle_deg)
        self.rot = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        self.centre = np.asarray(centre, dtype=np.float64)
        self.scale = scale

    def points(self, local):
        world = np.asarray(local, dtype=np.float64) @ self.rot.T + self.centre
        return np.round(world * (1 << self.SHIFT)).astype(np.int32)

    def ellipse(self, cx, cy, rx, ry, t0=0.0, t1=2 * math.pi, n=48):
        t = np.linspace(t0, t1, n)
        return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)

    def fill(self, canvas, local, colour):
        cv2.fillPoly(canvas, [self.points(local)], colour, lineType=cv2.LINE_8, shift=self.SHIFT)

    def line(self, canvas, local, colour, width):
        cv2.polylines(canvas, [self.points(local)], False, colour, max(1, round(width * self.scale)),
                      lineType=cv2.LINE_8, shift=self.SHIFT)


def _face_layout(identity, motion, index, big):
    """What drawing a frame and placing its landmarks share: the pose of frame `index` and the face-local sizes
    (units of the `big` canvas): face semi-axes a, b; eye offsets ex, ey and size ew, eh; mouth width mw, place my
    and opening mh."""
    pose = _Pose(((0.5 + motion["dx"][index]) * big, (0.52 + motion["dy"][index]) * big),
                 motion["angle"][index], motion["scale"][index])
    b = identity["face_height"] * big
    a = b * identity["face_aspect"]
    ew = identity["eye_size"] * a
    mw = identity["mouth_width"] * a
    return SimpleNamespace(pose=pose, a=a, b=b, ex=identity["eye_spacing"] * a * 1.2, ey=-identity["eye_height"] * b,
                           ew=ew, eh=ew * 0.75, mw=mw, my=identity["mouth_y"] * b,
                           mh=(0.04 + 0.3 * motion["mouth_open"][index]) * mw)


def render_face(identity, motion, index, size, background=None):
    """Frame `index` of a video with `identity` and `motion`, as uint8 RGB `size` x `size`."""
    big = size * SUPERSAMPLE
    canvas = (background if background is not None else render_background(identity, big)).copy()
    face = _face_layout(identity, motion, index, big)
    pose, a, b = face.pose, face.a, face.b
    skin = identity["skin"]
    shade = tuple(0.78 * c for c in skin)
    outline = tuple(0.45 * c for c in skin)

    if identity["ears"]:
        r = identity["ear_size"] * a
        for side in (-1, 1):
            pose.fill(canvas, pose.ellipse(side * a * 0.97, -0.05 * b, r, r * 1.2), shade)
    pose.fill(canvas, pose.ellipse(0, 0, a, b), skin)
    pose.line(canvas, pose.ellipse(0, 0, a, b), outline, big * 0.008)

    if identity["hair"]:
        # top arc left to right, then the fringe back right to left; the sides hang down as sideburns
        upper = pose.ellipse(0, 0, a * 1.05, b * 1.06, math.pi * 1.05, math.pi * 1.95, 32)
        fringe = pose.ellipse(0, -0.5 * b, a * 0.95, b * 0.12, 0, math.pi, 24)
        pose.fill(canvas, np.concatenate([upper, fringe]), identity["hair_colour"])
        if identity["hair"] == 2:
            tuft = np.array([[-0.15 * a, -1.0 * b], [0.05 * a, -1.32 * b], [0.2 * a, -0.98 * b]])
            pose.fill(canvas, tuft, identity["hair_colour"])

    ex, ey, ew, eh = face.ex, face.ey, face.ew, face.eh
    opened = motion["eyes_open"][index]
    px, py = motion["pupil_x"][index], motion["pupil_y"][index]
    for side in (-1, 1):
        cx = side * ex
        pose.line(canvas, pose.ellipse(cx, ey - eh * 1.5, ew * 0.9, eh * 0.4, math.pi * 1.15, math.pi * 1.85, 12),
                  outline, big * 0.012)
        if opened < CLOSED_EYE:
            pose.line(canvas, np.array([[cx - ew, ey], [cx + ew, ey]]), outline, big * 0.01)
            continue
        h = eh * opened
        pose.fill(canvas, pose.ellipse(cx, ey, ew, h), (250, 250, 250))
        ir = ew * 0.5
        icx, icy = cx + px * (ew - ir) * 0.9, ey + py * max(h - ir, 0) * 0.8
        # the iris is squashed with the eyelid so it never pokes out of a half-closed eye
        iry = min(ir, h * 0.95)
        pose.fill(canvas, pose.ellipse(icx, icy, ir, iry, n=32), identity["eye_colour"])
        pose.fill(canvas, pose.ellipse(icx, icy, ir * 0.45, iry * 0.45, n=24), (15, 15, 15))
        pose.line(canvas, pose.ellipse(cx, ey, ew, h), outline, big * 0.008)

    pose.fill(canvas, pose.ellipse(0, 0.12 * b, a * 0.09, b * 0.07, n=24), shade)

    mw, my, mh = face.mw, face.my, face.mh
    lips = (170, 60, 60)
    if mh > 0.06 * mw:
        pose.fill(canvas, pose.ellipse(0, my, mw * 0.55, mh, n=40), (90, 20, 30))
        pose.fill(canvas, pose.ellipse(0, my + mh * 0.55, mw * 0.3, mh * 0.35, n=24), (220, 90, 100))
        pose.line(canvas, pose.ellipse(0, my, mw * 0.55, mh, n=40), lips, big * 0.012)
    else:
        pose.line(canvas, pose.ellipse(0, my - 0.15 * mw, mw * 0.55, 0.2 * mw, 0.15 * math.pi, 0.85 * math.pi, 16),
                  lips, big * 0.014)

    small = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return np.clip(np.round(small), 0, 255).astype(np.uint8)


# Landmarks the renderer knows (image left and right, as drawn): brows and upper lids (a blink moves the lid down to
# the eye's centre line), the nose, the mouth's corners and lower lip (opening moves it down), the chin and the
# pupils (gaze; unknown, NaN, while the eye is shut). None of them can meet another, so thin-plate splines through
# them stay solvable whatever the expression.
LANDMARKS = ("left_brow", "left_upper_lid", "right_brow", "right_upper_lid", "nose", "left_mouth_corner",
             "right_mouth_corner", "lower_lip", "chin", "left_pupil", "right_pupil")
# the index of each landmark in a mirrored frame (left and right swap)
LANDMARK_FLIP = tuple(LANDMARKS.index(n.replace("left", "@").replace("right", "left").replace("@", "right"))
                      for n in LANDMARKS)


def face_landmarks(identity, motion, index, size):
    """(len(LANDMARKS), 2) float64 (x, y) of frame `index` of `identity` moved by `motion` at `size` x `size`, in
    the keypoints' coordinates: -1 and 1 are the centres of the first and last pixel (make_coordinate_grid); the
    pupils are NaN on a shut eye."""
    big = size * SUPERSAMPLE
    face = _face_layout(identity, motion, index, big)
    b, ex, ey, ew, eh = face.b, face.ex, face.ey, face.ew, face.eh
    opened = motion["eyes_open"][index]
    shut = opened < CLOSED_EYE
    h = 0.0 if shut else eh * opened
    px, py = motion["pupil_x"][index], motion["pupil_y"][index]
    mw, my, mh = face.mw, face.my, face.mh
    if mh > 0.06 * mw:   # open: the dark ellipse and its lip line
        corner, lip = (mw * 0.55, my), my + mh
    else:                # closed: the lip arc
        corner = (mw * 0.55 * math.cos(0.15 * math.pi), my - 0.15 * mw + 0.2 * mw * math.sin(0.15 * math.pi))
        lip = my + 0.05 * mw
    ir = ew * 0.5
    local = []
    for side in (-1, 1):
        local += [(side * ex, ey - eh * 1.5 - eh * 0.4), (side * ex, ey - h)]
    local += [(0.0, 0.12 * b), (-corner[0], corner[1]), (corner[0], corner[1]), (0.0, lip), (0.0, b)]
    for side in (-1, 1):
        local.append((side * ex + px * (ew - ir) * 0.9, ey + py * max(h - ir, 0) * 0.8))
    world = np.asarray(local, np.float64) @ face.pose.rot.T + face.pose.centre
    # a big-canvas coordinate u is small-pixel u / SUPERSAMPLE - 0.5; pixel j is 2 j / (size - 1) - 1
    points = 2 * (world / SUPERSAMPLE - 0.5) / (size - 1) - 1
    if shut:
        points[-2:] = np.nan
    return points


def make_landmarks(seed, identity_index, chunk, num_frames=32, size=64):
    """The (T, len(LANDMARKS), 2) `face_landmarks` of `make_video(seed, identity_index, chunk, ...)`."""
    identity = random_identity(_rng(seed, identity_index))
    motion = random_motion(_rng(seed, identity_index, chunk, 1), num_frames)
    return np.stack([face_landmarks(identity, motion, i, size) for i in range(num_frames)])


def _rng(seed, *keys):
    return np.random.RandomState([int(seed) & 0x7FFFFFFF] + [int(k) for k in keys])


def make_video(seed, identity_index, chunk, num_frames=32, size=64):
    """The uint8 (T, size, size, 3) video of chunk `chunk` of identity `identity_index` for `seed`."""
    identity = random_identity(_rng(seed, identity_index))
    motion = random_motion(_rng(seed, identity_index, chunk, 1), num_frames)
    background = render_background(identity, size * SUPERSAMPLE)
    return np.stack([render_face(identity, motion, i, size, background) for i in range(num_frames)])


def make_region_video(seed, identity_index, chunk, num_frames=32, size=64):
    """The uint8 (T, size, size, 3) region weights of `make_video(seed, identity_index, chunk, ...)`: 255 where the
    eyes or the mouth of that frame could change (any blink or mouth opening at its pose, the regions of
    ppgan.datasets.cross_identity.region_masks), else 0."""
    from .cross_identity import REGIONS, region_masks

    identity = random_identity(_rng(seed, identity_index))
    motion = random_motion(_rng(seed, identity_index, chunk, 1), num_frames)
    background = render_background(identity, size * SUPERSAMPLE)
    out = np.zeros((num_frames, size, size, 3), np.uint8)
    for i in range(num_frames):
        masks = region_masks(identity, motion, i, size, background)
        out[i][np.logical_or.reduce([masks[r] for r in REGIONS])] = 255
    return out


def _save(video, path_no_ext, fmt, fps):
    if fmt == "png":
        path = path_no_ext + ".png"
        save_image(path, np.concatenate(list(video), axis=1))
    elif fmt == "folder":
        path = path_no_ext
        os.makedirs(path)
        for i, frame in enumerate(video):
            save_image(os.path.join(path, "%05d.png" % i), frame)
    else:
        path = path_no_ext + "." + fmt
        write_video(path, video, fps)
    return path


def plan(num_train, num_test, chunks_per_id):
    """[(part, identity, chunk)] for the requested numbers of videos; test identities differ from train ones."""
    out = []
    next_id = 0
    for part, count in (("train", num_train), ("test", num_test)):
        for k in range(count):
            out.append((part, next_id + k // chunks_per_id, k % chunks_per_id))
        next_id += -(-count // chunks_per_id)
    return out


def write_landmarks(path, points, flip):
    """Save (T, N, 2) landmarks and their mirror order `flip` as the .npz FramesDataset's `landmark_dir` reads."""
    np.savez(path, points=np.asarray(points, np.float32), flip=np.asarray(flip, np.int64))


def write_dataset(out_dir, size=64, num_train=30, num_test=8, chunks_per_id=2, num_frames=32, fmt="png", seed=0,
                  force=False, fps=25, progress=False, regions=False, landmarks=False):
    """Write `out_dir/train/` and `out_dir/test/` with videos named `face<id>#<chunk>`; returns their paths.

    With `regions`, also `out_dir/regions/train/` and `out_dir/regions/test/`: for every video, one of the same
    name and format with its eye and mouth regions (`make_region_video`), for FramesDataset's `region_dir`. With
    `landmarks`, `out_dir/landmarks/<part>/<video name>.npz`: its `make_landmarks` (for `landmark_dir`).

    Everything is written under a temporary folder and moved into place at the end, so an interrupted
    run leaves `out_dir` as it was. A non-empty `out_dir` is refused unless `force` (which replaces
    only its train/ and test/).
    """
    if fmt not in FORMATS:
        raise InputError("format must be one of %s, got %r" % (", ".join(FORMATS), fmt))
    for name, value, low in (("size", size, 8), ("num_train", num_train, 1), ("num_test", num_test, 0),
                             ("chunks_per_id", chunks_per_id, 1), ("num_frames", num_frames, 2)):
        if int(value) != value or value < low:
            raise InputError("%s must be an integer >= %d, got %r" % (name, low, value))
    out_dir = os.path.abspath(os.fspath(out_dir))
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise InputError("'%s' exists and is not a folder; choose another output folder" % out_dir)
    if os.path.isdir(out_dir) and os.listdir(out_dir) and not force:
        raise InputError("output folder '%s' is not empty; pass --force to replace its train/ and test/, or choose "
                         "another folder" % out_dir)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = temp_dir_next_to(out_dir)
    jobs = plan(int(num_train), int(num_test), int(chunks_per_id))
    written = {"train": [], "test": []}
    extras = [name for name, on in (("regions", regions), ("landmarks", landmarks)) if on]
    parts = list(written) + extras
    try:
        for part in written:
            os.makedirs(os.path.join(tmp, part))
            for extra in extras:
                os.makedirs(os.path.join(tmp, extra, part))
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=len(jobs), desc="synthetic videos", unit="video")
        for part, ident, chunk in jobs:
            video = make_video(seed, ident, chunk, int(num_frames), int(size))
            name = "face%d#%d" % (ident, chunk)
            path = _save(video, os.path.join(tmp, part, name), fmt, fps)
            written[part].append(os.path.join(out_dir, part, os.path.basename(path)))
            if regions:
                _save(make_region_video(seed, ident, chunk, int(num_frames), int(size)),
                      os.path.join(tmp, "regions", part, name), fmt, fps)
            if landmarks:
                write_landmarks(os.path.join(tmp, "landmarks", part, os.path.basename(path) + ".npz"),
                                make_landmarks(seed, ident, chunk, int(num_frames), int(size)), LANDMARK_FLIP)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        if not os.path.isdir(out_dir):
            os.replace(tmp, out_dir)
        else:
            for part in ("train", "test", "regions", "landmarks"):  # those of other videos would be stale
                target = os.path.join(out_dir, part)
                if os.path.isdir(target):
                    shutil.rmtree(target)
                elif os.path.exists(target):
                    os.unlink(target)
                if part in parts:
                    os.replace(os.path.join(tmp, part), target)
            os.rmdir(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written


def write_demo_samples(out_dir, seed=2026, size=256, num_frames=100, fps=25):
    """Two source images and a driving video of identities never used for training (for the demo).

    Writes `source_a.png`, `source_b.png` (an eyes-open, nearly upright frame of two identities) and `driving.mp4` (a third
    identity moving for `num_frames` frames) into `out_dir`; returns their paths.
    """
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, ident in (("source_a.png", 0), ("source_b.png", 1)):
        identity = random_identity(_rng(seed, ident))
        motion = random_motion(_rng(seed, ident, 0, 1), 32)
        eyes_open = int(np.argmax(motion["eyes_open"] - 0.1 * np.abs(motion["angle"]) / 25.0))  # awake, upright
        paths.append(save_image(os.path.join(out_dir, name), render_face(identity, motion, eyes_open, size)))
    identity = random_identity(_rng(seed, 2))
    motion = random_motion(_rng(seed, 2, 0, 1), num_frames)
    background = render_background(identity, size * SUPERSAMPLE)
    driving = os.path.join(out_dir, "driving.mp4")
    write_video(driving, (render_face(identity, motion, i, size, background) for i in range(num_frames)), fps)
    return paths + [driving]
