"""AKD, MKR and AED per frame and pooled, against a straightforward re-implementation of the authors' averaging
(pose-evaluation's cmp_kp.py, cmp_with_missing.py and cmp.py: loops over the rows of all videos' frames)."""
import numpy as np
import pytest

from ppgan.metrics.keypoints import (METRICS, embedding_distance, keypoint_distance, mean_over_frames,
                                     missing_keypoint_rate)


def _authors_cmp_kp(real, generated):
    """cmp_kp.py: frames where the generated keypoints are None are skipped; mean |difference| per frame."""
    scores = []
    for gt, prediction in zip(real, generated):
        if prediction is not None:
            scores.append(np.mean(np.abs(gt - prediction).astype(float)))
    return np.mean(scores)


def _authors_cmp_with_missing(real, generated):
    """cmp_with_missing.py for 18 keypoints, -1 in x marking a missing one."""
    scores, missing = [], []
    for gt, prediction in zip(real, generated):
        missing_gt = gt[:, 0] == -1
        missing_prediction = prediction[:, 0] == -1
        present = np.logical_and(np.logical_not(missing_gt), np.logical_not(missing_prediction))
        prediction_fail = np.logical_and(np.logical_not(missing_gt), missing_prediction)
        present_gt = 18 - missing_gt.sum()
        if present_gt.sum() != 0:
            missing.append(prediction_fail.sum() / present_gt)
        if present.sum() != 0:
            scores.append(np.mean(np.abs(gt[present] - prediction[present]).astype(float)))
    return np.mean(scores), np.mean(missing)


def _authors_cmp(real, generated):
    """cmp.py: the mean over frames of the summed squared differences."""
    return np.mean([np.sum(np.abs(a - b).astype(float) ** 2) for a, b in zip(real, generated)])


@pytest.fixture
def bodies():
    rng = np.random.RandomState(3)
    real = rng.uniform(0, 256, (40, 18, 2))
    generated = real + rng.normal(0, 4, real.shape)
    real[rng.uniform(size=(40, 18)) < 0.2] = -1
    generated[rng.uniform(size=(40, 18)) < 0.3] = -1
    real[5] = -1  # no person in the real frame: no MKR value
    generated[7] = -1  # nothing found in the generated frame: no AKD value
    return real, generated


def test_body_akd_and_mkr_equal_the_authors_averaging(bodies):
    real, generated = bodies
    akd = mean_over_frames([keypoint_distance(r, g) for r, g in zip(real, generated)])
    mkr = mean_over_frames([missing_keypoint_rate(r, g) for r, g in zip(real, generated)])
    authors_akd, authors_mkr = _authors_cmp_with_missing(real, generated)
    assert akd == pytest.approx(authors_akd, abs=1e-12) and mkr == pytest.approx(authors_mkr, abs=1e-12)
    assert np.isnan(missing_keypoint_rate(real[5], generated[5])) and np.isnan(keypoint_distance(real[7], generated[7]))


def test_face_akd_equals_cmp_kp_with_missing_faces():
    rng = np.random.RandomState(4)
    real = rng.uniform(0, 256, (30, 68, 2))
    generated = real + rng.normal(0, 3, real.shape)
    generated[[2, 9]] = -1  # the generated frame has no face: cmp_kp's None
    ours = mean_over_frames([keypoint_distance(r, g) for r, g in zip(real, generated)])
    authors = _authors_cmp_kp(list(real), [None if (g[:, 0] == -1).all() else g for g in generated])
    assert ours == pytest.approx(authors, abs=1e-12)
    mkr = mean_over_frames([missing_keypoint_rate(r, g) for r, g in zip(real, generated)])
    assert mkr == pytest.approx(2 / 30)  # a missing face is 68 missing keypoints


def test_aed_is_the_squared_distance_and_skips_missing_embeddings():
    rng = np.random.RandomState(5)
    real, generated = rng.normal(size=(20, 128)), rng.normal(size=(20, 128))
    ours = mean_over_frames([embedding_distance(r, g) for r, g in zip(real, generated)])
    assert ours == pytest.approx(_authors_cmp(real, generated), abs=1e-12)
    assert embedding_distance(np.zeros(3), np.array([3.0, 4.0, 0.0])) == 25.0  # squared, not 5
    generated[3] = np.nan
    assert mean_over_frames([embedding_distance(r, g) for r, g in zip(real, generated)]) == pytest.approx(
        _authors_cmp(np.delete(real, 3, 0), np.delete(generated, 3, 0)), abs=1e-12)


def test_shift_gives_the_shift_and_identity_gives_zero():
    points = np.random.RandomState(6).uniform(0, 100, (68, 2))
    assert keypoint_distance(points, points + (3, 3)) == pytest.approx(3.0)
    assert keypoint_distance(points, points + (4, 0)) == pytest.approx(2.0)  # mean of |dx| and |dy|
    assert keypoint_distance(points, points) == 0 and missing_keypoint_rate(points, points) == 0


def test_mean_over_frames_and_shapes():
    assert np.isnan(mean_over_frames([np.nan, np.nan])) and np.isnan(mean_over_frames([]))
    assert mean_over_frames([1.0, np.nan, 3.0]) == 2.0
    with pytest.raises(ValueError, match=r"\(K, 2\)"):
        keypoint_distance(np.zeros(4), np.zeros(4))
    assert set(METRICS.names()) == {"l1", "akd", "mkr", "aed"}


def test_l1_is_the_mean_absolute_difference_in_unit_range():
    a = np.zeros((4, 4, 3), np.uint8)
    b = np.full((4, 4, 3), 51, np.uint8)
    assert METRICS.get("l1")().frame_value(a, b) == pytest.approx(0.2)
