import numpy as np
import pytest

from ppgan.datasets.transforms import (
    AllAugmentationTransform,
    ColorJitter,
    RandomCrop,
    RandomFlip,
    RandomResize,
    RandomRotation,
    build_transform,
)
from ppgan.utils.config import SECTIONS
from ppgan.utils.errors import ConfigError

SHAPE = (20, 24, 3)


def _frames(n=2, seed=0):
    rng = np.random.RandomState(seed)
    return [rng.rand(*SHAPE).astype(np.float32) for _ in range(n)]


def _params(**sections):
    params = {k: dict(v) for k, v in SECTIONS["dataset"]["augmentation_params"].items()}
    for key, value in sections.items():
        params[key].update(value)
    return params


def _all_on(jitter=0.1):
    """Every augmentation switched on (colour jitter of `jitter`, its hue at most 0.2)."""
    return _params(flip_param={"horizontal_flip": True, "time_flip": True},
                   jitter_param={"brightness": jitter, "contrast": jitter, "saturation": jitter,
                                 "hue": min(jitter, 0.2)},
                   crop_param={"size": [16, 16]}, resize_param={"ratio": [0.9, 1.1]},
                   rotation_param={"degrees": 10})


def test_defaults_disable_everything():
    assert build_transform(SECTIONS["dataset"]["augmentation_params"], SHAPE) is None
    assert build_transform(None, SHAPE) is None
    assert build_transform(_params(rotation_param={"degrees": 0}, resize_param={"ratio": None}), SHAPE) is None


def test_horizontal_flip_is_shared():
    frames = _frames()
    flip = RandomFlip(horizontal_flip=True)
    seen = set()
    for seed in range(12):
        out = flip(frames, np.random.RandomState(seed))
        flipped = [np.array_equal(o, f[:, ::-1]) for o, f in zip(out, frames)]
        kept = [np.array_equal(o, f) for o, f in zip(out, frames)]
        assert flipped == [True, True] or kept == [True, True]
        seen.add(flipped[0])
    assert seen == {True, False}


def test_time_flip_swaps_source_and_driving():
    frames = _frames()
    outs = [RandomFlip(time_flip=True)(frames, np.random.RandomState(s)) for s in range(12)]
    assert any(o[0] is frames[1] for o in outs) and any(o[0] is frames[0] for o in outs)


@pytest.mark.parametrize("transform", [
    ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.2),
    RandomRotation(degrees=30),
    RandomResize(ratio=[0.6, 0.6]),
    RandomResize(ratio=[1.3, 1.5]),
    RandomCrop(size=[10, 12], frame_shape=SHAPE),
])
def test_each_transform_keeps_size_and_treats_frames_alike(transform):
    frame = _frames(1)[0]
    out = transform([frame, frame.copy()], np.random.RandomState(3))
    assert all(o.shape == SHAPE for o in out)
    np.testing.assert_array_equal(out[0], out[1])
    assert not np.allclose(out[0], frame)
    assert 0 <= out[0].min() and out[0].max() <= 1


def test_full_pipeline_is_deterministic_given_rng_and_shared_across_frames():
    params = _all_on()
    t = build_transform(params, SHAPE)
    assert isinstance(t, AllAugmentationTransform) and len(t.transforms) == 5
    frame = _frames(1)[0]
    a = t([frame, frame], np.random.RandomState(7))
    b = t([frame, frame], np.random.RandomState(7))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[0], a[1])
    assert a[0].dtype == np.float32 and a[0].shape == SHAPE


def test_global_rng_is_used_without_one():
    np.random.seed(1)
    a = RandomRotation(degrees=45)(_frames(1))
    np.random.seed(1)
    b = RandomRotation(degrees=45)(_frames(1))
    np.testing.assert_array_equal(a[0], b[0])


@pytest.mark.parametrize("params,path", [
    ({"crop_param": {"size": [40, 40]}}, "augmentation_params.crop_param.size"),
    ({"resize_param": {"ratio": [1.2, 0.8]}}, "augmentation_params.resize_param.ratio"),
    ({"jitter_param": {"hue": 0.7}}, "augmentation_params.jitter_param.hue"),
    ({"jitter_param": {"brightness": -1}}, "augmentation_params.jitter_param.brightness"),
    ({"flip_param": {"vertical_flip": True}}, "augmentation_params.flip_param.vertical_flip"),
    ({"blur_param": {}}, "augmentation_params.blur_param"),
])
def test_bad_values_name_their_key(params, path):
    with pytest.raises(ConfigError) as info:
        build_transform(params, SHAPE)
    assert info.value.key_path == path


def test_extra_channels_move_with_the_frame_and_are_not_recoloured():
    """A region map carried as a 4th channel follows every geometric transform and no colour jitter."""
    params = _all_on(jitter=0.3)
    t = build_transform(params, SHAPE)
    frames = _frames(2, seed=3)
    with_map = [np.concatenate([f, f[:, :, :1]], axis=2) for f in frames]  # the map: a copy of the red channel
    plain = t(frames, np.random.RandomState(5))
    carried = t(with_map, np.random.RandomState(5))
    geometric = AllAugmentationTransform(SHAPE, **{k: v for k, v in params.items() if k != "jitter_param"})
    moved = geometric(frames, np.random.RandomState(5))
    for p, c, m in zip(plain, carried, moved):
        assert c.shape == SHAPE[:2] + (4,)
        np.testing.assert_allclose(c[:, :, :3], p, atol=1e-6)        # the colours as without the map
        np.testing.assert_allclose(c[:, :, 3], m[:, :, 0], atol=1e-6)  # the map moved, not jittered
    assert not np.allclose(plain[0][:, :, 0], moved[0][:, :, 0])


def test_flips_carry_landmarks_and_swap_left_and_right():
    frames = _frames(2, seed=4)
    points = [np.array([[-0.5, 0.1], [0.5, 0.2], [0.0, 0.7]], np.float32),
              np.array([[-0.4, 0.1], [0.6, 0.2], [0.1, 0.7]], np.float32)]
    flip_order = [1, 0, 2]   # points 0 and 1 are a left/right pair
    mirror = RandomFlip(horizontal_flip=True)
    seen = set()
    for seed in range(8):
        out, moved = mirror(frames, np.random.RandomState(seed), (points, flip_order))
        flipped = not np.array_equal(out[0], frames[0])
        seen.add(flipped)
        if flipped:
            np.testing.assert_array_equal(out[0], frames[0][:, ::-1])
            # the left point of the mirrored frame is the old right one, mirrored
            np.testing.assert_allclose(moved[0], [[-0.5, 0.2], [0.5, 0.1], [0.0, 0.7]])
        else:
            np.testing.assert_array_equal(moved[1], points[1])
    assert seen == {True, False}
    reverse = RandomFlip(time_flip=True)
    for seed in range(8):
        out, moved = reverse(frames, np.random.RandomState(seed), (points, flip_order))
        assert (out[0] is frames[1] or np.array_equal(out[0], frames[1])) == (moved[0] is points[1])
    assert build_transform(_params(flip_param={"horizontal_flip": True}), SHAPE).moves_points()
    assert not build_transform(_all_on(), SHAPE).moves_points()   # rotation, resize and crop do not (yet)
