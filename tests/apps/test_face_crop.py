import cv2
import numpy as np
import pytest

from ppgan.apps import face_crop
from ppgan.apps.face_crop import (
    DEFAULT_MARGIN,
    crop_square,
    detect_faces,
    driving_face_box,
    fit_square,
    paste_back,
    soft_mask,
    square_box,
    unfit_square,
)
from ppgan.utils.errors import InputError

HAAR = "haar"

# No photograph of a face ships with anything installed here, so detection is checked on
# drawn faces: a blurred skin ellipse with dark brows, eyes, nostrils and mouth and a light
# nose bridge, which are the contrasts the frontal-face Haar cascade keys on.


def _draw_face(gray, cx, cy, s):
    """Draw a face of width ~80*s pixels centred on (cx, cy) into a uint8 grey canvas."""
    def p(dx, dy):
        return int(round(cx + dx * s)), int(round(cy + dy * s))

    def r(a, b):
        return max(1, int(round(a * s))), max(1, int(round(b * s)))

    cv2.ellipse(gray, p(0, 0), r(40, 52), 0, 0, 360, 170, -1)
    for dx in (-18, 18):
        cv2.ellipse(gray, p(dx, -22), r(11, 3), 0, 0, 360, 60, -1)
        cv2.ellipse(gray, p(dx, -12), r(9, 5), 0, 0, 360, 70, -1)
        cv2.circle(gray, p(dx, -12), max(1, int(round(3 * s))), 20, -1)
    cv2.ellipse(gray, p(0, 2), r(5, 14), 0, 0, 360, 200, -1)
    cv2.ellipse(gray, p(0, 14), r(9, 3), 0, 0, 360, 110, -1)
    cv2.ellipse(gray, p(0, 28), r(15, 4), 0, 0, 360, 70, -1)


def _faces_image(height, width, faces, background=200):
    """RGB uint8 image with drawn faces [(cx, cy, s), ...]."""
    gray = np.full((height, width), background, np.uint8)
    for cx, cy, s in faces:
        _draw_face(gray, cx, cy, s)
    gray = cv2.GaussianBlur(gray, (0, 0), 2.0 * min(s for _, _, s in faces))
    tint = np.array([1.0, 0.9, 0.8], np.float32)  # skin-ish colour, so RGB -> grey is exercised
    return np.clip(gray[:, :, None] * tint, 0, 255).astype(np.uint8)


def _smooth_image(height, width):
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([0.5 + 0.4 * np.sin(xx / 9.0), 0.5 + 0.4 * np.cos(yy / 11.0),
                     0.3 + 0.2 * np.sin((xx + yy) / 13.0)], axis=2).astype(np.float32)


# --- detection ---------------------------------------------------------------------------------

def test_no_faces_in_blank_or_noise(rng):
    assert detect_faces(np.full((120, 160, 3), 128, np.uint8)) == []
    assert detect_faces(rng.uniform(0, 1, (240, 320, 3)).astype(np.float32)) == []
    assert detect_faces(np.zeros((20, 20, 3), np.uint8)) == []  # smaller than the cascade window


def test_detects_drawn_face_centred_uint8_and_float():
    image = _faces_image(240, 320, [(180, 110, 1.0)])
    boxes = detect_faces(image, HAAR)
    assert len(boxes) == 1
    x, y, w, h = boxes[0]
    assert abs(x + w / 2 - 180) <= 6 and abs(y + h / 2 - 110) <= 6
    assert 70 <= w <= 140 and w == h
    assert detect_faces(image.astype(np.float32) / 255.0, HAAR) == boxes


def test_several_faces_largest_first_and_min_size():
    image = _faces_image(300, 520, [(120, 150, 0.7), (360, 150, 1.4)])
    boxes = detect_faces(image, HAAR)
    assert len(boxes) == 2
    assert boxes[0][2] > boxes[1][2]
    assert abs(boxes[0][0] + boxes[0][2] / 2 - 360) <= 8 and abs(boxes[1][0] + boxes[1][2] / 2 - 120) <= 8
    # The small face's box (~90 px) is under 40% of the 300 px side; the large one's (~170 px) is not.
    assert len(detect_faces(image, HAAR, min_size_fraction=0.4)) == 1
    with pytest.raises(InputError, match="min_size_fraction"):
        detect_faces(image, HAAR, min_size_fraction=0)


def test_large_image_detected_at_reduced_size_and_scaled_back():
    image = _faces_image(1200, 1600, [(900, 600, 4.0)])
    (x, y, w, h), = detect_faces(image, HAAR)
    assert abs(x + w / 2 - 900) <= 20 and abs(y + h / 2 - 600) <= 20 and w > 300


# --- square boxes ------------------------------------------------------------------------------

def test_square_box_centring_and_margin():
    assert square_box((10, 20, 40, 40), (100, 100), margin=0.25) == (0, 10, 60, 60)
    assert square_box((10, 20, 40, 40), (100, 100), margin=0) == (10, 20, 40, 40)
    # Non-square faces: the longer side sets the square, centred on the face centre (30, 35).
    assert square_box((10, 20, 40, 30), (100, 100), margin=0) == (10, 15, 40, 40)
    assert square_box((10, 20, 30, 40), (100, 100), margin=0.5) == (-15, 0, 80, 80)
    x, y, side, side2 = square_box((37, 41, 50, 50), (200, 200))
    assert side == side2 == round(50 * (1 + 2 * DEFAULT_MARGIN))
    assert abs((x + side / 2) - 62) <= 0.5 and abs((y + side / 2) - 66) <= 0.5
    # The face fills roughly the central 60% of the default crop.
    assert 0.55 <= 50 / side <= 0.65


def test_square_box_may_leave_the_image():
    assert square_box((0, 0, 20, 20), (50, 80), margin=0.5) == (-10, -10, 40, 40)
    assert square_box((70, 40, 10, 10), (50, 80), margin=1.0) == (60, 30, 30, 30)
    with pytest.raises(InputError, match="outside"):
        square_box((100, 0, 10, 10), (50, 80))
    with pytest.raises(InputError, match="no area"):
        square_box((0, 0, 0, 10), (50, 80))
    with pytest.raises(InputError, match="margin"):
        square_box((0, 0, 10, 10), (50, 80), margin=-0.1)


# --- crop and paste ----------------------------------------------------------------------------

def test_crop_square_inside_outside_and_resampling():
    image = _smooth_image(50, 70)
    np.testing.assert_array_equal(crop_square(image, (10, 5, 30, 30), 30), image[5:35, 10:40])
    # Outside the image the nearest edge pixel repeats.
    crop = crop_square(image, (-5, -3, 20, 20), 20)
    np.testing.assert_array_equal(crop[3:, 5:], image[0:17, 0:15])
    np.testing.assert_array_equal(crop[:3, 5:], np.repeat(image[0:1, 0:15], 3, axis=0))
    np.testing.assert_array_equal(crop[:3, :5], np.broadcast_to(image[0, 0], (3, 5, 3)))
    # Halving with area filtering averages 2x2 blocks.
    half = crop_square(image, (10, 10, 20, 20), 10)
    block = image[10:30, 10:30].reshape(10, 2, 10, 2, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(half, block, atol=1e-6)
    # Enlarging (cubic) stays in [0, 1]; uint8 input gives float32 in [0, 1].
    big = crop_square((image * 255).astype(np.uint8), (0, 0, 10, 10), 64)
    assert big.shape == (64, 64, 3) and big.dtype == np.float32 and big.min() >= 0 and big.max() <= 1
    with pytest.raises(InputError, match="positive integer"):
        crop_square(image, (0, 0, 10, 10), 0)


def _outside(shape, box):
    """Boolean mask of the pixels outside box."""
    x, y, w, h = box
    out = np.ones(shape[:2], bool)
    out[max(y, 0):max(y + h, 0), max(x, 0):max(x + w, 0)] = False
    return out


@pytest.mark.parametrize("box", [(20, 15, 40, 40), (-12, -8, 44, 44), (50, 30, 40, 40)])
def test_crop_paste_round_trip(box):
    image = _smooth_image(60, 80)
    # Without resampling the paste is an identity everywhere.
    side = box[2]
    np.testing.assert_allclose(paste_back(image, crop_square(image, box, side), box), image, atol=1e-6)
    # Through a 32x32 crop: untouched outside the box, resampling error only inside.
    pasted = paste_back(image, crop_square(image, box, 32), box, ratio=0.5)
    assert pasted.dtype == np.float32 and pasted.shape == image.shape
    outside = _outside(image.shape, box)
    np.testing.assert_array_equal(pasted[outside], image[outside])
    assert np.abs(pasted - image).max() < 0.03
    assert pasted is not image


def test_paste_replaces_the_centre_and_keeps_the_original_untouched():
    image = _smooth_image(60, 80)
    before = image.copy()
    box = (20, 10, 40, 40)
    pasted = paste_back(image, np.zeros((16, 16, 3), np.float32), box)  # the inscribed ellipse
    np.testing.assert_array_equal(image, before)
    np.testing.assert_array_equal(pasted[25:35, 35:45], 0)  # the central 60% of the radius is fully replaced
    assert np.all(pasted[10, 20] == image[10, 20])  # box corner lies outside the ellipse
    # Feathered: the blend weight along the row through the centre rises monotonically.
    weights = 1 - pasted[30, 20:40, 0] / image[30, 20:40, 0]
    assert np.all(np.diff(weights) >= -1e-6) and weights[0] < 0.05 and weights[-1] > 0.999


def test_soft_mask_feather_shapes_the_edge():
    feathers = (0.1, 0.25, 0.4, 0.7, 1.0)
    masks = [soft_mask(41, 41, 0.5, f) for f in feathers]
    for feather, m in zip(feathers, masks):
        assert m.shape == (41, 41) and m.dtype == np.float32
        assert m[20, 20] == 1.0 and m[0, 0] == 0.0 and m.max() <= 1 and m.min() >= 0
        np.testing.assert_array_equal(m, m[::-1, ::-1])
        # The ellipse touches the box edges: the edge pixels' centres lie half a pixel inside it.
        assert m[20, 0] < (0.2 if feather < 0.4 else 0.02)
    for narrow, wide in zip(masks, masks[1:]):
        assert np.all(wide <= narrow + 1e-7) and wide.sum() < narrow.sum()
    # The fully opaque core shrinks as the feather grows: radius (1 - feather) of the half side.
    row = soft_mask(41, 41, 0.5, 0.4)[20]
    opaque = np.flatnonzero(row == 1.0)
    assert abs(len(opaque) / 41 - 0.6) <= 2 / 41
    assert soft_mask(30, 50).shape == (30, 50)
    for bad in (0, -0.2, 1.5, "x"):
        with pytest.raises(InputError, match="feather"):
            soft_mask(10, 10, 0.5, bad)


def test_soft_mask_ratio_is_the_pasted_radius_as_paddlegan_means_it():
    """PaddleGAN's ratio: the pasted circle's radius as a fraction of the crop's side."""
    side = 101
    centre_row = lambda ratio: soft_mask(side, side, ratio)[side // 2]  # noqa: E731
    for ratio in (0.2, 0.3, 0.4, 0.5):
        nonzero = np.flatnonzero(centre_row(ratio) > 0)
        # the mask ends at `ratio` of the side from the centre, on both sides
        assert abs(len(nonzero) / side - 2 * ratio) <= 2 / side, ratio
    # smaller ratios paste less, and the default is the inscribed ellipse
    sums = [soft_mask(side, side, r).sum() for r in (0.2, 0.3, 0.4, 0.5, 0.7, 1.0)]
    assert np.all(np.diff(sums) > 0)
    np.testing.assert_array_equal(soft_mask(side, side), soft_mask(side, side, 0.5))
    # at 1 (PaddleGAN's API default) the whole box is mostly the animated face, the corners included
    assert soft_mask(side, side, 1.0)[0, 0] > 0.5 and soft_mask(side, side, 0.5)[0, 0] == 0
    for bad in (0, -0.2, 1.5, "x"):
        with pytest.raises(InputError, match="ratio"):
            soft_mask(10, 10, bad)


def test_paste_several_boxes():
    image = _smooth_image(60, 120)
    red, blue = np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 3), np.float32)
    red[..., 0], blue[..., 2] = 1, 1
    a, b = (5, 10, 40, 40), (70, 15, 36, 36)
    out = paste_back(paste_back(image, red, a), blue, b)
    np.testing.assert_allclose(out[30, 25], [1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(out[33, 88], [0, 0, 1], atol=1e-6)
    outside = _outside(image.shape, a) & _outside(image.shape, b)
    np.testing.assert_array_equal(out[outside], image[outside])


def test_paste_box_outside_the_image_changes_nothing():
    image = _smooth_image(20, 20)
    np.testing.assert_array_equal(paste_back(image, np.zeros((8, 8, 3)), (30, 30, 10, 10)), image)


# --- whole image, no distortion ----------------------------------------------------------------

def _blob_aspect(image):
    """Width / height of the bounding box of the dark pixels."""
    ys, xs = np.nonzero(image.mean(axis=2) < 0.5)
    return (xs.max() - xs.min() + 1) / (ys.max() - ys.min() + 1)


@pytest.mark.parametrize("shape", [(60, 100), (100, 60)])
@pytest.mark.parametrize("mode", ["pad", "center"])
def test_fit_square_keeps_circles_round(shape, mode):
    image = np.ones(shape + (3,), np.float32)
    cv2.circle(image, (shape[1] // 2, shape[0] // 2), 20, (0, 0, 0), -1)
    square = fit_square(image, 64, mode)
    assert square.shape == (64, 64, 3) and square.dtype == np.float32
    assert abs(_blob_aspect(square) - 1) < 0.1
    back = unfit_square(square, image.shape, mode)
    assert abs(_blob_aspect(back) - 1) < 0.1
    if mode == "pad":
        assert back.shape == image.shape and np.abs(back - image).mean() < 0.03
    else:
        side = min(shape)
        assert back.shape == (side, side, 3)
        top, left = (shape[0] - side) // 2, (shape[1] - side) // 2
        assert np.abs(back - image[top:top + side, left:left + side]).mean() < 0.03


def test_fit_square_padding_values_and_exact_inverse():
    image = _smooth_image(60, 100)
    square = fit_square(image, 100, "pad")
    np.testing.assert_array_equal(square[20:80], image)
    np.testing.assert_array_equal(square[:20], np.repeat(image[:1], 20, axis=0))
    np.testing.assert_array_equal(square[80:], np.repeat(image[-1:], 20, axis=0))
    np.testing.assert_array_equal(unfit_square(square, image.shape), image)
    grey = fit_square(image, 100, "pad", fill=0.25)
    np.testing.assert_array_equal(grey[:20], 0.25)
    np.testing.assert_array_equal(grey[20:80], image)
    portrait = _smooth_image(90, 40)
    np.testing.assert_array_equal(unfit_square(fit_square(portrait, 90, "pad", fill=0), portrait.shape), portrait)
    centre = fit_square(image, 60, "center")
    np.testing.assert_array_equal(centre, image[:, 20:80])
    np.testing.assert_array_equal(unfit_square(centre, image.shape, "center"), image[:, 20:80])
    with pytest.raises(InputError, match="pad/center"):
        fit_square(image, 64, "stretch")
    with pytest.raises(InputError, match="fill"):
        fit_square(image, 64, "pad", fill=2)


# --- the driving video -------------------------------------------------------------------------

def test_driving_face_box_covers_the_moving_face():
    frames = [_faces_image(240, 320, [(150 + 4 * t, 120 + 2 * t, 1.0)]) for t in range(6)]
    box = driving_face_box(frames, detector=HAAR)
    x, y, side, side2 = box
    assert side == side2
    for frame in frames:
        (face,) = detect_faces(frame, HAAR)
        sx, sy, ss, _ = square_box(face, frame.shape)
        assert x <= sx and y <= sy and sx + ss <= x + side and sy + ss <= y + side
    assert side <= 1.3 * square_box(detect_faces(frames[0], HAAR)[0], frames[0].shape)[2]


def test_driving_face_box_streams_and_handles_no_face(rng):
    read = []

    def noise():
        for t in range(100):
            read.append(t)
            yield rng.uniform(0, 1, (64, 64, 3)).astype(np.float32)

    assert driving_face_box(noise(), max_frames=5, detector=HAAR) is None
    assert len(read) == 5
    with pytest.raises(InputError, match="one size"):
        driving_face_box([np.zeros((32, 32, 3)), np.zeros((32, 40, 3))])


def test_driving_face_box_ignores_outlier_detections(monkeypatch):
    script = iter([[(100, 100, 50, 50)], [(104, 102, 50, 50)], [], [(10, 10, 20, 20)], [(102, 98, 52, 52)]])
    monkeypatch.setattr(face_crop, "detect_faces", lambda frame, detector, min_size_fraction: next(script))
    frames = [np.zeros((300, 300, 3), np.uint8)] * 5
    box = driving_face_box(frames, margin=0, detector=HAAR)
    assert box == (100, 98, 54, 54)  # union of the three consistent squares only


# --- detectors ---------------------------------------------------------------------------------

def test_face_box_from_landmarks_is_a_square_over_the_brows():
    from ppgan.detectors import Face
    landmarks = np.array([[100.0, 100.0], [200.0, 100.0], [150.0, 200.0]])  # extent 100 x 100, centre (150, 150)
    x, y, w, h = face_crop.face_box(Face((0, 0, 5, 5), 1.0, landmarks))
    assert w == h == 114 and x + w / 2 == 150 and y + h / 2 == 134  # 1.14x the extent, raised 0.16 of it
    assert face_crop.face_box(Face((3, 4, 50, 60), 1.0)) == (3, 4, 50, 60)


def test_auto_detector_falls_back_to_haar_once_without_dlib(monkeypatch, caplog):
    monkeypatch.setattr(face_crop, "dlib_installed", lambda: False)
    face_crop._built_detector.cache_clear()
    try:
        with caplog.at_level("INFO", logger="ppgan.apps"):
            detectors = [face_crop.face_detector("auto") for _ in range(3)]
        assert all(type(d).__name__ == "HaarFaceDetector" for d in detectors)
        assert sum("pip install 'ppgan-fomm[eval]'" in r.getMessage() for r in caplog.records) == 1
    finally:
        face_crop._built_detector.cache_clear()
    with pytest.raises(InputError, match="face detector must be one of auto, dlib, haar"):
        face_crop.face_detector("mtcnn")
