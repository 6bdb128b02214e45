"""Training and evaluation data: videos on disk -> float32 CHW frames in [0, 1]."""
from . import synthetic  # noqa: F401
from .builder import DATASETS, build_dataset, build_paired_dataset  # noqa: F401
from .frames_dataset import DatasetRepeater, FramesDataset, PairedDataset  # noqa: F401
from .transforms import AllAugmentationTransform, build_transform  # noqa: F401
