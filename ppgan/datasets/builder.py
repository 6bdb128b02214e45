"""The dataset registry and the builder the trainer calls with the config's `dataset` section."""
from ppgan.utils.errors import ConfigError
from ppgan.utils.registry import Registry

DATASETS = Registry("dataset")

MODES = ("train", "test")


def build_dataset(dataset_cfg, mode, num_repeats=1):
    """The dataset `dataset_cfg['name']` for `mode` ('train' or 'test'); train data is repeated `num_repeats` times.

    `dataset_cfg` is the validated `dataset` section (every key present); bad values raise ConfigError
    with a `dataset.<key>` path.
    """
    if mode not in MODES:
        raise ValueError("mode must be one of %s, got %r" % (", ".join(MODES), mode))
    try:
        dataset = DATASETS.build(dict(dataset_cfg), is_train=(mode == "train"))
    except ConfigError as e:
        raise e.with_prefix("dataset") from None
    if mode == "train" and num_repeats != 1:
        from .frames_dataset import DatasetRepeater
        try:
            dataset = DatasetRepeater(dataset, num_repeats)
        except ConfigError as e:
            raise e.with_prefix("train") from None
    return dataset


def build_paired_dataset(dataset_cfg, test_dataset, number_of_pairs):
    """The (source, driving) pairs of test videos for animation: `dataset.pairs_list` if set, else random ones."""
    from .frames_dataset import PairedDataset
    return PairedDataset(test_dataset, number_of_pairs, seed=dataset_cfg.get("random_seed", 0),
                         pairs_list=dataset_cfg.get("pairs_list"))
