"""PaddleGAN's staged distillation (ppgan/models/firstorder_distill.py): each stage trains an epoch on synthetic
videos, trains only its student nets and leaves the teacher's as loaded."""
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

from conftest import REPO
from ppgan.datasets.synthetic import write_dataset
from ppgan.engine.trainer import Trainer, checkpoint_path
from ppgan.models import build_model, build_nets, model_family
from ppgan.models.firstorder_distill import (DistillBothStage, DistillGeneratorStage, DistillKPDetectorStage,
                                             teacher_model_config)
from ppgan.utils.checkpoint import read_weights, save_weights
from ppgan.utils.config import load_config
from ppgan.utils.errors import CheckpointError, ConfigError

CONFIG = os.path.join(REPO, "configs", "firstorder_synthetic_mobile_64.yaml")
MAIN = os.path.join(REPO, "tools", "main.py")
TINY_DISCRIMINATOR = "model.discriminator={name: MultiScaleDiscriminator, scales: [1], block_expansion: 4, " \
                     "max_features: 16, num_blocks: 2, sn: true}"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic32")
    write_dataset(str(root), size=32, num_train=4, num_test=2, chunks_per_id=2, num_frames=6, force=True)
    return str(root)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """Seeded random weights of the synthetic config's teacher (firstorder_synthetic_64's nets)."""
    paddle.seed(3)
    nets = build_nets(teacher_model_config(load_config(CONFIG)), ["kp_detector", "generator"])
    path = str(tmp_path_factory.mktemp("teacher") / "teacher.pdparams")
    save_weights({k: {n: v.numpy() for n, v in net.state_dict().items()} for k, net in nets.items()}, path)
    return path


def _options(data, *extra):
    return ["dataset.root_dir=%s" % data, "dataset.frame_shape=[32,32,3]", "train.num_epochs=1",
            "train.num_repeats=1", "train.batch_size=2", "train.log_freq=1", *extra]


def _state(net):
    return {k: v.numpy().copy() for k, v in net.state_dict().items()}


def _changed(before, after):
    return [k for k in before if not np.array_equal(before[k], after[k])]


def _train(config, out, stage):
    trainer = Trainer(config, out, stage=stage, progress=False)
    before = {name: _state(net) for name, net in trainer.model.nets.items()}
    trainer.train()
    after = {name: _state(net) for name, net in trainer.model.nets.items()}
    return trainer, before, after, read_weights(checkpoint_path(out))


@pytest.fixture(scope="module")
def kp_run(data, teacher, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("kp_detector"))
    gan = ["train.loss_weights.generator_gan=1", "train.loss_weights.discriminator_gan=1"]
    config = load_config(CONFIG, _options(data, "distill.teacher_weights=" + teacher, TINY_DISCRIMINATOR, *gan))
    return _train(config, out, "kp_detector")


@pytest.fixture(scope="module")
def generator_run(data, teacher, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("generator"))
    config = load_config(CONFIG, _options(data, "distill.teacher_weights=" + teacher))
    return _train(config, out, "generator")


def test_the_stages_are_the_first_order_familys():
    config = load_config(CONFIG)
    stages = model_family(config["model"]).training_stages()
    assert stages["kp_detector"] is DistillKPDetectorStage and stages["generator"] is DistillGeneratorStage
    assert stages["both"] is DistillBothStage


def test_kp_detector_stage_trains_the_student_detector_against_the_teachers_generator(kp_run, teacher):
    trainer, before, after, saved = kp_run
    model = trainer.model
    assert type(model.kp_detector).__name__ == "MobileKPDetector"
    assert type(model.generator).__name__ == "OcclusionAwareGenerator"  # the teacher's
    assert set(trainer.optimizers) == {"kp_detector", "discriminator"}
    assert _changed(before["kp_detector"], after["kp_detector"])
    assert _changed(before["discriminator"], after["discriminator"])
    assert not _changed(before["generator"], after["generator"])  # weights and BatchNorm statistics
    teacher_state = read_weights(teacher)["generator"]
    assert all(np.array_equal(saved["generator"][k], teacher_state[k]) for k in teacher_state)
    assert saved["stage"] == "kp_detector" and "optimizer_generator" not in saved


def test_generator_stage_trains_the_student_generator_with_the_teachers_detector(generator_run, teacher):
    trainer, before, after, saved = generator_run
    model = trainer.model
    assert type(model.kp_detector).__name__ == "KPDetector"  # the teacher's
    assert type(model.generator).__name__ == "MobileOcclusionAwareGenerator"
    assert set(trainer.optimizers) == {"generator"}
    assert _changed(before["generator"], after["generator"])
    assert not _changed(before["kp_detector"], after["kp_detector"])
    teacher_state = read_weights(teacher)["kp_detector"]
    assert all(np.array_equal(saved["kp_detector"][k], teacher_state[k]) for k in teacher_state)
    assert model.loss_weights["equivariance_value"] == 0 and model.loss_weights["equivariance_jacobian"] == 0


def test_both_stage_starts_from_the_two_stages_and_trains_both(kp_run, generator_run, data, tmp_path):
    kp_file, gen_file = (checkpoint_path(run[0].output_dir) for run in (kp_run, generator_run))
    config = load_config(CONFIG, _options(data, "distill.kp_detector_weights=" + kp_file,
                                          "distill.generator_weights=" + gen_file))
    trainer, before, after, saved = _train(config, str(tmp_path / "both"), "both")
    for name, file in (("kp_detector", kp_file), ("generator", gen_file)):
        started = read_weights(file)[name]
        assert all(np.array_equal(before[name][k], started[k]) for k in started), name
        assert _changed(before[name], after[name]), name
    assert type(trainer.model.kp_detector).__name__ == "MobileKPDetector"
    assert type(trainer.model.generator).__name__ == "MobileOcclusionAwareGenerator"
    assert set(trainer.optimizers) == {"kp_detector", "generator"} and saved["stage"] == "both"


def test_both_stage_refuses_the_generator_stages_file_for_the_detector(generator_run, data):
    gen_file = checkpoint_path(generator_run[0].output_dir)
    config = load_config(CONFIG, _options(data, "distill.kp_detector_weights=" + gen_file,
                                          "distill.generator_weights=" + gen_file))
    with pytest.raises(CheckpointError, match="kp_detector"):
        build_model(config, stage="both")


@pytest.mark.parametrize("stage,key", [("kp_detector", "teacher_weights"), ("generator", "teacher_weights"),
                                       ("both", "kp_detector_weights")])
def test_missing_weights_are_config_errors(stage, key, tmp_path):
    config = load_config(CONFIG, ["distill.%s=%s" % (key, tmp_path / "absent.pdparams")])
    with pytest.raises(ConfigError, match="distill.%s" % key):
        build_model(config, stage=stage)


def test_the_teacher_is_checked_when_the_config_loads():
    with pytest.raises(ConfigError, match="distill.teacher.generator.block_expansio"):
        load_config(CONFIG, ["distill.teacher.generator.block_expansio=8"])
    with pytest.raises(ConfigError, match="distill.teacher.discriminator"):
        load_config(CONFIG, ["distill.teacher.discriminator={name: MultiScaleDiscriminator}"])


def test_cli_without_teacher_weights_prints_one_line(data, tmp_path):
    r = subprocess.run([sys.executable, MAIN, "-c", os.path.join(REPO, "configs", "firstorder_vox_mobile_256.yaml"),
                        "--stage", "kp_detector", "--output-dir", str(tmp_path / "run"), "-o",
                        "dataset.root_dir=" + data], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "distill.teacher_weights" in lines[0] and "nothing is downloaded" in lines[0], r.stderr


@pytest.mark.slow  # three tools/main.py runs
def test_the_three_stages_run_through_tools_main(data, teacher, tmp_path):
    opts = ["-o", *_options(data, "distill.teacher_weights=" + teacher)]
    runs = {}
    for stage in ("kp_detector", "generator", "both"):
        runs[stage] = str(tmp_path / stage)
        extra = [] if stage != "both" else ["distill.kp_detector_weights=" + checkpoint_path(runs["kp_detector"]),
                                            "distill.generator_weights=" + checkpoint_path(runs["generator"])]
        r = subprocess.run([sys.executable, MAIN, "-c", CONFIG, "--stage", stage, "--output-dir", runs[stage],
                            "--no-progress", *opts, *extra], capture_output=True, text=True, cwd=REPO, timeout=600)
        assert r.returncode == 0, r.stderr
        assert "epoch 1/1" in open(os.path.join(runs[stage], "train.log")).read()
    r = subprocess.run([sys.executable, MAIN, "-c", CONFIG, "--evaluate-only", "--load",
                        checkpoint_path(runs["both"]), "--output-dir", str(tmp_path / "eval"), "--no-progress", *opts],
                       capture_output=True, text=True, cwd=REPO, timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("reconstruction L1: ")
