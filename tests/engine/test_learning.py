"""Training learns: the synthetic config, a few hundred CPU iterations, judged on held-out videos.

configs/firstorder_synthetic_64.yaml is trained as shipped except for the number of epochs (4 epochs
= 300 iterations, about two minutes on 2 cores) on freshly generated synthetic videos; the test
videos show identities never seen in training. Each test video is reconstructed from its frame 0.

What 300 iterations give (measured on this data, seed 0, Paddle 3.3.1 CPU): the reconstruction L1
falls to 0.41x that of the untrained model, and frame 0 warped by the predicted motion alone is
closer to the real frames than frame 0 copied (0.82x; untrained: 1.46x), so keypoints and dense
motion are being learned. The decoder that turns warped features into images is still blurry at
this budget, so the full reconstruction L1 is 1.7x the copy-frame-0 L1: beating that baseline
takes far longer training than a CI test can afford (see the issue notes).
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

CONFIG = os.path.join(REPO, "configs", "firstorder_synthetic_64.yaml")
MAIN = os.path.join(REPO, "tools", "main.py")
MOTION_RATIO = 1.0     # warped-frame-0 L1 / copied-frame-0 L1 after training (measured 0.82; untrained 1.46)
TRAINED_RATIO = 0.6    # trained / untrained reconstruction L1 (measured 0.41)


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


def test_synthetic_training_learns_the_motion(tmp_path):
    data = str(tmp_path / "synthetic")
    write_dataset(data)   # the defaults of tools/make_synthetic_dataset.py
    common = ["-c", CONFIG, "-o", "dataset.root_dir=%s" % data, "train.num_epochs=4", "--no-progress"]

    paddle.seed(0)
    nets = build_nets(load_config(CONFIG)["model"])
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
    print("copy frame 0 %.4f | untrained: warped %.4f, reconstruction %.4f | trained (%d it): warped %.4f (%.2f x "
          "copy), reconstruction %.4f (%.2f x untrained, %.2f x copy)" % (
              baseline, warped_untrained, l1_untrained, iterations, warped, warped / baseline, l1,
              l1 / l1_untrained, l1 / baseline))
    assert warped < MOTION_RATIO * baseline
    assert warped_untrained > baseline   # the untrained motion is worse than none
    assert l1 < TRAINED_RATIO * l1_untrained
