"""Videos in a folder as training pairs and evaluation videos (the original FOMM's FramesDataset)."""
import csv
import math
import numbers
import os

import cv2
import numpy as np
import paddle

from ppgan.utils import video as vio
from ppgan.utils.errors import ConfigError, InputError
from ppgan.utils.logger import get_logger

from .builder import DATASETS
from .transforms import build_transform

logger = get_logger("ppgan.datasets")

_SET_ROOT = "set dataset.root_dir to a folder of videos, e.g. -o dataset.root_dir=data/synthetic " \
            "(make one with python tools/make_synthetic_dataset.py)"


def _check_frame_shape(frame_shape):
    if (not isinstance(frame_shape, (list, tuple)) or len(frame_shape) != 3
            or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in frame_shape)):
        raise ConfigError("must be [H, W, C] of positive integers, got %r" % (frame_shape,), "frame_shape")
    if frame_shape[2] != 3:
        raise ConfigError("only RGB frames (C = 3) are supported, got %r" % (list(frame_shape),), "frame_shape")
    return tuple(int(v) for v in frame_shape)


def list_videos(folder):
    """Sorted names of the entries of `folder` readable as videos (hidden entries and other files are ignored)."""
    names = [n for n in os.listdir(folder)
             if not n.startswith(".") and vio.source_kind(os.path.join(folder, n)) is not None]
    return sorted(names)


def video_id(name):
    """The identity of a video named `<id>#<chunk>[.ext]` (the whole stem when there is no '#')."""
    stem = name if "#" in name else os.path.splitext(name)[0]
    return stem.split("#")[0]


def split_videos(names, test_size, seed):
    """Seeded random (train, test) split of `names`; the test part has ceil(test_size * n) items."""
    names = sorted(names)
    order = np.random.RandomState(seed).permutation(len(names))
    n_test = math.ceil(test_size * len(names))
    test = sorted(names[i] for i in order[:n_test])
    train = sorted(names[i] for i in order[n_test:])
    return train, test


def _to_chw(frame):
    return np.ascontiguousarray(frame.transpose(2, 0, 1), dtype=np.float32)


@DATASETS.register()
class FramesDataset(paddle.io.Dataset):
    """Videos under `root_dir` (in `train/` and `test/`, or split at random) as frame pairs or whole videos.

    A video is a folder of frames, a video file, a gif or an image strip (see ppgan.utils.video).
    Train items are {"source", "driving": float32 (3, H, W) in [0, 1], "name": str}: two frames of one
    video drawn with replacement and sorted (as the original), resized to `frame_shape`, augmented
    alike. With `id_sampling` the videos are named `<id>#<chunk>` and item i is a random chunk of the
    i-th identity. A video that cannot be read is logged as a warning and replaced by another one.
    Test items are {"video": float32 (T, 3, H, W), "name": str}; `iter_frames(i)` streams them instead.
    `pairs_list` is kept for PairedDataset.

    `region_dir` (train only): a folder laid out as `root_dir` (its train/ part, or the same flat names) holding,
    for every training video, a video of the same name and length whose frames are region weights (the first
    channel, 0..255 -> 0..1; e.g. the eyes and mouth that `tools/make_synthetic_dataset.py --regions` draws). Train
    items then also hold "source_region" and "driving_region": float32 (1, H, W), moved by the same geometric
    augmentations as their frames and by no colour jitter. The region loss (`train.loss_weights.region`) reads them.

    `landmark_dir` (train only): laid out as `root_dir`, for every training video `<video name>.npz` holding
    `points`, (T, N, 2) float landmarks in keypoint coordinates ([-1, 1], NaN where unknown), and `flip`, the
    landmark order of a mirrored frame (e.g. `tools/make_synthetic_dataset.py --landmarks`). Train items then hold
    "source_landmarks" and "driving_landmarks": float32 (N, 2), flipped with their frames (flips and colour jitter
    only). The landmark loss (`train.loss_weights.landmark`) reads them.
    """

    max_retries = 10

    def __init__(self, root_dir, frame_shape=(256, 256, 3), id_sampling=False, is_train=True, random_seed=0,
                 test_size=0.2, pairs_list=None, augmentation_params=None, region_dir=None, landmark_dir=None):
        if root_dir is None or str(root_dir).strip() == "":
            raise ConfigError("is not set; " + _SET_ROOT, "root_dir")
        root_dir = os.fspath(root_dir)
        if not os.path.isdir(root_dir):
            raise ConfigError("folder '%s' does not exist; %s" % (root_dir, _SET_ROOT), "root_dir")
        self.frame_shape = _check_frame_shape(frame_shape)
        if (isinstance(test_size, bool) or not isinstance(test_size, numbers.Real)
                or not 0 <= test_size < 1):
            raise ConfigError("must be a fraction in [0, 1), got %r" % (test_size,), "test_size")
        if isinstance(random_seed, bool) or not isinstance(random_seed, numbers.Integral):
            raise ConfigError("must be an integer, got %r" % (random_seed,), "random_seed")
        self.is_train = bool(is_train)
        self.id_sampling = bool(id_sampling)
        self.pairs_list = pairs_list
        self.transform = build_transform(augmentation_params, self.frame_shape) if self.is_train else None
        self.root_dir, self.videos = self._select_videos(root_dir, float(test_size), int(random_seed))
        if self.is_train and self.id_sampling:
            by_id = {}
            for name in self.videos:
                by_id.setdefault(video_id(name), []).append(name)
            self.ids = sorted(by_id)
            self._chunks = by_id
        else:
            self.ids = None
        self._num_frames = {}
        self.broken = {}
        self.region_dir = (self._check_sidecars(region_dir, root_dir, "region_dir", "", "region video", "--regions")
                           if self.is_train and region_dir else None)
        self.landmark_dir = None
        self._landmark_files = {}
        if self.is_train and landmark_dir:
            if self.transform is not None and not self.transform.moves_points():
                raise ConfigError("landmarks follow flips and colour jitter only; switch rotation_param, "
                                  "resize_param and crop_param off, or set landmark_dir to null", "landmark_dir")
            self.landmark_dir = self._check_sidecars(landmark_dir, root_dir, "landmark_dir", ".npz", "landmark file",
                                                     "--landmarks")

    def _check_sidecars(self, sidecar_dir, root_dir, key, suffix, what, flag):
        """The folder of per-video files (`<video name><suffix>`) matching this dataset's videos: `sidecar_dir`
        with the part's subfolder."""
        folder = os.path.join(os.fspath(sidecar_dir), os.path.relpath(self.root_dir, root_dir))
        if not os.path.isdir(folder):
            raise ConfigError("folder '%s' does not exist; a synthetic dataset gets one from python "
                              "tools/make_synthetic_dataset.py %s; or set %s to null" % (folder, flag, key), key)
        missing = [name for name in self.videos if not os.path.exists(os.path.join(folder, name + suffix))]
        if missing:
            raise ConfigError("'%s' has no %s for %d of the %d training videos (first: %s); write them all, or set "
                              "%s to null" % (folder, what, len(missing), len(self.videos), missing[0] + suffix, key),
                              key)
        return folder

    def _landmarks(self, name, indices, total):
        """(points (len(indices), N, 2) float32, flip order) of video `name` at frame `indices` (each file is read
        once; a few hundred bytes a frame)."""
        if name not in self._landmark_files:
            self._landmark_files[name] = self._read_landmarks(name, total)
        points, flip = self._landmark_files[name]
        return points[indices], flip

    def _read_landmarks(self, name, total):
        path = os.path.join(self.landmark_dir, name + ".npz")
        try:
            with np.load(path, allow_pickle=False) as data:
                points, flip = np.asarray(data["points"], np.float32), [int(i) for i in data["flip"]]
        except (OSError, ValueError, KeyError) as e:
            raise InputError("cannot read landmark file '%s' (%s); write it again" % (path, e)) from None
        n = points.shape[1] if points.ndim == 3 else 0
        if points.ndim != 3 or points.shape[0] != total or points.shape[2] != 2 or sorted(flip) != list(range(n)):
            raise InputError("landmark file '%s' must hold points (%d, N, 2) and flip, an order of 0..N-1; got "
                             "points %s; write it again" % (path, total, points.shape))
        return points, flip

    def _select_videos(self, root_dir, test_size, seed):
        part = "train" if self.is_train else "test"
        has_train = os.path.isdir(os.path.join(root_dir, "train"))
        has_test = os.path.isdir(os.path.join(root_dir, "test"))
        if has_train or has_test:
            folder = os.path.join(root_dir, part)
            if not os.path.isdir(folder):
                raise InputError("dataset folder '%s' has a %s/ subfolder but no %s/; add it, or move the videos "
                                 "up into '%s' for a random split"
                                 % (root_dir, "train" if has_train else "test", part, root_dir))
            videos = list_videos(folder)
            if not videos:
                raise InputError("dataset folder '%s' contains no videos (folders of frames, %s, .gif or image "
                                 "strips)" % (folder, ", ".join(vio.VIDEO_EXTENSIONS)))
            return folder, videos
        videos = list_videos(root_dir)
        if not videos:
            raise InputError("dataset folder '%s' contains no videos (folders of frames, %s, .gif or image strips) "
                             "and no train/ and test/ subfolders" % (root_dir, ", ".join(vio.VIDEO_EXTENSIONS)))
        if self.id_sampling:
            # split identities, so no person appears in both parts
            train_ids, test_ids = split_videos({video_id(v) for v in videos}, test_size, seed)
            keep = set(train_ids if self.is_train else test_ids)
            chosen = [v for v in videos if video_id(v) in keep]
        else:
            train, test = split_videos(videos, test_size, seed)
            chosen = train if self.is_train else test
        if not chosen:
            raise InputError("the random split (test_size=%g) of the %d videos in '%s' leaves none for %s; add "
                             "videos, change dataset.test_size, or make train/ and test/ subfolders"
                             % (test_size, len(videos), root_dir, part))
        return root_dir, chosen

    def __len__(self):
        return len(self.ids) if self.ids is not None else len(self.videos)

    def video_path(self, index):
        """Path of the index-th video (test mode, or train mode without id sampling)."""
        return os.path.join(self.root_dir, self.videos[index])

    def video_name(self, index):
        """File or folder name of the index-th video."""
        return self.videos[index]

    def num_frames(self, index):
        """Number of frames of the index-th video."""
        return self._count(self.video_path(index))

    def iter_frames(self, index):
        """Stream the index-th video as float32 (3, H, W) frames in [0, 1] at `frame_shape`."""
        for frame in vio.iter_frames(self.video_path(index), self.frame_shape):
            yield _to_chw(self._prepare(frame))

    def _count(self, path):
        if path not in self._num_frames:
            self._num_frames[path] = vio.count_frames(path, self.frame_shape)
        return self._num_frames[path]

    def _prepare(self, frame):
        """uint8 RGB frame -> float32 HxWx3 in [0, 1] at frame_shape (area filtering, as in preprocessing)."""
        h, w = self.frame_shape[:2]
        if frame.shape[:2] != (h, w):
            frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        return frame.astype(np.float32) / 255.0

    def __getitem__(self, index):
        if not self.is_train:
            frames = [f for f in self.iter_frames(index)]
            return {"video": np.stack(frames), "name": self.video_name(index)}
        for attempt in range(self.max_retries):
            name = self._pick(index if attempt == 0 else np.random.randint(len(self)))
            if name is None:
                continue
            path = os.path.join(self.root_dir, name)
            try:
                frames, landmarks = self._read_pair(path, name)
            except InputError as e:
                reason = str(e) if path in str(e) else "%s: %s" % (path, e)
                self.broken[name] = reason
                logger.warning("skipping a training video: %s; using another video instead", reason)
                continue
            item = {"source": _to_chw(frames[0][:, :, :3]), "driving": _to_chw(frames[1][:, :, :3]), "name": name}
            if self.region_dir is not None:
                item.update(source_region=_to_chw(frames[0][:, :, 3:]), driving_region=_to_chw(frames[1][:, :, 3:]))
            if landmarks is not None:
                item.update(source_landmarks=landmarks[0], driving_landmarks=landmarks[1])
            return item
        raise InputError("could not read a training video in %d attempts; broken videos in '%s': %s"
                         % (self.max_retries, self.root_dir,
                            "; ".join(self.broken[k] for k in sorted(self.broken)) or "none recorded"))

    def _pick(self, index):
        """Name of the video for item `index`, skipping videos already found broken; None if all of them are."""
        if self.ids is None:
            name = self.videos[index]
            return None if name in self.broken else name
        chunks = [c for c in self._chunks[self.ids[index]] if c not in self.broken]
        return chunks[np.random.randint(len(chunks))] if chunks else None

    def _read_pair(self, path, name):
        """(two frames of the video at `path`, HxWx3 float32 (HxWx4 with the region weights as the 4th channel);
        their landmarks, two (N, 2) float32, or None)."""
        total = self._count(path)
        indices = np.sort(np.random.choice(total, replace=True, size=2))
        frames = [self._prepare(f) for f in vio.read_frames(path, indices, self.frame_shape)]
        if self.region_dir is not None:
            region_path = os.path.join(self.region_dir, name)
            if self._count(region_path) != total:
                raise InputError("region video '%s' has %d frames, its video %d; write the regions again"
                                 % (region_path, self._count(region_path), total))
            regions = [self._prepare(f)[:, :, :1] for f in vio.read_frames(region_path, indices, self.frame_shape)]
            frames = [np.concatenate([f, r], axis=2) for f, r in zip(frames, regions)]
        if self.landmark_dir is None:
            return (self.transform(frames) if self.transform is not None else frames), None
        points, flip = self._landmarks(name, indices, total)
        if self.transform is None:
            return frames, list(points)
        frames, moved = self.transform(frames, points=(list(points), flip))
        return frames, [np.asarray(p, np.float32) for p in moved]


class DatasetRepeater(paddle.io.Dataset):
    """The dataset `num_repeats` times over, so an epoch is long enough on small datasets (the original's)."""

    def __init__(self, dataset, num_repeats=100):
        if isinstance(num_repeats, bool) or not isinstance(num_repeats, numbers.Integral) or num_repeats < 1:
            raise ConfigError("must be a positive integer, got %r" % (num_repeats,), "num_repeats")
        self.dataset = dataset
        self.num_repeats = int(num_repeats)

    def __len__(self):
        return self.num_repeats * len(self.dataset)

    def __getitem__(self, index):
        return self.dataset[index % len(self.dataset)]


class PairedDataset(paddle.io.Dataset):
    """(source, driving) pairs of test videos for the animation evaluation.

    With `pairs_list` (a CSV with a `source,driving` header naming test videos, as the original's
    vox256.csv) its first `number_of_pairs` rows whose videos are in the test set are used, in file
    order; otherwise distinct videos are paired at random with `seed`. Items are
    {"source_video", "driving_video": (T, 3, H, W), "source_name", "driving_name"}.
    """

    def __init__(self, initial_dataset, number_of_pairs, seed=0, pairs_list=None):
        if (isinstance(number_of_pairs, bool) or not isinstance(number_of_pairs, numbers.Integral)
                or number_of_pairs < 1):
            raise ConfigError("must be a positive integer, got %r" % (number_of_pairs,), "animate.num_pairs")
        self.initial_dataset = initial_dataset
        videos = list(initial_dataset.videos)
        if pairs_list is not None:
            self._pairs = self._read_csv(os.fspath(pairs_list), videos, int(number_of_pairs))
        else:
            self._pairs = self._random(len(videos), int(number_of_pairs), seed, initial_dataset)

    @staticmethod
    def _random(n, number, seed, dataset):
        if n < 2:
            raise InputError("random animation pairs need at least 2 test videos; '%s' has %d"
                             % (getattr(dataset, "root_dir", "the test set"), n))
        total = n * (n - 1)
        picks = np.random.RandomState(seed).choice(total, size=min(number, total), replace=False)
        pairs = []
        for k in picks:
            s, d = divmod(int(k), n - 1)
            pairs.append((s, d + (d >= s)))  # the (n - 1) partners of s skip s itself
        return pairs

    @staticmethod
    def _read_csv(path, videos, number):
        if not os.path.isfile(path):
            raise InputError("pairs list '%s' does not exist; fix dataset.pairs_list or set it to null for random "
                             "pairs" % path)
        index = {}
        for i, name in enumerate(videos):
            index.setdefault(name, i)
            index.setdefault(os.path.splitext(name)[0], i)
        try:
            with open(path, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
                header = rows[0].keys() if rows else []
        except (OSError, UnicodeDecodeError, csv.Error) as e:
            raise InputError("cannot read pairs list '%s': %s" % (path, e)) from e
        if not rows or "source" not in header or "driving" not in header:
            raise InputError("pairs list '%s' must be a CSV with a 'source,driving' header and at least one row"
                             % path)
        pairs = []
        for row in rows:
            s, d = (row.get("source") or "").strip(), (row.get("driving") or "").strip()
            if s in index and d in index:
                pairs.append((index[s], index[d]))
        if not pairs:
            raise InputError("none of the %d pairs in '%s' names two videos of the test set; check that the list "
                             "belongs to this dataset" % (len(rows), path))
        if len(pairs) < len(rows):
            logger.info("pairs list %s: %d of %d pairs name videos of the test set", path, len(pairs), len(rows))
        return pairs[:number]

    def pairs(self):
        """List of (source_index, driving_index) into the initial dataset."""
        return list(self._pairs)

    def __len__(self):
        return len(self._pairs)

    def __getitem__(self, index):
        s, d = self._pairs[index]
        source, driving = self.initial_dataset[s], self.initial_dataset[d]
        return {"source_video": source["video"], "driving_video": driving["video"],
                "source_name": source["name"], "driving_name": driving["name"]}
