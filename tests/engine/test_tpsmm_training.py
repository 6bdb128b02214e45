"""The thin-plate spline model through tools/main.py and tools/train.py, end to end on tiny generated videos:
training, resume, --evaluate-only, the AVD stage, NaN stop, several processes."""
import os
import re
import subprocess
import sys

import numpy as np
import paddle
import pytest

from conftest import REPO
from ppgan.datasets.synthetic import write_dataset
from ppgan.engine.trainer import Trainer, checkpoint_path
from ppgan.models.training import TrainingDiverged
from ppgan.utils.config import load_config

MAIN = os.path.join(REPO, "tools", "main.py")
TRAIN = os.path.join(REPO, "tools", "train.py")
CONFIG = os.path.join(REPO, "configs", "tpsmm_synthetic_64.yaml")
# 32x32 frames, 2 iterations per epoch; background from epoch 2, TPS dropout in epoch 1.
SMALL = ["dataset.frame_shape=[32,32,3]", "train.num_repeats=1", "train.batch_size=2", "train.checkpoint_freq=1",
         "train.log_freq=1", "train.bg_start=1", "train.dropout_epoch=1", "train.dropout_inc_epoch=1",
         "animate.num_pairs=2", "train_avd.num_repeats=2", "train_avd.batch_size=4", "train_avd.num_epochs=2",
         "train_avd.checkpoint_freq=1", "train_avd.epoch_milestones=[1]", "train_avd.log_freq=1"]
MOTION_NETS = {"kp_detector", "dense_motion_network", "inpainting_network", "bg_predictor"}


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic32")
    write_dataset(str(root), size=32, num_train=4, num_test=2, chunks_per_id=2, num_frames=4, force=True)
    return str(root)


def _cli(tool, *args, timeout=600, cwd=REPO):
    return subprocess.run([sys.executable, tool] + list(args), capture_output=True, text=True, timeout=timeout,
                          cwd=cwd)


def _opts(data, *extra):
    return ["-c", CONFIG, "-o", "dataset.root_dir=%s" % data, *SMALL, *extra, "--no-progress"]


@pytest.fixture(scope="module")
def trained(small_data, tmp_path_factory):
    """A run trained for 1 epoch, then resumed for a 2nd one: its folder."""
    out = str(tmp_path_factory.mktemp("tpsmm") / "run")
    r = _cli(TRAIN, *_opts(small_data, "train.num_epochs=1"), "--output-dir", out)
    assert r.returncode == 0, r.stderr
    assert "background predictor from epoch 2; TPS dropout up to epoch 1" in r.stderr
    r = _cli(MAIN, *_opts(small_data, "train.num_epochs=2"), "--resume", out)
    assert r.returncode == 0, r.stderr
    assert "resumed from" in r.stderr and "at epoch 2" in r.stderr
    return out


def test_resumed_run_ends_as_an_uninterrupted_one(trained, small_data, tmp_path):
    for name in ("config.yaml", "train.log", "checkpoints/epoch_00001.pdparams", "checkpoints/epoch_00002.pdparams",
                 "visuals/epoch_00002.png"):
        assert os.path.exists(os.path.join(trained, name)), name
    state = paddle.load(checkpoint_path(trained), return_numpy=True)
    assert MOTION_NETS <= set(state) and "avd_network" not in state and "stage" not in state
    assert {"optimizer_generator", "optimizer_bg_predictor", "scheduler_generator",
            "scheduler_bg_predictor"} <= set(state)
    # one Adam over three nets: its state is keyed by '<net>.<param>'
    assert any(k.startswith("inpainting_network.first.conv.weight@moment1") for k in state["optimizer_generator"])
    assert state["epoch"] == 1 and state["iteration"] == 4
    log = open(os.path.join(trained, "train.log")).read()
    assert re.search(r"epoch 2/2: pixel \S+ equivariance_value \S+ warp_loss \S+ bg \S+", log)
    assert re.search(r"epoch 1/1: pixel \S+ equivariance_value \S+ warp_loss \S+\n", log)   # no bg in epoch 1

    straight = str(tmp_path / "straight")
    r = _cli(TRAIN, *_opts(small_data, "train.num_epochs=2"), "--output-dir", straight)
    assert r.returncode == 0, r.stderr
    resumed = paddle.load(os.path.join(trained, "checkpoints", "epoch_00002.pdparams"), return_numpy=True)
    uninterrupted = paddle.load(os.path.join(straight, "checkpoints", "epoch_00002.pdparams"), return_numpy=True)
    assert set(resumed) == MOTION_NETS
    for net in MOTION_NETS:
        for key in uninterrupted[net]:
            np.testing.assert_array_equal(resumed[net][key], uninterrupted[net][key], err_msg="%s %s" % (net, key))


def test_evaluate_only(trained, small_data, tmp_path):
    out = str(tmp_path / "eval")
    r = _cli(MAIN, *_opts(small_data), "--output-dir", out, "--evaluate-only", "--load", checkpoint_path(trained))
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"reconstruction L1: \d+\.\d+", r.stdout.strip().splitlines()[-1])
    assert len([f for f in os.listdir(os.path.join(out, "reconstruction")) if f.endswith(".mp4")]) == 2
    assert len([f for f in os.listdir(os.path.join(out, "animation")) if f.endswith(".mp4")]) == 2
    # without an AVD network, animate.mode avd is one clear error
    r = _cli(MAIN, *_opts(small_data, "animate.mode=avd"), "--output-dir", out, "--evaluate-only", "--load",
             checkpoint_path(trained))
    assert r.returncode == 2 and "--stage avd" in r.stderr and "Traceback" not in r.stderr


def test_avd_stage_from_a_trained_checkpoint(trained, small_data, tmp_path):
    out = str(tmp_path / "avd")
    weights = checkpoint_path(trained)
    r = _cli(MAIN, *_opts(small_data), "--stage", "avd", "--load", weights, "--output-dir", out)
    assert r.returncode == 0, r.stderr
    assert "AVD network only" in r.stderr and re.search(r"epoch 2/2: rec_kp \S+", r.stderr)
    state = paddle.load(checkpoint_path(out), return_numpy=True)
    assert set(state) >= MOTION_NETS | {"avd_network", "optimizer_avd_network", "scheduler_avd_network"}
    assert state["stage"] == "avd" and "optimizer_generator" not in state
    loaded = paddle.load(weights, return_numpy=True)
    for net in MOTION_NETS:   # frozen: weights and BatchNorm statistics as loaded
        for key, value in loaded[net].items():
            np.testing.assert_array_equal(state[net][key], value, err_msg="%s %s" % (net, key))
    assert os.path.exists(os.path.join(out, "visuals", "epoch_00002.png"))

    r = _cli(MAIN, *_opts(small_data, "animate.mode=avd"), "--output-dir", str(tmp_path / "eval"), "--evaluate-only",
             "--load", checkpoint_path(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("reconstruction L1: ")

    # an AVD run resumes as an AVD run only
    r = _cli(MAIN, *_opts(small_data), "--resume", out)
    assert r.returncode == 2 and "--stage avd" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("args, message", [
    (["--stage", "avd"], "give its weights with --load"),
    (["--stage", "avdd"], "no training stage 'avdd'"),
    (["--evaluate-only", "--stage", "avd", "--load", "x.pdparams"], "drop --stage"),
    (["-o", "train.loss_weights.generator_gan=1"], "train.loss_weights.generator_gan"),
    (["-o", "animate.mode=affine", "--evaluate-only", "--load", "x.pdparams"], "animate.mode"),
])
def test_cli_errors_are_one_line(small_data, tmp_path, args, message):
    if "x.pdparams" in args:
        weights = str(tmp_path / "x.pdparams")
        paddle.save({"kp_detector": {}}, weights)
        args = [weights if a == "x.pdparams" else a for a in args]
    r = _cli(MAIN, *_opts(small_data), "--output-dir", str(tmp_path / "run"), *args)
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_help_documents_the_avd_stage():
    r = _cli(MAIN, "--help")
    assert r.returncode == 0 and "--stage" in r.stdout and "avd" in r.stdout and "train_avd" in r.stdout


def test_nan_loss_stops_and_keeps_the_last_checkpoint(trained, small_data, tmp_path):
    out = str(tmp_path / "run")
    config = load_config(CONFIG, ["dataset.root_dir=%s" % small_data, "train.num_epochs=3"] + SMALL)
    trainer = Trainer(config, out, load=checkpoint_path(trained), progress=False)
    trainer.train_cfg["num_epochs"] = 1
    last = trainer.train()
    before = open(last, "rb").read()
    trainer.train_cfg["num_epochs"] = 2
    trainer.start_epoch = 1
    with paddle.no_grad():
        weight = trainer.model.inpainting_network.final.weight
        weight.set_value(paddle.full(weight.shape, float("nan")))
    with pytest.raises(TrainingDiverged, match="loss pixel is nan.*the last checkpoint, .*checkpoint.pdparams, "
                                               "is kept"):
        trainer.train()
    assert open(last, "rb").read() == before


def test_visualdl_receives_tpsmm_losses(trained):
    pytest.importorskip("visualdl")
    logs = os.listdir(os.path.join(trained, "vdl"))
    assert logs and sum(os.path.getsize(os.path.join(trained, "vdl", f)) for f in logs) > 0


def test_two_processes_with_paddle_distributed_launch(small_data, tmp_path):
    """Data parallel on CPU (gloo): each process trains on its shard and averages gradients, rank 0 alone writes."""
    out, logs = str(tmp_path / "run"), str(tmp_path / "logs")
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir", logs, TRAIN,
           *_opts(small_data, "train.num_epochs=1"), "--output-dir", out]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert os.path.exists(os.path.join(out, "checkpoints", "epoch_00001.pdparams"))
    for rank in (0, 1):
        assert "on 2 process(es)" in open(os.path.join(logs, "workerlog.%d" % rank)).read()
    state = paddle.load(os.path.join(out, "checkpoints", "epoch_00001.pdparams"), return_numpy=True)
    assert set(state) == MOTION_NETS


def test_load_the_original_checkpoint_to_train_and_evaluate(tmp_path):
    """--load takes the original's .pth.tar (converted in memory) with the original's config file (its
    train_params, dataloader_workers, bg: true); evaluation animates through its AVD network."""
    from conftest import tpsmm_parity_path
    checkpoint, config = tpsmm_parity_path("tpsmm-vox", "checkpoint.pth.tar"), tpsmm_parity_path("tpsmm-vox",
                                                                                                 "config.yaml")
    data = str(tmp_path / "data")
    write_dataset(data, size=128, num_train=2, num_test=2, chunks_per_id=1, num_frames=2, force=True)
    opts = ["-c", config, "-o", "dataset_params.root_dir=%s" % data, "dataset_params.frame_shape=[128,128,3]",
            "train_params.num_epochs=1", "train_params.num_repeats=1", "train_params.batch_size=2",
            "train_params.loss_weights.perceptual=[0,0,0,0,0]", "train_params.loss_weights.pixel=10",
            "animate_params.num_pairs=1", "animate_params.mode=avd", "--no-progress"]
    out = str(tmp_path / "run")
    r = _cli(TRAIN, *opts, "--output-dir", out, "--load", checkpoint)
    assert r.returncode == 0, r.stderr
    assert "loaded weights from" in r.stderr and "background predictor from epoch 11" in r.stderr
    assert set(paddle.load(checkpoint_path(out), return_numpy=True)) >= MOTION_NETS
    r = _cli(MAIN, *opts, "--output-dir", str(tmp_path / "eval"), "--evaluate-only", "--load", checkpoint)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("reconstruction L1: ")
    assert len(os.listdir(str(tmp_path / "eval" / "animation"))) == 1
