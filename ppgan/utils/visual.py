"""Training and evaluation pictures: keypoint overlays, colour maps, image grids.

Keypoints are (x, y) in [-1, 1] on the align_corners=True grid the model uses: x runs along
the columns (x = -1 is the left pixel centre, x = 1 the right one) and y along the rows.
"""
import numpy as np

from .errors import ConfigError, InputError

# Breakpoints (position, (r, g, b)) of matplotlib's piecewise-linear "gist_rainbow" map:
# a short rose start, then red -> yellow -> green -> cyan -> blue -> magenta -> pink.
_GIST_RAINBOW = (
    (0.000, (1.00, 0.00, 0.16)),
    (0.030, (1.00, 0.00, 0.00)),
    (0.215, (1.00, 1.00, 0.00)),
    (0.400, (0.00, 1.00, 0.00)),
    (0.586, (0.00, 1.00, 1.00)),
    (0.770, (0.00, 0.00, 1.00)),
    (0.954, (1.00, 0.00, 1.00)),
    (1.000, (1.00, 0.00, 0.75)),
)

COLORMAPS = ("gist_rainbow", "hsv", "gray")

# cv2 drawing works in fixed point; 4 fractional bits place discs to 1/16 pixel.
_SHIFT = 4


def _gist_rainbow(t):
    xs = np.array([p for p, _ in _GIST_RAINBOW])
    rgb = np.array([c for _, c in _GIST_RAINBOW])
    return np.stack([np.interp(t, xs, rgb[:, c]) for c in range(3)], axis=-1)


def _hsv(t):
    h = np.mod(t, 1.0)[:, None] * 6.0
    offsets = np.array([3.0, 2.0, 4.0])
    signs = np.array([1.0, -1.0, -1.0])
    base = np.array([-1.0, 2.0, 2.0])
    return np.clip(base + signs * np.abs(h - offsets), 0.0, 1.0)


def _gray(t):
    return np.repeat(np.asarray(t, dtype=np.float64)[:, None], 3, axis=1)


_COLORMAP_FUNCS = {"gist_rainbow": _gist_rainbow, "hsv": _hsv, "gray": _gray}


def _colormap_func(name):
    func = _COLORMAP_FUNCS.get(name)
    if func is None:
        raise ConfigError(f"unknown colour map {name!r}; choose one of: {', '.join(COLORMAPS)}",
                          "visualizer.colormap")
    return func


def colormap(name, n):
    """Return `n` RGB colours (n, 3) float32 in [0, 1], colour k sampled at position k / n of map `name`."""
    func = _colormap_func(name)
    n = int(n)
    if n < 0:
        raise ValueError(f"number of colours must be >= 0, got {n}")
    positions = np.arange(n, dtype=np.float64) / max(n, 1)
    return np.clip(func(positions), 0.0, 1.0).astype(np.float32).reshape(n, 3)


def _to_numpy(x):
    if hasattr(x, "numpy"):
        x = x.numpy()
    return np.asarray(x)


def kp_to_pixels(kp, height, width):
    """Map keypoints (..., 2) of (x, y) in [-1, 1] to float pixel positions (..., 2) of (column, row)."""
    kp = np.asarray(_to_numpy(kp), dtype=np.float64)
    if kp.ndim == 0 or kp.shape[-1] != 2:
        raise InputError(f"keypoints have shape {kp.shape}; expected (..., 2) of (x, y)")
    scale = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    return (kp + 1.0) * scale


def pixels_to_kp(pixels, height, width):
    """The inverse of :func:`kp_to_pixels`: float pixel positions (..., 2) of (column, row) -> (x, y) in [-1, 1]."""
    pixels = np.asarray(_to_numpy(pixels), dtype=np.float64)
    return pixels / np.array([(width - 1) / 2.0, (height - 1) / 2.0]) - 1.0


def _as_float_image(image, what="image"):
    arr = _to_numpy(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3):
        raise InputError(f"{what} has shape {arr.shape}; expected HxWx3 (RGB) or HxW")
    if arr.dtype == np.uint8:
        out = arr.astype(np.float32) / 255.0
    else:
        # Network outputs may overshoot [0, 1] slightly; a picture should show them, not fail.
        out = np.clip(np.nan_to_num(arr.astype(np.float32)), 0.0, 1.0)
    if out.shape[2] == 1:
        out = np.repeat(out, 3, axis=2)
    return np.array(out, dtype=np.float32, copy=True)


def _disc_coverage(cx, cy, radius, box):
    """Anti-aliased coverage in [0, 1] of a filled disc inside `box` (x0, y0, x1, y1)."""
    import cv2

    x0, y0, x1, y1 = box
    mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    one = 1 << _SHIFT
    center = (round((cx - x0) * one), round((cy - y0) * one))
    # OpenCV's anti-aliased disc reaches about half a pixel beyond its radius; shrink it so the
    # covered area is close to pi * radius**2.
    radius = max(radius - 0.5, 0.5)
    cv2.circle(mask, center, round(radius * one), 255, thickness=-1, lineType=cv2.LINE_AA,
               shift=_SHIFT)
    return mask.astype(np.float32) / 255.0


def draw_keypoints(image, kp, kp_size=5, colormap_name="gist_rainbow", group=1):
    """Return a float32 HxWx3 copy of `image` with keypoint k (of K, (x, y) in [-1, 1]) as a disc of colour k.

    group: consecutive keypoints sharing a colour (the 5 control points of one TPSMM thin-plate spline).
    """
    out = _as_float_image(image)
    if not kp_size > 0:
        raise ValueError(f"kp_size (disc radius in pixels) must be positive, got {kp_size!r}")
    kp = np.asarray(_to_numpy(kp), dtype=np.float64)
    if kp.ndim != 2 or kp.shape[1] != 2:
        raise InputError(f"keypoints have shape {kp.shape}; expected (K, 2) of (x, y)")
    if int(group) < 1:
        raise ValueError(f"group (keypoints per colour) must be at least 1, got {group!r}")
    height, width = out.shape[:2]
    colors = np.repeat(colormap(colormap_name, -(-len(kp) // int(group))), int(group), axis=0)[:len(kp)]
    pixels = kp_to_pixels(kp, height, width)
    reach = kp_size + 2
    for (cx, cy), color in zip(pixels, colors):
        if not (np.isfinite(cx) and np.isfinite(cy)):
            continue
        x0, y0 = max(0, int(np.floor(cx - reach))), max(0, int(np.floor(cy - reach)))
        x1, y1 = min(width, int(np.ceil(cx + reach)) + 1), min(height, int(np.ceil(cy + reach)) + 1)
        if x1 <= x0 or y1 <= y0:
            continue
        alpha = _disc_coverage(cx, cy, kp_size, (x0, y0, x1, y1))[:, :, None]
        patch = out[y0:y1, x0:x1]
        out[y0:y1, x0:x1] = patch * (1.0 - alpha) + color * alpha
    return out


def resize_keypoints(kp, shape, new_shape):
    """Keypoints (..., 2) of an image of `shape` (H, W) -> the same points on that image resized to `new_shape`.

    Both use the model's align_corners=True coordinates; a resize maps pixel centres as
    (p + 0.5) * new / old - 0.5 (OpenCV's and Paddle's half-pixel convention).
    """
    kp = np.asarray(_to_numpy(kp), dtype=np.float64)
    old = np.array([shape[1], shape[0]], dtype=np.float64)
    new = np.array([new_shape[1], new_shape[0]], dtype=np.float64)
    pixels = kp_to_pixels(kp, shape[0], shape[1])
    moved = (pixels + 0.5) * new / old - 0.5
    return moved / np.maximum(new - 1.0, 1.0) * 2.0 - 1.0


def keypoint_preview(image, kp, height=256, group=1, colormap_name="gist_rainbow"):
    """`image` enlarged (bicubic) to `height` rows with its keypoints drawn: a picture of what the keypoint
    detector found, large enough to see at the model's small input sizes."""
    import cv2

    image = _as_float_image(image)
    h, w = image.shape[:2]
    shape = (int(height), max(1, int(round(w * height / h))))
    big = np.clip(cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)
    return draw_keypoints(big, resize_keypoints(kp, (h, w), shape), kp_size=max(2.0, height / 64.0),
                          colormap_name=colormap_name, group=group)


def make_grid(images, ncols):
    """Tile equal-size HxWxC images row by row into one image with `ncols` columns (empty cells are zeros)."""
    images = [np.asarray(_to_numpy(im)) for im in images]
    if not images:
        raise InputError("make_grid needs at least one image")
    ncols = int(ncols)
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    shape, dtype = images[0].shape, images[0].dtype
    if len(shape) != 3:
        raise InputError(f"grid images must be HxWxC, got shape {shape}")
    for i, im in enumerate(images):
        if im.shape != shape:
            raise InputError(f"grid image {i} has shape {im.shape}; all images must have shape {shape}")
    h, w, c = shape
    nrows = -(-len(images) // ncols)
    grid = np.zeros((nrows * h, ncols * w, c), dtype=dtype)
    for i, im in enumerate(images):
        r, q = divmod(i, ncols)
        grid[r * h:(r + 1) * h, q * w:(q + 1) * w] = im
    return grid


def _batch_images(x, what):
    arr = np.asarray(_to_numpy(x), dtype=np.float32)
    if arr.ndim != 4 or arr.shape[1] not in (1, 3):
        raise InputError(f"{what} has shape {arr.shape}; expected NCHW with 1 or 3 channels")
    return arr


# The points of a keypoint dict: the first order model's keypoints, the thin-plate spline model's control points.
KEYPOINT_KEYS = ("value", "fg_kp")


def _kp_values(entry, what):
    if isinstance(entry, dict):
        key = next((k for k in KEYPOINT_KEYS if k in entry), None)
        if key is None:
            raise InputError(f"{what} has none of the entries {', '.join(KEYPOINT_KEYS)}; expected a keypoint dict "
                             f"{{'value': (B, K, 2)}} or {{'fg_kp': (B, K*5, 2)}}")
        entry = entry[key]
    arr = np.asarray(_to_numpy(entry), dtype=np.float64)
    if arr.ndim != 3 or arr.shape[2] != 2:
        raise InputError(f"{what} keypoints have shape {arr.shape}; expected (B, K, 2)")
    return arr


def _resize(image, height, width):
    if image.shape[:2] == (height, width):
        return image
    import cv2

    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    if resized.ndim == 2:
        resized = resized[:, :, None]
    return resized


def _mask_array(x):
    arr = np.asarray(_to_numpy(x), dtype=np.float32)
    if arr.ndim != 4 or arr.shape[1] < 1:
        raise InputError(f"mask has shape {arr.shape}; expected (B, K+1, h, w)")
    return arr


class Visualizer:
    """Draws a picture of one training/evaluation step: one row per batch item, one column per stage.

    Columns: source with its keypoints, the transformed frame (equivariance) with its keypoints, driving with its
    keypoints, the deformed source, the prediction (with the normalised keypoints when animating), the occlusion
    map (one column per resolution when it is a list: the thin-plate spline model's masks, coarse to fine), and
    the first order model's `mask` or the thin-plate spline model's `contribution_maps`, coloured per transform
    (the background black). Keypoint dicts hold `value` (first order) or `fg_kp` (thin-plate spline: K*5 points).
    """

    def __init__(self, kp_size=5, draw_border=True, colormap="gist_rainbow"):
        if isinstance(kp_size, bool) or not isinstance(kp_size, (int, float)) or not kp_size > 0:
            raise ConfigError(f"kp_size must be a positive number of pixels, got {kp_size!r}",
                              "visualizer.kp_size")
        _colormap_func(colormap)
        self.kp_size = kp_size
        self.draw_border = bool(draw_border)
        self.colormap = colormap

    def _column(self, images, height, width, kp=None):
        tiles = []
        for i, image in enumerate(images):
            tile = _as_float_image(_resize(np.transpose(image, (1, 2, 0)), height, width))
            if kp is not None:
                tile = draw_keypoints(tile, kp[i], self.kp_size, self.colormap)
            tiles.append(tile)
        return tiles

    def _mask_column(self, mask, height, width):
        colors = np.concatenate([np.zeros((1, 3), np.float32), colormap(self.colormap, mask.shape[1] - 1)])
        tiles = []
        for item in mask:
            weights = _resize(np.transpose(item, (1, 2, 0)), height, width)
            tiles.append(np.clip(weights @ colors, 0.0, 1.0).astype(np.float32))
        return tiles

    def visualize(self, source, driving, out):
        """Return a uint8 HxW'x3 RGB grid, one row per batch item, from NCHW [0, 1] arrays or paddle tensors."""
        source = _batch_images(source, "source")
        driving = _batch_images(driving, "driving")
        batch, _, height, width = source.shape
        entries = {}
        for key in ("transformed_frame", "deformed", "prediction"):
            if out.get(key) is not None:
                entries[key] = _batch_images(out[key], key)
        occlusion = out.get("occlusion_map")
        if occlusion is not None:
            levels = occlusion if isinstance(occlusion, (list, tuple)) else [occlusion]
            entries["occlusion_map"] = [_batch_images(level, "occlusion_map") for level in levels]
        mask = out.get("mask") if out.get("mask") is not None else out.get("contribution_maps")
        if mask is not None:
            entries["mask"] = _mask_array(mask)
        for key in ("kp_source", "kp_driving", "transformed_kp", "kp_norm"):
            if out.get(key) is not None:
                entries[key] = _kp_values(out[key], key)
        for key, value in [("driving", driving)] + list(entries.items()):
            for item in (value if isinstance(value, list) else [value]):
                if item.shape[0] != batch:
                    raise InputError(f"{key} has batch size {item.shape[0]} but source has {batch}")

        columns = [self._column(source, height, width, entries.get("kp_source"))]
        if "transformed_frame" in entries:
            columns.append(self._column(entries["transformed_frame"], height, width, entries.get("transformed_kp")))
        columns.append(self._column(driving, height, width, entries.get("kp_driving")))
        if "deformed" in entries:
            columns.append(self._column(entries["deformed"], height, width))
        if "prediction" in entries:
            columns.append(self._column(entries["prediction"], height, width, entries.get("kp_norm")))
        for level in entries.get("occlusion_map", []):
            columns.append(self._column(level, height, width))
        if "mask" in entries:
            columns.append(self._mask_column(entries["mask"], height, width))

        tiles = [column[i] for i in range(batch) for column in columns]
        if self.draw_border:
            tiles = [np.pad(t, ((1, 1), (1, 1), (0, 0)), constant_values=1.0) for t in tiles]
        grid = make_grid(tiles, len(columns))
        return (np.clip(grid, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)

