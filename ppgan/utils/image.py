"""Image array conversions at the I/O edge: any common layout/dtype -> float32 RGB HxWx3 in [0, 1]."""
import numpy as np

from .errors import InputError


def to_rgb_float(image, what="image"):
    """Convert HxW, HxWx1, HxWx3 or HxWx4 arrays (uint8, uint16, bool or float in [0, 1]) to float32 HxWx3."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise InputError("%s has shape %s; expected HxW (grayscale), HxWx3 (RGB) or HxWx4 (RGBA)"
                         % (what, arr.shape))
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise InputError("%s is only %dx%d pixels" % (what, arr.shape[1], arr.shape[0]))
    if arr.dtype == np.uint8:
        out = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        out = arr.astype(np.float32) / 65535.0
    elif arr.dtype == np.bool_:
        out = arr.astype(np.float32)
    elif np.issubdtype(arr.dtype, np.floating):
        out = arr.astype(np.float32)
        if not np.isfinite(out).all():
            raise InputError("%s contains NaN or infinite values" % what)
        lo, hi = float(out.min()), float(out.max())
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise InputError("%s is floating point with values in [%g, %g]; expected [0, 1] (divide 8-bit "
                             "images by 255, or pass uint8)" % (what, lo, hi))
        out = np.clip(out, 0.0, 1.0)
    else:
        raise InputError("%s has dtype %s; expected uint8, uint16 or float in [0, 1]" % (what, arr.dtype))
    if out.shape[2] == 1:
        out = np.repeat(out, 3, axis=2)
    elif out.shape[2] == 4:
        alpha = out[:, :, 3:]
        out = out[:, :, :3] * alpha + (1.0 - alpha)  # composite on white
    return np.ascontiguousarray(out)


def center_crop_square(image):
    """Crop the largest centred square (never distorts the aspect ratio)."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image[top:top + side, left:left + side]


def fit_to_size(image, size):
    """Centre-crop to the aspect of `size` (h, w) and resize with area filtering; no-op at that size."""
    h, w = size
    if image.shape[0] == h and image.shape[1] == w:
        return image
    ih, iw = image.shape[:2]
    if ih * w != iw * h:
        scale = min(ih / h, iw / w)
        ch, cw = int(round(h * scale)), int(round(w * scale))
        top, left = (ih - ch) // 2, (iw - cw) // 2
        image = image[top:top + ch, left:left + cw]
    import cv2
    interp = cv2.INTER_AREA if image.shape[0] > h else cv2.INTER_LINEAR
    return np.clip(cv2.resize(image, (w, h), interpolation=interp), 0.0, 1.0).astype(np.float32)
