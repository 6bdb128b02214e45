import inspect

import numpy as np
import pytest

from ppgan.datasets import synthetic
from ppgan.datasets.cross_identity import (CROSS_IDENTITY_SEED, EXPRESSION_KEYS, REGION_THRESHOLD,
                                           cross_identity_pair, cross_identity_set, frame_motion, region_masks,
                                           still_expression)
from ppgan.utils.errors import InputError


@pytest.fixture(scope="module")
def pair():
    return cross_identity_pair(CROSS_IDENTITY_SEED, 1, num_frames=12, size=64)


def test_pairs_are_deterministic(pair):
    again = cross_identity_pair(CROSS_IDENTITY_SEED, 1, num_frames=12, size=64)
    for key in ("source", "driving", "truth", "eyes", "mouth", "face"):
        np.testing.assert_array_equal(pair[key], again[key])
    other = cross_identity_pair(CROSS_IDENTITY_SEED, 2, num_frames=12, size=64)
    assert not np.array_equal(pair["truth"], other["truth"])


def test_source_driving_and_truth_are_the_two_identities_with_one_motion(pair):
    assert pair["source"].shape == (64, 64, 3) and pair["source"].dtype == np.uint8
    assert pair["driving"].shape == pair["truth"].shape == (12, 64, 64, 3)
    np.testing.assert_array_equal(pair["truth"][0], pair["source"])
    # the driving video is identity B's own video, as the synthetic dataset draws it
    np.testing.assert_array_equal(pair["driving"], synthetic.make_video(CROSS_IDENTITY_SEED, 3, 0, 12, 64))
    # the truth is identity A moving as B does: another look, the same motion
    assert np.abs(pair["truth"].astype(float) - pair["driving"]).mean() > 20
    truth_steps = np.abs(np.diff(pair["truth"].astype(float), axis=0)).mean(axis=(1, 2, 3))
    assert truth_steps.min() > 0


def test_region_masks_are_nonempty_inside_the_face_and_apart(pair):
    for region in ("eyes", "mouth"):
        mask = pair[region]
        assert mask.shape == (12, 64, 64) and mask.dtype == bool
        assert mask.sum(axis=(1, 2)).min() >= 6
        assert not (mask & ~pair["face"]).any()
    assert not (pair["eyes"] & pair["mouth"]).any()
    # the eyes are above the mouth in the face's own frame: at small tilts, in the image too
    for t in range(12):
        if abs(pair["motion"]["angle"][t]) < 20:
            eye_rows, mouth_rows = np.nonzero(pair["eyes"][t])[0], np.nonzero(pair["mouth"][t])[0]
            assert eye_rows.mean() < mouth_rows.mean()


def test_masks_hold_every_pixel_an_eye_or_mouth_change_alters(pair):
    identity, motion = pair["identities"]["A"], pair["motion"]
    masks = region_masks(identity, motion, 5, 64)
    for region, key in (("eyes", "eyes_open"), ("mouth", "mouth_open")):
        for value in (0.0, 0.3, 0.7, 1.0):
            changed = synthetic.render_face(identity, frame_motion(motion, 5, **{key: value}), 0, 64)
            moved = (np.abs(changed.astype(int) - pair["truth"][5]) > REGION_THRESHOLD).any(axis=2)
            assert not (moved & ~masks[region]).any(), (region, value)


def test_the_held_out_seed_is_used_by_nothing_else():
    defaults = (inspect.signature(synthetic.write_dataset).parameters["seed"].default,
                inspect.signature(synthetic.write_demo_samples).parameters["seed"].default)
    assert CROSS_IDENTITY_SEED not in defaults + (4321,)   # training, demo samples, the shipped-model tests
    assert len(list(cross_identity_set(2, num_frames=3, size=32, masks=False))) == 2
    with pytest.raises(InputError, match="num_frames"):
        cross_identity_pair(CROSS_IDENTITY_SEED, 0, num_frames=0)


def test_still_expression_keeps_the_pose_and_holds_the_face_at_frame_0(pair):
    motion = pair["motion"]
    still = still_expression(motion)
    assert set(still) == set(motion) and set(EXPRESSION_KEYS) < set(motion)
    for key, values in motion.items():
        if key in EXPRESSION_KEYS:
            np.testing.assert_array_equal(still[key], np.full_like(values, values[0]))
        else:
            np.testing.assert_array_equal(still[key], values)
    assert motion["eyes_open"].std() > 0      # the caller's motion is left as it was
    # drawn still, frame 0 is the source and later frames differ from the truth only where a feature moved
    identity = pair["identities"]["A"]
    np.testing.assert_array_equal(synthetic.render_face(identity, still, 0, 64), pair["source"])
    frame = int(np.argmax(np.abs(motion["mouth_open"] - motion["mouth_open"][0])))
    drawn = synthetic.render_face(identity, still, frame, 64).astype(int)
    changed = (np.abs(drawn - pair["truth"][frame]) > REGION_THRESHOLD).any(axis=2)
    assert changed.any() and not (changed & ~(pair["eyes"][frame] | pair["mouth"][frame])).any()
