"""End-to-end tests of tools/main.py and tools/train.py on generated synthetic videos."""
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import paddle
import pytest

from conftest import REPO
from ppgan.datasets.synthetic import write_dataset
from ppgan.engine.trainer import Trainer, checkpoint_path
from ppgan.utils.config import load_config

MAIN = os.path.join(REPO, "tools", "main.py")
TRAIN = os.path.join(REPO, "tools", "train.py")
CONFIG = os.path.join(REPO, "configs", "firstorder_synthetic_64.yaml")
# A 32x32 variant of the synthetic config for the tests that only exercise the machinery.
SMALL = ["dataset.frame_shape=[32,32,3]", "train.num_repeats=2", "train.batch_size=2", "train.checkpoint_freq=1",
         "train.log_freq=1", "model.kp_detector.backbone.num_blocks=3",
         "model.generator.dense_motion.backbone.num_blocks=3", "animate.num_pairs=2"]


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic32")
    write_dataset(str(root), size=32, num_train=6, num_test=2, chunks_per_id=2, num_frames=6, force=True)
    return str(root)


def _cli(tool, *args, timeout=600):
    return subprocess.run([sys.executable, tool] + list(args), capture_output=True, text=True, timeout=timeout,
                          cwd=REPO)


def _small_opts(data, *extra):
    return ["-o", "dataset.root_dir=%s" % data, *SMALL, *extra]


def _weights(path):
    state = paddle.load(path, return_numpy=True)
    return {net: state[net] for net in ("kp_detector", "generator")}


def test_train_then_evaluate(small_data, tmp_path):
    out = str(tmp_path / "run")
    r = _cli(TRAIN, "-c", CONFIG, *_small_opts(small_data, "train.num_epochs=2"), "--output-dir", out, "--no-progress")
    assert r.returncode == 0, r.stderr
    for name in ("config.yaml", "train.log", "checkpoints/checkpoint.pdparams", "checkpoints/epoch_00002.pdparams",
                 "visuals/epoch_00002.png"):
        assert os.path.exists(os.path.join(out, name)), name
    saved = load_config(os.path.join(out, "config.yaml"))
    assert saved["dataset"]["root_dir"] == small_data and saved["train"]["num_epochs"] == 2
    assert "epoch 2/2" in open(os.path.join(out, "train.log")).read()

    # Evaluation needs no VGG19 even when the config's training losses would.
    r = _cli(MAIN, "-c", CONFIG, *_small_opts(small_data, "train.loss_weights.perceptual=[10,10,10,10,10]"),
             "--output-dir", out, "--evaluate-only", "--load", os.path.join(out, "checkpoints", "epoch_00002.pdparams"),
             "--no-progress")
    assert r.returncode == 0, r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"reconstruction L1: \d+\.\d+", last), last
    rec = os.path.join(out, "reconstruction")
    videos = sorted(f for f in os.listdir(rec) if f.endswith(".mp4"))
    assert len(videos) == 2 and len(os.listdir(os.path.join(rec, "png"))) == 2
    assert len([f for f in os.listdir(os.path.join(out, "animation")) if f.endswith(".mp4")]) == 2


def test_killed_run_resumes_with_the_same_optimizer_state(small_data, tmp_path):
    """Kill a run mid-epoch, resume it, and end with the weights of an uninterrupted run."""
    opts = _small_opts(small_data, "train.num_epochs=3", "train.num_repeats=6")
    killed = str(tmp_path / "killed")
    proc = subprocess.Popen([sys.executable, TRAIN, "-c", CONFIG, *opts, "--output-dir", killed, "--no-progress"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    first = os.path.join(killed, "checkpoints", "epoch_00001.pdparams")
    deadline = time.time() + 300
    while not os.path.exists(first) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert os.path.exists(first), proc.stderr.read() if proc.poll() is not None else "timeout"
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)   # mid-epoch 2: no chance to clean up
    proc.wait()
    assert not os.path.exists(os.path.join(killed, "checkpoints", "epoch_00002.pdparams"))

    # The restored optimizer state is the one in the checkpoint, in a process whose global parameter
    # names differ from the training process's (layers built before shift Paddle's name counters).
    paddle.nn.Conv2D(1, 1, 1), paddle.nn.BatchNorm2D(1)
    config = load_config(CONFIG, ["dataset.root_dir=%s" % small_data, "train.num_repeats=6", "train.num_epochs=3"]
                         + SMALL[:1] + SMALL[2:])
    trainer = Trainer(config, killed, resume=killed, progress=False, build_data=False)
    saved = paddle.load(checkpoint_path(killed), return_numpy=True)
    assert trainer.start_epoch == 1 and trainer.iteration == saved["iteration"] > 0
    for name, opt in trainer.optimizers.items():
        net = trainer.model.nets[name]
        moments = [k for k in saved["optimizer_" + name] if "@moment" in k]
        assert len(moments) == 2 * len([p for p in net.parameters() if not p.stop_gradient])
        # Paddle keeps a restored state aside until the first step creates the accumulators (2.6 does not
        # report it in state_dict() before that).
        holder = dict(getattr(opt, "_accumulators_holder", {}) or {})
        holder.update(opt.state_dict())
        for key in moments:
            structured, suffix = key.rsplit("@", 1)
            param = dict(net.named_parameters())[structured]
            restored = np.asarray(holder["%s_%s" % (param.name, suffix)])
            np.testing.assert_array_equal(restored, saved["optimizer_" + name][key])
            assert np.abs(restored).sum() > 0

    r = _cli(TRAIN, "-c", CONFIG, *opts, "--resume", killed, "--no-progress")   # the run folder is the default
    assert r.returncode == 0, r.stderr
    assert "resumed from" in r.stderr and "at epoch 2" in r.stderr

    straight = str(tmp_path / "straight")
    r = _cli(TRAIN, "-c", CONFIG, *opts, "--output-dir", straight, "--no-progress")
    assert r.returncode == 0, r.stderr
    resumed = _weights(os.path.join(killed, "checkpoints", "epoch_00003.pdparams"))
    uninterrupted = _weights(os.path.join(straight, "checkpoints", "epoch_00003.pdparams"))
    for net in resumed:
        for key in uninterrupted[net]:
            np.testing.assert_allclose(resumed[net][key], uninterrupted[net][key], rtol=0, atol=0, err_msg=key)


@pytest.mark.parametrize("args, message", [
    (["-o", "train.num_epochs=1", "-o", "train.lr_generatr=1"], "train.lr_generatr"),
    (["--evaluate-only"], "--evaluate-only needs weights"),
    (["--amp"], "needs a GPU"),
    (["--load", "missing.pdparams"], "does not exist"),
    (["--resume", "nowhere"], "no checkpoint at"),
    (["-o", "dataset.frame_shape=[40,40,3]"], "cannot process 40x40 frames"),
    (["--evaluate-only", "--load", "a.pdparams", "--resume", "b"], "one of them"),
])
def test_cli_errors_are_one_line(small_data, tmp_path, args, message):
    r = _cli(MAIN, "-c", CONFIG, *_small_opts(small_data), "--output-dir", str(tmp_path / "x"), *args)
    assert r.returncode == 2
    lines = [line for line in r.stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_existing_run_is_not_overwritten(small_data, tmp_path):
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "checkpoint.pdparams").write_bytes(b"keep me")
    r = _cli(TRAIN, "-c", CONFIG, *_small_opts(small_data), "--output-dir", str(out))
    assert r.returncode == 2 and "--resume" in r.stderr
    assert (out / "checkpoints" / "checkpoint.pdparams").read_bytes() == b"keep me"


def test_missing_dataset_is_reported(tmp_path):
    r = _cli(TRAIN, "-c", CONFIG, "-o", "dataset.root_dir=%s" % (tmp_path / "none"), "--output-dir",
             str(tmp_path / "run"))
    assert r.returncode == 2 and "error:" in r.stderr and "Traceback" not in r.stderr


def test_help_explains_every_flag():
    r = _cli(MAIN, "--help")
    assert r.returncode == 0
    for flag in ("--config-file", "--opt", "--resume", "--load", "--evaluate-only", "--seed", "--amp",
                 "--output-dir", "paddle.distributed.launch"):
        assert flag in r.stdout


def test_two_processes_with_paddle_distributed_launch(small_data, tmp_path):
    """Data parallel on CPU (gloo): each process trains on its shard, rank 0 alone writes."""
    out, logs = str(tmp_path / "run"), str(tmp_path / "logs")
    cmd = [sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--log_dir", logs, TRAIN,
           "-c", CONFIG, *_small_opts(small_data, "train.num_epochs=1"), "--output-dir", out, "--no-progress"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert os.path.exists(os.path.join(out, "checkpoints", "epoch_00001.pdparams"))
    epochs = []
    for rank in (0, 1):
        text = open(os.path.join(logs, "workerlog.%d" % rank)).read()
        assert "on 2 process(es)" in text
        epochs.append(re.search(r"epoch 1/1: (.*)", text).group(1))
    assert epochs[0] != epochs[1]   # different shards of the data
    assert open(os.path.join(out, "train.log")).read().count("epoch 1/1") == 1


def test_visualdl_receives_losses_and_images(small_data, tmp_path):
    pytest.importorskip("visualdl")
    out = str(tmp_path / "run")
    r = _cli(TRAIN, "-c", CONFIG, *_small_opts(small_data, "train.num_epochs=1"), "--output-dir", out, "--no-progress")
    assert r.returncode == 0, r.stderr
    logs = os.listdir(os.path.join(out, "vdl"))
    assert logs and os.path.getsize(os.path.join(out, "vdl", logs[0])) > 0


def test_nan_loss_stops_and_keeps_the_last_checkpoint(small_data, tmp_path):
    from ppgan.models.firstorder_model import TrainingDiverged
    out = str(tmp_path / "run")
    config = load_config(CONFIG, ["dataset.root_dir=%s" % small_data, "train.num_epochs=1"] + SMALL)
    trainer = Trainer(config, out, progress=False)
    last = trainer.train()
    before = open(last, "rb").read()
    trainer.train_cfg["num_epochs"] = 2
    trainer.start_epoch = 1
    with paddle.no_grad():
        weight = trainer.model.generator.final.weight
        weight.set_value(paddle.full(weight.shape, float("nan")))
    with pytest.raises(TrainingDiverged, match="loss pixel is nan.*the last checkpoint, .*checkpoint.pdparams, is kept"):
        trainer.train()
    assert open(last, "rb").read() == before
    assert not os.path.exists(os.path.join(out, "checkpoints", "epoch_00002.pdparams"))


def test_load_a_pytorch_checkpoint_to_train_and_evaluate(tmp_path):
    """--load takes the original's .pth.tar (converted in memory) with the original's config file."""
    from conftest import parity_path
    checkpoint, config = parity_path("mgif", "checkpoint.pth.tar"), parity_path("mgif", "config.yaml")
    data = str(tmp_path / "data")
    write_dataset(data, size=128, num_train=2, num_test=1, chunks_per_id=1, num_frames=3, force=True)
    opts = ["-c", config, "-o", "dataset_params.root_dir=%s" % data, "dataset_params.frame_shape=[128,128,3]",
            "train_params.num_epochs=1", "train_params.num_repeats=1", "train_params.batch_size=2",
            "train_params.num_workers=0", "train_params.loss_weights.perceptual=[0,0,0,0,0]",
            "train_params.loss_weights.pixel=10", "animate_params.num_pairs=1", "--no-progress"]
    out = str(tmp_path / "run")
    r = _cli(TRAIN, *opts, "--output-dir", out, "--load", checkpoint)
    assert r.returncode == 0, r.stderr
    assert "loaded weights from" in r.stderr and "discriminator trained" in r.stderr
    r = _cli(MAIN, *opts, "--output-dir", str(tmp_path / "eval"), "--evaluate-only", "--load", checkpoint)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("reconstruction L1: ")
    assert "animation skipped" in r.stderr   # one test video: no pairs, reconstruction still runs
