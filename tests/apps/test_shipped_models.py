"""The shipped models do the job: on held-out synthetic videos they beat copying frame 0, and stay sharp.

Inference only. The videos are generated here with a seed no shipped model was trained on
(identities never seen in training), at the models' resolution (64x64). Each video is reconstructed
from its frame 0 by the project's evaluator (paper, Sec. 4: "video reconstruction"); the figures are:

- L1 ratio: reconstruction L1 / L1 of frame 0 copied unchanged (the trivial baseline; < 1 is better);
- sharpness ratio: mean Laplacian variance of the reconstructed frames / of the real (driving) frames
  (a blurry output has little high-frequency energy: ~0 for a blob, 1 for as sharp as the truth).

The bounds are the figures measured on this set (MEASURED, Paddle 3.3.1 CPU) with a small margin,
and the acceptance bars: the demo's default at <= 0.5x copy-frame-0, the shipped FOMM at <= 0.9x, and the
default's sharpness >= 0.6 (the shipped TPSMM, trained by configs/tpsmm_synthetic_expr_64_landmarks_full.yaml,
warps the source image bicubically: with bilinear warping the first shipped TPSMM kept 0.45,
docs/en_US/training_study.md section 6). docs/en_US/training_study.md has the same figures on the project's own
test set (data/synthetic400/test) and how the models were trained (the default TPSMM: section 8, "The default
now"; before it configs/tpsmm_synthetic_expr_64.yaml, 0.313x and 0.661 here, and until issue 25
configs/tpsmm_synthetic_bicubic_64.yaml, 0.425x and 0.669).
"""
import os

import pytest

from ppgan.apps import demo
from ppgan.datasets import build_dataset
from ppgan.datasets.synthetic import write_dataset
from ppgan.engine.evaluator import reconstruct
from ppgan.engine.launch import evaluation_nets
from ppgan.metrics import Sharpness
from ppgan.utils.config import load_config

# reconstructs the held-out videos with both shipped models: the slow set (pytest.ini), which CI runs too
pytestmark = pytest.mark.slow

HELD_OUT_SEED = 4321   # training used seed 0, the demo samples 2026
NUM_VIDEOS = 12
# name: (folder, measured L1 ratio, measured sharpness ratio)
MEASURED = {
    "FOMM": (demo.SHIPPED_MODEL_DIRS["FirstOrderModel"], 0.752, 0.069),
    "TPSMM": (demo.SHIPPED_MODEL_DIRS["TPSMMModel"], 0.318, 0.636),
}
MARGIN = 0.03          # absolute, on both ratios: float noise across CPUs and Paddle versions is far smaller
ACCEPTANCE = {"default": 0.5, "FOMM": 0.9, "sharpness": 0.6}


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("held_out"))
    write_dataset(root, num_train=1, num_test=NUM_VIDEOS, seed=HELD_OUT_SEED)
    return root


@pytest.fixture(scope="module")
def figures(held_out):
    """{name: (L1 ratio, sharpness ratio)} of every shipped model on the held-out videos."""
    out = {}
    for name, (folder, _, _) in MEASURED.items():
        config = load_config(os.path.join(folder, "config.yaml"), ["dataset.root_dir=%s" % held_out])
        evaluation = evaluation_nets(config, os.path.join(folder, "weights.pdparams"), False)
        test = build_dataset(config["dataset"], "test")
        sharpness = Sharpness()
        result = reconstruct(evaluation["kp_detector"], evaluation["generator"], test, None, None, progress=False,
                             on_chunk=sharpness)
        assert not result["failed"] and len(result["per_video"]) == NUM_VIDEOS
        out[name] = (result["l1"] / result["baseline_l1"], sharpness.ratio)
        print("%s: L1 %.4f, copy-frame-0 %.4f (ratio %.3f), sharpness ratio %.3f" % (
            name, result["l1"], result["baseline_l1"], out[name][0], out[name][1]))
    return out


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_shipped_model_beats_copying_frame_0_as_measured(figures, name):
    _, l1_ratio, sharpness = MEASURED[name]
    assert figures[name][0] <= l1_ratio + MARGIN
    assert figures[name][1] >= sharpness - MARGIN


def _default():
    folders = {os.path.realpath(folder): name for name, (folder, _, _) in MEASURED.items()}
    return folders[os.path.realpath(demo.DEFAULT_MODEL_DIR)]


def test_the_demo_default_is_the_better_model_and_both_meet_the_l1_bars(figures):
    default = _default()
    assert figures[default][0] == min(ratio for ratio, _ in figures.values())
    assert figures[default][0] <= ACCEPTANCE["default"]
    assert figures["FOMM"][0] <= ACCEPTANCE["FOMM"]


def test_the_demo_default_is_sharp(figures):
    assert figures[_default()][1] >= ACCEPTANCE["sharpness"]


def test_shipped_weight_files_stay_small():
    for folder, _, _ in MEASURED.values():
        assert os.path.getsize(os.path.join(folder, "weights.pdparams")) < 12e6
