import copy
import logging
import os

import numpy as np
import paddle
import pytest

from ppgan.datasets import (
    DatasetRepeater,
    FramesDataset,
    PairedDataset,
    build_dataset,
    build_paired_dataset,
)
from ppgan.datasets.synthetic import make_video, write_dataset
from ppgan.utils.config import SECTIONS
from ppgan.utils.errors import ConfigError, InputError
from ppgan.utils.video import save_image, write_video

S = 32


def _cfg(root, **kw):
    cfg = copy.deepcopy(SECTIONS["dataset"])
    cfg.update(root_dir=str(root), frame_shape=[S, S, 3])
    cfg.update(kw)
    return cfg


@pytest.fixture(scope="module")
def split_root(tmp_path_factory):
    """train/ with 2 identities x 2 chunks, test/ with 3 videos (png strips, 32x32, 5 frames)."""
    root = tmp_path_factory.mktemp("split")
    write_dataset(str(root / "data"), size=S, num_train=4, num_test=3, chunks_per_id=2, num_frames=5)
    return root / "data"


@pytest.fixture
def flat_root(tmp_path):
    """Ten strips directly in the root folder: 5 identities x 2 chunks, no train/ or test/."""
    for ident in range(5):
        for chunk in range(2):
            save_image(str(tmp_path / ("p%d#%d.png" % (ident, chunk))),
                       np.concatenate(list(make_video(1, ident, chunk, 3, S)), axis=1))
    return tmp_path


@pytest.fixture
def ds_log(caplog):
    """Capture the dataset logger even after a CLI has made the 'ppgan' logger stop propagating."""
    root = logging.getLogger("ppgan")
    propagate, root.propagate = root.propagate, True
    caplog.set_level(logging.WARNING, logger="ppgan.datasets")
    yield caplog
    root.propagate = propagate


def test_root_dir_must_be_set_and_exist(tmp_path):
    with pytest.raises(ConfigError, match=r"dataset\.root_dir.*-o dataset\.root_dir=data/synthetic"):
        build_dataset(_cfg(None, root_dir=None), "train")
    with pytest.raises(ConfigError, match="dataset.root_dir.*does not exist"):
        build_dataset(_cfg(tmp_path / "missing"), "train")


def test_empty_folder(tmp_path):
    with pytest.raises(InputError, match="%s.*contains no videos" % tmp_path.name):
        build_dataset(_cfg(tmp_path), "train")


def test_bad_config_values(split_root):
    with pytest.raises(ConfigError, match="dataset.frame_shape"):
        build_dataset(_cfg(split_root, frame_shape=[S, S, 1]), "train")
    with pytest.raises(ConfigError, match="dataset.test_size"):
        build_dataset(_cfg(split_root, test_size=1.5), "train")
    with pytest.raises(ConfigError, match="unknown dataset 'Nope'"):
        build_dataset(_cfg(split_root, name="Nope"), "train")
    with pytest.raises(ConfigError, match="dataset.shuffle"):
        build_dataset(dict(_cfg(split_root), shuffle=True), "train")
    with pytest.raises(ConfigError, match="train.num_repeats"):
        build_dataset(_cfg(split_root), "train", num_repeats=0)
    with pytest.raises(ValueError):
        build_dataset(_cfg(split_root), "val")


def test_predefined_split_and_id_sampling(split_root):
    train = build_dataset(_cfg(split_root), "train")
    test = build_dataset(_cfg(split_root), "test")
    assert len(train) == 4 and len(test) == 3
    assert test.videos == ["face2#0.png", "face2#1.png", "face3#0.png"]
    by_id = build_dataset(_cfg(split_root, id_sampling=True), "train")
    assert len(by_id) == 2 and by_id.ids == ["face0", "face1"]
    np.random.seed(0)
    names = {by_id[1]["name"] for _ in range(12)}
    assert names == {"face1#0.png", "face1#1.png"}


def test_random_split(flat_root):
    train = build_dataset(_cfg(flat_root), "train")
    test = build_dataset(_cfg(flat_root), "test")
    assert len(train) == 8 and len(test) == 2
    assert sorted(train.videos + test.videos) == sorted(os.listdir(flat_root))
    assert build_dataset(_cfg(flat_root), "test").videos == test.videos  # seeded
    other = {tuple(build_dataset(_cfg(flat_root, random_seed=s), "test").videos) for s in range(1, 6)}
    assert len(other | {tuple(test.videos)}) > 1
    # with id_sampling identities, not videos, are split: nobody is in both parts
    train_ids = build_dataset(_cfg(flat_root, id_sampling=True, test_size=0.4), "train")
    test_ids = build_dataset(_cfg(flat_root, id_sampling=True, test_size=0.4), "test")
    assert len(train_ids) == 3 and len(test_ids) == 4
    assert not set(train_ids.ids) & {v.split("#")[0] for v in test_ids.videos}


def test_train_item_and_resize(split_root):
    ds = build_dataset(_cfg(split_root, frame_shape=[24, 24, 3]), "train")
    item = ds[0]
    assert set(item) == {"source", "driving", "name"}
    for key in ("source", "driving"):
        assert item[key].shape == (3, 24, 24) and item[key].dtype == np.float32
        assert 0 <= item[key].min() and item[key].max() <= 1


def test_augmentation_is_applied_alike_to_source_and_driving(tmp_path):
    frame = np.zeros((S, S, 3), np.uint8)
    frame[4:12, 2:10] = (250, 30, 30)  # a red block on the left: mirrored it moves right
    save_image(str(tmp_path / "still.png"), np.concatenate([frame] * 4, axis=1))
    cfg = _cfg(tmp_path, test_size=0.0)
    cfg["augmentation_params"]["flip_param"]["horizontal_flip"] = True
    cfg["augmentation_params"]["jitter_param"].update(brightness=0.2, hue=0.1)
    cfg["augmentation_params"]["rotation_param"]["degrees"] = 15
    ds = build_dataset(cfg, "train")
    np.random.seed(0)
    sides = set()
    for _ in range(10):
        item = ds[0]
        np.testing.assert_array_equal(item["source"], item["driving"])
        sides.add(bool(item["source"][0][:, S // 2:].sum() > item["source"][0][:, :S // 2].sum()))
    assert sides == {True, False}  # flipped sometimes, and then both frames


def test_broken_video_is_logged_and_replaced(tmp_path, ds_log):
    good = make_video(0, 0, 0, 4, S)
    write_video(str(tmp_path / "good.mp4"), good, fps=10)
    save_image(str(tmp_path / "good2.png"), np.concatenate(list(good), axis=1))
    (tmp_path / "broken.mp4").write_bytes(os.urandom(4096))
    ds = build_dataset(_cfg(tmp_path, test_size=0.0), "train")
    assert ds.videos == ["broken.mp4", "good.mp4", "good2.png"]
    np.random.seed(0)
    item = ds[0]
    assert item["name"] in ("good.mp4", "good2.png") and item["source"].shape == (3, S, S)
    warnings = [r for r in ds_log.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "broken.mp4" in warnings[0].getMessage()
    assert ds[0]["name"] != "broken.mp4"
    assert "broken.mp4" in ds.broken


def test_all_videos_broken(tmp_path, ds_log):
    for i in range(2):
        (tmp_path / ("bad%d.mp4" % i)).write_bytes(os.urandom(1024))
    ds = build_dataset(_cfg(tmp_path, test_size=0.0), "train")
    with pytest.raises(InputError, match="bad0.mp4.*bad1.mp4"):
        ds[0]


def test_every_video_format_in_one_dataset(tmp_path):
    video = make_video(0, 1, 0, 4, S)
    write_video(str(tmp_path / "a.mp4"), video, fps=10)
    write_video(str(tmp_path / "b.gif"), video, fps=10)
    save_image(str(tmp_path / "c.png"), np.concatenate(list(video), axis=1))
    (tmp_path / "d").mkdir()
    for i, f in enumerate(video):
        save_image(str(tmp_path / "d" / ("%d.png" % i)), f)
    ds = build_dataset(_cfg(tmp_path, test_size=0.0), "train")
    assert ds.videos == ["a.mp4", "b.gif", "c.png", "d"]
    test = FramesDataset(str(tmp_path), frame_shape=[S, S, 3], is_train=False, test_size=0.99)
    assert len(test) == 4
    for i in range(4):
        assert ds[i]["source"].shape == (3, S, S)
        assert test.num_frames(i) == 4
        assert np.abs(test[i]["video"] - video.transpose(0, 3, 1, 2) / 255.0).mean() < 0.05


def test_test_mode_streams_videos(split_root):
    ds = build_dataset(_cfg(split_root), "test")
    assert ds.video_name(0) == "face2#0.png" and ds.num_frames(0) == 5
    frames = list(ds.iter_frames(0))
    assert len(frames) == 5 and frames[0].shape == (3, S, S) and frames[0].dtype == np.float32
    item = ds[0]
    assert item["video"].shape == (5, 3, S, S) and item["name"] == "face2#0.png"
    np.testing.assert_array_equal(item["video"][2], frames[2])


def test_dataloader_batches(split_root):
    ds = build_dataset(_cfg(split_root), "train", num_repeats=2)
    assert isinstance(ds, DatasetRepeater) and len(ds) == 8
    batches = list(paddle.io.DataLoader(ds, batch_size=2, shuffle=True, num_workers=0, drop_last=True))
    assert len(batches) == 4
    batch = batches[0]
    assert list(batch["source"].shape) == [2, 3, S, S] and list(batch["driving"].shape) == [2, 3, S, S]
    assert str(batch["source"].dtype).endswith("float32")
    assert isinstance(batch["name"], list) and len(batch["name"]) == 2


def test_repeater_wraps():
    rep = DatasetRepeater(list("abc"), 3)
    assert len(rep) == 9 and rep[4] == "b"


def test_random_pairs(split_root):
    test = build_dataset(_cfg(split_root), "test")
    pairs = PairedDataset(test, 100, seed=0)
    assert len(pairs) == 6  # every ordered pair of 3 distinct videos
    assert sorted(pairs.pairs()) == [(s, d) for s in range(3) for d in range(3) if s != d]
    few = PairedDataset(test, 2, seed=1).pairs()
    assert few == PairedDataset(test, 2, seed=1).pairs() and len(few) == 2
    item = PairedDataset(test, 1)[0]
    assert item["source_video"].shape == (5, 3, S, S) and item["source_name"] != item["driving_name"]


def test_pairs_from_csv(split_root, tmp_path, ds_log):
    test = build_dataset(_cfg(split_root), "test")
    csv = tmp_path / "pairs.csv"
    csv.write_text("source,driving\nface3#0.png,face2#0.png\nother#1.mp4,face2#0.png\nface2#1,face3#0\n"
                   "face2#0.png,face2#1.png\n")
    cfg = _cfg(split_root, pairs_list=str(csv))
    assert build_paired_dataset(cfg, test, 10).pairs() == [(2, 0), (1, 2), (0, 1)]
    assert PairedDataset(test, 2, pairs_list=str(csv)).pairs() == [(2, 0), (1, 2)]
    with pytest.raises(InputError, match="missing.csv.*does not exist"):
        PairedDataset(test, 2, pairs_list=str(tmp_path / "missing.csv"))
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\nx,y\n")
    with pytest.raises(InputError, match="source,driving"):
        PairedDataset(test, 2, pairs_list=str(bad))


@pytest.fixture(scope="module")
def region_root(tmp_path_factory):
    """A synthetic dataset with its eye and mouth regions (write_dataset(regions=True))."""
    root = tmp_path_factory.mktemp("regions") / "data"
    write_dataset(str(root), size=S, num_train=4, num_test=2, chunks_per_id=2, num_frames=5, regions=True)
    return root


def test_region_maps_come_with_their_frames(region_root):
    cfg = _cfg(region_root, region_dir=str(region_root / "regions"))
    cfg["augmentation_params"]["flip_param"].update(horizontal_flip=True, time_flip=True)
    cfg["augmentation_params"]["jitter_param"].update(brightness=0.3, hue=0.2)
    ds = build_dataset(cfg, "train")
    np.random.seed(0)
    for _ in range(6):
        item = ds[np.random.randint(len(ds))]
        assert set(item) == {"source", "driving", "name", "source_region", "driving_region"}
        for key in ("source_region", "driving_region"):
            region = item[key]
            assert region.shape == (1, S, S) and region.dtype == np.float32
            assert 0 < region.mean() < 0.2 and set(np.unique(region)) <= {0.0, 1.0}  # eyes and mouth, unblurred
    # the maps are those the renderer draws, flipped with their frames: the eyes are above the mouth, and the
    # region is where a blink or mouth change alters the face (a test set needs none)
    rows = np.nonzero(item["driving_region"][0].any(axis=1))[0]
    assert rows.min() < S // 2 < rows.max()
    assert "source_region" not in build_dataset(dict(cfg), "test")[0] and build_dataset(cfg, "test").region_dir is None


def test_region_maps_must_exist_for_every_training_video(region_root, tmp_path):
    with pytest.raises(ConfigError, match="dataset.region_dir.*does not exist.*--regions"):
        build_dataset(_cfg(region_root, region_dir=str(tmp_path / "none")), "train")
    partial = tmp_path / "partial"
    (partial / "train").mkdir(parents=True)
    first = sorted(os.listdir(region_root / "regions" / "train"))[0]
    (partial / "train" / first).write_bytes((region_root / "regions" / "train" / first).read_bytes())
    with pytest.raises(ConfigError, match="dataset.region_dir.*no region video for 3 of the 4.*face0#1.png"):
        build_dataset(_cfg(region_root, region_dir=str(partial)), "train")


def test_a_region_video_of_another_length_skips_its_video(region_root, tmp_path, ds_log):
    regions = tmp_path / "regions" / "train"
    regions.mkdir(parents=True)
    for name in os.listdir(region_root / "regions" / "train"):
        (regions / name).write_bytes((region_root / "regions" / "train" / name).read_bytes())
    save_image(str(regions / "face0#0.png"), np.zeros((S, 3 * S, 3), np.uint8))
    ds = build_dataset(_cfg(region_root, region_dir=str(tmp_path / "regions")), "train")
    np.random.seed(1)
    names = {ds[i % len(ds)]["name"] for i in range(12)}
    assert "face0#0.png" not in names and "face0#0.png" in ds.broken
    assert "has 3 frames, its video 5" in ds.broken["face0#0.png"]


@pytest.fixture(scope="module")
def landmark_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("landmarks") / "data"
    write_dataset(str(root), size=S, num_train=4, num_test=2, chunks_per_id=2, num_frames=5, regions=True,
                  landmarks=True)
    return root


def test_landmarks_come_with_their_frames_through_the_flips(landmark_root):
    from ppgan.datasets.synthetic import LANDMARKS
    cfg = _cfg(landmark_root, region_dir=str(landmark_root / "regions"), landmark_dir=str(landmark_root / "landmarks"))
    cfg["augmentation_params"]["flip_param"].update(horizontal_flip=True, time_flip=True)
    cfg["augmentation_params"]["jitter_param"].update(brightness=0.2)
    ds = build_dataset(cfg, "train")
    np.random.seed(3)
    for _ in range(8):
        item = ds[np.random.randint(len(ds))]
        for frame in ("source", "driving"):
            points = item[frame + "_landmarks"]
            assert points.shape == (len(LANDMARKS), 2) and points.dtype == np.float32
            region = item[frame + "_region"][0]
            for name in ("left_upper_lid", "right_upper_lid", "lower_lip"):
                x, y = points[LANDMARKS.index(name)]
                col, row = int(round((x + 1) / 2 * (S - 1))), int(round((y + 1) / 2 * (S - 1)))
                assert region[max(row - 1, 0):row + 2, max(col - 1, 0):col + 2].any(), (name, item["name"])
            # left stays left of right, whichever way the frame was mirrored
            assert points[LANDMARKS.index("left_upper_lid"), 0] < points[LANDMARKS.index("right_upper_lid"), 0]


def test_landmark_files_are_checked(landmark_root, tmp_path, ds_log):
    cfg = _cfg(landmark_root, landmark_dir=str(landmark_root / "landmarks"))
    cfg["augmentation_params"]["rotation_param"]["degrees"] = 10
    with pytest.raises(ConfigError, match="dataset.landmark_dir.*flips and colour jitter only"):
        build_dataset(cfg, "train")
    with pytest.raises(ConfigError, match="dataset.landmark_dir.*does not exist.*--landmarks"):
        build_dataset(_cfg(landmark_root, landmark_dir=str(tmp_path / "none")), "train")
    bad = tmp_path / "bad" / "train"
    bad.mkdir(parents=True)
    for name in os.listdir(landmark_root / "landmarks" / "train"):
        (bad / name).write_bytes((landmark_root / "landmarks" / "train" / name).read_bytes())
    np.savez(str(bad / "face0#0.png.npz"), points=np.zeros((3, 11, 2), np.float32), flip=np.arange(11))
    (bad / "face0#1.png.npz").write_bytes(b"not a zip")
    ds = build_dataset(_cfg(landmark_root, landmark_dir=str(tmp_path / "bad")), "train")
    np.random.seed(0)
    names = {ds[i % len(ds)]["name"] for i in range(12)}
    assert not names & {"face0#0.png", "face0#1.png"}
    assert "must hold points (5, N, 2)" in ds.broken["face0#0.png"]
    assert "cannot read landmark file" in ds.broken["face0#1.png"]
