"""benchmarks/training_study.py (learning curves of training runs) and benchmarks/contact_sheet.py, on fake run
folders of the tiny models and small generated datasets."""
import importlib.util
import json
import os

import cv2
import numpy as np
import paddle
import pytest
import yaml
from PIL import Image

from conftest import REPO
from ppgan.datasets.synthetic import write_dataset
from ppgan.engine.trainer import Trainer
from ppgan.models.builder import model_family
from ppgan.utils.checkpoint import read_weights, save_weights
from ppgan.utils.config import load_config
from ppgan.utils.video import read_image

NUM_TRAIN, NUM_TEST, NUM_FRAMES, BATCH = 6, 3, 6, 2
PER_EPOCH = NUM_TRAIN // BATCH   # num_repeats 1, one process, drop_last


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "benchmarks", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


study = _load("training_study")
sheet = _load("contact_sheet")


def _config(model, data, size):
    """A full validated config of a tiny model (pixel loss only: no VGG19)."""
    return load_config({"model": model, "dataset": {"root_dir": data, "frame_shape": [size, size, 3]},
                        "train": {"batch_size": BATCH, "num_epochs": 2, "log_freq": 2,
                                  "loss_weights": {"perceptual": [0] * 5, "pixel": 10}}})


def _write_config(config, path):
    with open(path, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    return str(path)


@pytest.fixture(scope="module")
def data32(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synthetic32"))
    write_dataset(root, size=32, num_train=NUM_TRAIN, num_test=NUM_TEST, num_frames=NUM_FRAMES, seed=7)
    return root


def _perturbed(weights, path, seed):
    """Another weight file: `weights` with every float parameter scaled by a seeded random factor near 1."""
    rng = np.random.RandomState(seed)
    state = read_weights(weights)
    state = {net: {k: (v * rng.uniform(0.8, 1.2)).astype(v.dtype) if v.dtype.kind == "f" else v
                   for k, v in params.items()} for net, params in state.items()}
    save_weights(state, str(path))
    return str(path)


@pytest.fixture
def fake_run(tmp_path, tiny_config, tiny_weights, data32):
    """A FOMM run folder as tools/main.py writes it: config.yaml, train.log, checkpoints/epoch_0000{1,2}."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    _write_config(_config(tiny_config["model"], data32, 32), run / "config.yaml")
    os.replace(tiny_weights, run / "checkpoints" / "epoch_00001.pdparams")
    _perturbed(str(run / "checkpoints" / "epoch_00001.pdparams"), run / "checkpoints" / "epoch_00002.pdparams", 1)
    stamp = "[2026-01-01 00:00:00,000] INFO ppgan.engine: "
    lines = [stamp + "training %s for epochs 1-2 on 1 process(es); discriminator not used" % run]
    for epoch in (1, 2):
        lines += [stamp + "iteration %d: pixel 1.0000" % i for i in range(1, epoch * PER_EPOCH + 1)
                  if i > (epoch - 1) * PER_EPOCH and i % 2 == 0]
        lines.append(stamp + "epoch %d/2: pixel 1.0000" % epoch)
    (run / "train.log").write_text("\n".join(lines) + "\n")
    return str(run)


def _test_frames(data):
    folder = os.path.join(data, "test")
    return [np.split(read_image(os.path.join(folder, n)).astype(np.float64) / 255, NUM_FRAMES, axis=1)
            for n in sorted(os.listdir(folder))]


def test_study_measures_every_epoch_and_caches(fake_run, data32, tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "study")
    argv = ["--run", "FOMM=%s" % fake_run, "--data", data32, "--out", out, "--no-progress"]
    assert study.main(argv) == 0
    printed = capsys.readouterr().out
    assert "FOMM" in printed and "L1/copy" in printed and "evaluated 3 point(s)" in printed
    with open(os.path.join(out, "results.json")) as f:
        run = json.load(f)["runs"]["FOMM"]
    points = run["points"]
    assert [p["epoch"] for p in points] == [0, 1, 2]
    assert [p["iteration"] for p in points] == [0, PER_EPOCH, 2 * PER_EPOCH]
    assert run["iterations_per_epoch"] == PER_EPOCH and run["iterations_per_epoch_from"].startswith("training set")

    # Independent figures of the test videos: copy-frame-0 L1 and the real frames' sharpness.
    videos = _test_frames(data32)
    copy_l1 = np.mean([np.abs(frame - video[0]).mean() for video in videos for frame in video])
    grey = [cv2.cvtColor(np.round(f * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY) for v in videos for f in v]
    real_sharpness = np.mean([cv2.Laplacian(g, cv2.CV_64F).var() for g in grey])
    for p in points:
        assert p["copy_l1"] == pytest.approx(copy_l1, rel=1e-6)
        assert p["sharpness_real"] == pytest.approx(real_sharpness, rel=1e-9)
        assert p["sharpness"] == pytest.approx(p["sharpness_generated"] / p["sharpness_real"])
        assert p["videos"] == NUM_TEST and 0 < p["l1"] < 1 and 0 < p["warped_l1"] < 1
    assert len({p["l1"] for p in points}) == 3   # untrained, epoch 1 and epoch 2 differ

    image = Image.open(os.path.join(out, "learning_curves.png"))
    image.verify()
    assert image.format == "PNG" and image.size == (1000, 420)
    assert not [n for n in os.listdir(out) if n.startswith(".")]   # no temporary files left

    # Cached: nothing is evaluated again; a changed weight file is (and only it).
    evaluated = []
    original = study.Run.evaluate

    def counting(self, epoch, weights, fingerprint):
        evaluated.append(epoch)
        return original(self, epoch, weights, fingerprint)

    monkeypatch.setattr(study.Run, "evaluate", counting)
    assert study.main(argv) == 0
    assert evaluated == [] and "every point was cached" in capsys.readouterr().out
    second = os.path.join(fake_run, "checkpoints", "epoch_00002.pdparams")
    _perturbed(os.path.join(fake_run, "checkpoints", "epoch_00001.pdparams"), second, 2)
    assert study.main(argv) == 0
    assert evaluated == [2]
    with open(os.path.join(out, "results.json")) as f:
        again = json.load(f)["runs"]["FOMM"]["points"]
    assert again[:2] == points[:2] and again[2]["l1"] != points[2]["l1"]


def test_iterations_per_epoch_from_the_checkpoint_and_the_log_check(fake_run):
    paddle.save({"kp_detector": {}, "epoch": 2, "iteration": 21, "optimizer_kp_detector": {}},
                os.path.join(fake_run, "checkpoints", "checkpoint.pdparams"))
    assert study.training_stage(fake_run) == ("train", 7)    # epoch index 2: 3 epochs of 7 iterations
    processes, logged = study.read_log(fake_run)
    assert processes == 1 and logged == [(1, PER_EPOCH - 1), (2, 2 * PER_EPOCH)]
    assert study.check_log("FOMM", logged, PER_EPOCH, 2) == []
    assert study.check_log("FOMM", logged, 7, 2) == [1, 2]


@pytest.mark.parametrize("family", ["fomm", "tpsmm"])
def test_untrained_nets_are_the_ones_training_starts_from(family, tiny_config, tiny_tpsmm_config, tmp_path, data32):
    model, size = (tiny_config["model"], 32) if family == "fomm" else (tiny_tpsmm_config["model"], 64)
    config = _config(model, data32, size)
    trainer = Trainer(config, str(tmp_path / "run"), seed=3, build_data=False)
    expected = model_family(config["model"]).animation_nets(trainer.model.nets)
    for theirs, ours in zip(expected, study.untrained_nets(config, 3)):
        theirs, ours = theirs.state_dict(), ours.state_dict()
        assert list(theirs) == list(ours)
        for key in theirs:
            np.testing.assert_array_equal(theirs[key].numpy(), ours[key].numpy(), err_msg=key)


def test_missing_matplotlib_is_one_line(monkeypatch, capsys, fake_run, tmp_path):
    import sys
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert study.main(["--run", "FOMM=%s" % fake_run, "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == "error: matplotlib is missing: pip install matplotlib"


def test_contact_sheet(tmp_path, tiny_config, tiny_weights, tiny_tpsmm_config, tiny_tpsmm_weights):
    data = str(tmp_path / "synthetic64")
    write_dataset(data, size=64, num_train=1, num_test=2, num_frames=8, seed=9)
    fomm = _write_config(_config(tiny_config["model"], data, 64), tmp_path / "fomm.yaml")
    tpsmm = _write_config(_config(tiny_tpsmm_config["model"], data, 64), tmp_path / "tpsmm.yaml")
    out = str(tmp_path / "sheet" / "contact_sheet.png")
    frames = [0, 3, 7]
    assert sheet.main(["--model", "FOMM=%s:%s" % (fomm, tiny_weights), "--model", "TPSMM=%s:%s" % (tpsmm,
                       tiny_tpsmm_weights), "--data", os.path.join(data, "test"), "--video", "1", "--frames",
                       ",".join(map(str, frames)), "--out", out]) == 0
    image = read_image(out)
    cell, rows = 64 * 3, 4   # source, driving, two models
    assert image.shape == (sheet.HEADER + rows * cell + (rows - 1) * sheet.GAP,
                           sheet.LABEL_WIDTH + len(frames) * cell + (len(frames) - 1) * sheet.GAP, 3)
    video = np.split(read_image(os.path.join(data, "test", sorted(os.listdir(os.path.join(data, "test")))[1])),
                     8, axis=1)
    for j, index in enumerate(frames):   # the driving row holds the frames, enlarged x3 by nearest neighbour
        x, y = sheet.LABEL_WIDTH + j * (cell + sheet.GAP), sheet.HEADER + cell + sheet.GAP
        np.testing.assert_array_equal(image[y:y + cell:3, x:x + cell:3], video[index])
        np.testing.assert_array_equal(image[sheet.HEADER:sheet.HEADER + cell:3, x:x + cell:3], video[0])
