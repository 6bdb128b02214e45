"""Training augmentations (the original's `augmentation_params`), drawn once and applied alike to every frame.

A sample is a list of HxWx3 float32 frames in [0, 1] (source and driving); every transform keeps
the frame size. Random numbers come from the `rng` passed to the call, or from the global
``np.random`` when none is given: paddle.io.DataLoader seeds numpy differently in each worker
process, so workers do not repeat each other's augmentations.
"""
import numbers

import cv2
import numpy as np

from ppgan.utils.errors import ConfigError

_KNOWN = {
    "flip_param": ("horizontal_flip", "time_flip"),
    "jitter_param": ("brightness", "contrast", "saturation", "hue"),
    "crop_param": ("size",),
    "resize_param": ("ratio",),
    "rotation_param": ("degrees",),
}


def _rng(rng):
    return np.random if rng is None else rng


def _non_negative(value, key):
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0:
        raise ConfigError("must be a non-negative number, got %r" % (value,), key)
    return float(value)


class RandomFlip:
    """Mirror all frames left-right, and/or reverse their order (source <-> driving), each with probability 1/2."""

    def __init__(self, horizontal_flip=False, time_flip=False):
        self.horizontal_flip = bool(horizontal_flip)
        self.time_flip = bool(time_flip)

    moves_points = True

    def __call__(self, frames, rng=None, points=None):
        """The flipped frames; with `points` ((landmarks (N, 2) in [-1, 1] per frame, mirror order)), also the
        landmarks flipped alike: (frames, [landmarks])."""
        rng = _rng(rng)
        if self.time_flip and rng.rand() < 0.5:
            frames = frames[::-1]
            points = None if points is None else (points[0][::-1], points[1])
        if self.horizontal_flip and rng.rand() < 0.5:
            frames = [np.ascontiguousarray(f[:, ::-1]) for f in frames]
            if points is not None:
                points = ([np.stack([-p[:, 0], p[:, 1]], axis=1)[list(points[1])] for p in points[0]], points[1])
        return list(frames) if points is None else (list(frames), list(points[0]))


class ColorJitter:
    """Brightness, contrast, saturation factors in [1 - x, 1 + x] and a hue shift in [-hue, hue] turns.

    As torchvision's ColorJitter, but the four are applied in this fixed order and the same factors
    are used for every frame of the sample. Channels after the first three (a region map carried with the
    frame, FramesDataset's `region_dir`) are left as they are: only the geometric transforms move them.
    """

    moves_points = True   # colours only: landmarks stay where they are

    def __init__(self, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0):
        self.brightness = _non_negative(brightness, "brightness")
        self.contrast = _non_negative(contrast, "contrast")
        self.saturation = _non_negative(saturation, "saturation")
        self.hue = _non_negative(hue, "hue")
        if self.hue > 0.5:
            raise ConfigError("must be in [0, 0.5] (a fraction of the colour circle), got %r" % (hue,), "hue")

    def enabled(self):
        """True if any of the four jitters is non-zero."""
        return any((self.brightness, self.contrast, self.saturation, self.hue))

    def __call__(self, frames, rng=None, points=None):
        """The recoloured frames; with `points` ((landmarks, mirror order)), (frames, landmarks unchanged)."""
        rng = _rng(rng)

        def factor(x):
            return rng.uniform(max(0.0, 1.0 - x), 1.0 + x) if x else None

        b, c, s = factor(self.brightness), factor(self.contrast), factor(self.saturation)
        h = rng.uniform(-self.hue, self.hue) if self.hue else None
        out = [self._apply(f, b, c, s, h) if f.shape[2] == 3
               else np.concatenate([self._apply(np.ascontiguousarray(f[:, :, :3]), b, c, s, h), f[:, :, 3:]], axis=2)
               for f in frames]
        return out if points is None else (out, list(points[0]))

    @staticmethod
    def _apply(frame, b, c, s, h):
        out = frame.astype(np.float32)
        if b is not None:
            out = np.clip(out * b, 0.0, 1.0)
        if c is not None:
            mean = float(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).mean())
            out = np.clip(mean + c * (out - mean), 0.0, 1.0)
        if s is not None:
            gray = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[:, :, None]
            out = np.clip(gray + s * (out - gray), 0.0, 1.0)
        if h is not None:
            hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)  # float input: hue in degrees [0, 360)
            hsv[:, :, 0] = np.mod(hsv[:, :, 0] + h * 360.0, 360.0)
            out = np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), 0.0, 1.0)
        return out.astype(np.float32)


class RandomRotation:
    """Rotate all frames by one angle drawn from [-degrees, degrees], reflecting at the borders."""

    def __init__(self, degrees):
        self.degrees = _non_negative(degrees, "degrees")

    def __call__(self, frames, rng=None):
        angle = _rng(rng).uniform(-self.degrees, self.degrees)
        h, w = frames[0].shape[:2]
        matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, 1.0)
        return [cv2.warpAffine(f, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
                for f in frames]


def _fit(frame, h, w, top, left):
    """Crop (or reflect-pad, for negative offsets / short sides) `frame` to h x w starting at (top, left)."""
    fh, fw = frame.shape[:2]
    pad_t, pad_l = max(0, -top), max(0, -left)
    pad_b, pad_r = max(0, top + h - fh), max(0, left + w - fw)
    if pad_t or pad_l or pad_b or pad_r:
        frame = cv2.copyMakeBorder(frame, pad_t, pad_b, pad_l, pad_r, cv2.BORDER_REFLECT_101)
        top, left = top + pad_t, left + pad_l
    return frame[top:top + h, left:left + w]


class RandomResize:
    """Scale all frames by one factor from [lo, hi], then crop or reflect-pad back to the frame size at random."""

    def __init__(self, ratio):
        if (not isinstance(ratio, (list, tuple)) or len(ratio) != 2
                or not all(isinstance(r, numbers.Real) and not isinstance(r, bool) for r in ratio)
                or not 0 < ratio[0] <= ratio[1]):
            raise ConfigError("must be a range [lo, hi] with 0 < lo <= hi, e.g. [0.9, 1.1]; got %r" % (ratio,),
                              "ratio")
        self.ratio = (float(ratio[0]), float(ratio[1]))

    def __call__(self, frames, rng=None):
        rng = _rng(rng)
        scale = rng.uniform(*self.ratio)
        h, w = frames[0].shape[:2]
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        top = self._offset(rng, h, nh)
        left = self._offset(rng, w, nw)
        out = []
        for f in frames:
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            resized = cv2.resize(f, (nw, nh), interpolation=interp) if (nh, nw) != (h, w) else f
            out.append(np.ascontiguousarray(_fit(resized, h, w, top, left)))
        return out

    @staticmethod
    def _offset(rng, size, new):
        if new > size:
            return rng.randint(0, new - size + 1)
        return -((size - new) // 2)  # a smaller frame is padded evenly around its centre


class RandomCrop:
    """Crop one random `size` [h, w] window from all frames, then resize it back to the frame size."""

    def __init__(self, size, frame_shape):
        if isinstance(size, numbers.Integral) and not isinstance(size, bool):
            size = [size, size]
        if (not isinstance(size, (list, tuple)) or len(size) != 2
                or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0 for s in size)):
            raise ConfigError("must be [h, w] (or one int) of positive integers, got %r" % (size,), "size")
        if size[0] > frame_shape[0] or size[1] > frame_shape[1]:
            raise ConfigError("crop %s is larger than frame_shape %s" % (list(size), list(frame_shape[:2])), "size")
        self.size = (int(size[0]), int(size[1]))

    def __call__(self, frames, rng=None):
        rng = _rng(rng)
        h, w = frames[0].shape[:2]
        ch, cw = self.size
        if (ch, cw) == (h, w):
            return list(frames)
        top, left = rng.randint(0, h - ch + 1), rng.randint(0, w - cw + 1)
        return [cv2.resize(np.ascontiguousarray(f[top:top + ch, left:left + cw]), (w, h),
                           interpolation=cv2.INTER_LINEAR) for f in frames]


class AllAugmentationTransform:
    """The augmentations enabled in `augmentation_params`: flips, rotation, resize, crop, then colour jitter."""

    def __init__(self, frame_shape, flip_param=None, jitter_param=None, crop_param=None, resize_param=None,
                 rotation_param=None):
        self.transforms = []
        flip = _section(flip_param, "flip_param")
        if flip.get("horizontal_flip") or flip.get("time_flip"):
            self.transforms.append(RandomFlip(**flip))
        rotation = _section(rotation_param, "rotation_param")
        if rotation.get("degrees"):
            self.transforms.append(_scoped(RandomRotation, "rotation_param", **rotation))
        resize = _section(resize_param, "resize_param")
        if resize.get("ratio"):
            self.transforms.append(_scoped(RandomResize, "resize_param", **resize))
        crop = _section(crop_param, "crop_param")
        if crop.get("size"):
            self.transforms.append(_scoped(RandomCrop, "crop_param", frame_shape=frame_shape, **crop))
        jitter = _scoped(ColorJitter, "jitter_param", **_section(jitter_param, "jitter_param"))
        if jitter.enabled():
            self.transforms.append(jitter)

    def __bool__(self):
        return bool(self.transforms)

    def moves_points(self):
        """True if every enabled transform can carry landmarks (flips and colour jitter; not yet rotation, resize
        or crop)."""
        return all(getattr(t, "moves_points", False) for t in self.transforms)

    def __call__(self, frames, rng=None, points=None):
        """The augmented frames; with `points` ((per-frame (N, 2) landmarks, mirror order)), (frames, landmarks)."""
        if points is not None and not self.moves_points():
            raise ValueError("landmarks follow flips and colour jitter only, not rotation, resize or crop")
        frames = list(frames)
        landmarks = None if points is None else list(points[0])
        for t in self.transforms:
            if landmarks is None:
                frames = t(frames, rng)
            else:   # every transform here moves points (checked by moves_points)
                frames, landmarks = t(frames, rng, (landmarks, points[1]))
        frames = [np.clip(f, 0.0, 1.0).astype(np.float32) for f in frames]
        return frames if points is None else (frames, landmarks)


def _section(params, name):
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise ConfigError("must be a mapping, got %r" % (params,), name)
    unknown = [k for k in params if k not in _KNOWN[name]]
    if unknown:
        raise ConfigError("unknown key; accepted: %s" % ", ".join(_KNOWN[name]), "%s.%s" % (name, unknown[0]))
    return dict(params)


def _scoped(cls, name, **kwargs):
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise e.with_prefix(name) from None


def build_transform(augmentation_params, frame_shape):
    """An AllAugmentationTransform from the config's `augmentation_params`, or None if nothing is enabled."""
    params = augmentation_params or {}
    if not isinstance(params, dict):
        raise ConfigError("must be a mapping, got %r" % (params,), "augmentation_params")
    unknown = [k for k in params if k not in _KNOWN]
    if unknown:
        raise ConfigError("unknown key; accepted: %s" % ", ".join(_KNOWN), "augmentation_params." + unknown[0])
    try:
        transform = AllAugmentationTransform(frame_shape, **params)
    except ConfigError as e:
        raise e.with_prefix("augmentation_params") from None
    return transform if transform else None
