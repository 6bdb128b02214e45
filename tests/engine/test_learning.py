"""Training learns: each family's small synthetic config, a few hundred CPU iterations, judged on held-out videos.

configs/firstorder_synthetic_64.yaml (4 epochs = 300 iterations) and configs/tpsmm_synthetic_64.yaml
(as shipped: 10 epochs = 300 iterations) are trained on freshly generated synthetic videos (the defaults
of tools/make_synthetic_dataset.py); the test videos show identities never seen in training. Each test
video is reconstructed from its frame 0, and three figures are compared: the reconstruction L1 of the
trained and of the untrained model, and the L1 of frame 0 warped by the predicted motion against frame 0
copied unchanged (the trivial baseline).

What 300 iterations give (measured on this data, seed 0, Paddle 3.3.1 CPU; the ratios asserted below
leave a margin over them):

- FOMM: reconstruction 0.41x the untrained model's; warped frame 0 0.82x copy-frame-0 (untrained
  1.46x), so keypoints and dense motion are being learned. The decoder is still blurry at this budget:
  the full reconstruction is 1.7x copy-frame-0.
- TPSMM: reconstruction 0.43x the untrained model's, but warped frame 0 1.00x copy-frame-0
  (untrained 1.27x): in 300 iterations this narrow model (hourglass and inpainting widths 8) learns
  to keep the source, not yet to move it; the same held with its background predictor off. The
  wider configs/tpsmm_synthetic_wide_64.yaml on 400 videos is at 0.78x after 150 iterations
  (docs/en_US/training_study.md), too slow for this test.

Beating copy-frame-0 with the full reconstruction takes longer training than a CI test can afford:
the shipped models (tests/apps/test_shipped_models.py, docs/en_US/training_study.md) do.
"""
import os
import re
import subprocess
import sys

import numpy as np
import paddle
import pytest

from conftest import REPO
from ppgan.datasets.synthetic import write_dataset
from ppgan.models import build_nets
from ppgan.utils.config import load_config
from ppgan.utils.video import iter_frames

# minutes of training: the slow set (pytest.ini), which CI runs too
pytestmark = pytest.mark.slow

MAIN = os.path.join(REPO, "tools", "main.py")

# (config, overrides, warped / copied after training, trained / untrained reconstruction)
CASES = {
    # measured: warped 0.82x copy (untrained 1.46x), trained 0.41x untrained
    "FOMM": ("firstorder_synthetic_64.yaml", ["train.num_epochs=4"], 1.0, 0.6),
    # measured: warped 1.00x copy (untrained 1.27x), trained 0.43x untrained
    "TPSMM": ("tpsmm_synthetic_64.yaml", [], 1.03, 0.6),
}


def _copy_frame0_l1(test_dir):
    """The baseline, computed here independently of the project's evaluator."""
    total, count = 0.0, 0
    for name in sorted(os.listdir(test_dir)):
        frames = [f.astype(np.float64) / 255 for f in iter_frames(os.path.join(test_dir, name), (64, 64, 3))]
        for frame in frames:
            total += np.abs(frame - frames[0]).mean()
            count += 1
    return total / count


def _evaluate(common, weights, out):
    r = subprocess.run([sys.executable, MAIN] + common + ["--output-dir", out, "--evaluate-only", "--load", weights],
                       capture_output=True, text=True, timeout=600, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    l1 = float(re.fullmatch(r"reconstruction L1: (\S+)", r.stdout.strip().splitlines()[-1]).group(1))
    copied, warped = map(float, re.search(r"frame 0 copied: (\S+), of frame 0 warped .*: (\S+)", r.stderr).groups())
    return l1, copied, warped


@pytest.mark.parametrize("family", [pytest.param(f, marks=pytest.mark.xdist_group("learning-" + f))  # in parallel
                                    for f in sorted(CASES)])
def test_synthetic_training_learns_the_motion(family, tmp_path):
    config_name, overrides, motion_ratio, trained_ratio = CASES[family]
    config = os.path.join(REPO, "configs", config_name)
    data = str(tmp_path / "synthetic")
    write_dataset(data)   # the defaults of tools/make_synthetic_dataset.py
    common = ["-c", config, "-o", "dataset.root_dir=%s" % data] + overrides + ["--no-progress"]

    paddle.seed(0)
    nets = build_nets(load_config(config)["model"])
    untrained = str(tmp_path / "untrained.pdparams")
    paddle.save({name: net.state_dict() for name, net in nets.items() if net is not None}, untrained)
    l1_untrained, copied, warped_untrained = _evaluate(common, untrained, str(tmp_path / "eval0"))

    run = str(tmp_path / "run")
    r = subprocess.run([sys.executable, MAIN] + common + ["--output-dir", run], capture_output=True, text=True,
                       timeout=1200, cwd=REPO)
    assert r.returncode == 0, r.stderr[-3000:]
    iterations = int(re.findall(r"iteration (\d+):", open(os.path.join(run, "train.log")).read())[-1])
    assert 200 <= iterations <= 400
    l1, copied_again, warped = _evaluate(common, os.path.join(run, "checkpoints", "checkpoint.pdparams"),
                                         str(tmp_path / "eval1"))

    baseline = _copy_frame0_l1(os.path.join(data, "test"))
    assert copied == pytest.approx(baseline, rel=1e-3) and copied_again == pytest.approx(baseline, rel=1e-3)
    print("%s: copy frame 0 %.4f | untrained: warped %.4f, reconstruction %.4f | trained (%d it): warped %.4f "
          "(%.2f x copy), reconstruction %.4f (%.2f x untrained, %.2f x copy)" % (
              family, baseline, warped_untrained, l1_untrained, iterations, warped, warped / baseline, l1,
              l1 / l1_untrained, l1 / baseline))
    assert warped < motion_ratio * baseline
    assert warped_untrained > baseline   # the untrained motion is worse than none
    assert l1 < trained_ratio * l1_untrained
