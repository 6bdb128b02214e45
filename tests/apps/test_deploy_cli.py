"""tools/export_model.py and tools/inference.py end to end, and their bad inputs."""
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from conftest import REPO, require_onnx
from ppgan.apps import deploy_cli, demo
from ppgan.utils.cli import run
from ppgan.utils.video import count_frames, iter_frames, save_image


@pytest.fixture
def model(tiny_model):
    """(config path, weights path) of a tiny random model working at 32x32."""
    return tiny_model


@pytest.fixture
def inputs(tmp_path, rng):
    frames = (rng.rand(9, 32, 32, 3) * 255).astype(np.uint8)
    source = str(tmp_path / "source.png")
    save_image(source, frames[0])
    driving = str(tmp_path / "driving")  # a folder of PNG frames: exact pixels, no codec in the comparison
    os.makedirs(driving)
    for i, frame in enumerate(frames):
        save_image(os.path.join(driving, "%03d.png" % i), frame)
    return source, driving


def _run(main, argv):
    with pytest.raises(SystemExit) as e:
        run(main, argv)
    return e.value.code


def _export(model, folder, *extra):
    return _run(deploy_cli.export_main, ["-c", model[0], "--load", model[1], "--output_dir", folder] + list(extra))


def _frames(folder):
    return np.stack([f.astype(np.int16) for f in iter_frames(folder)])


@pytest.mark.parametrize("backend", ["inference", "onnx"])
def test_export_then_inference_matches_the_demo(model, inputs, tmp_path, backend, capsys):
    if backend == "onnx":
        require_onnx()
    folder = str(tmp_path / "exported")
    assert _export(model, folder, *(["--onnx"] if backend == "onnx" else [])) == 0
    assert "exported tiny.yaml at 32x32" in capsys.readouterr().out
    source, driving = inputs
    out = str(tmp_path / "deployed")
    assert _run(deploy_cli.inference_main, ["--model_dir", folder, "--source_image", source, "--driving_video",
                                            driving, "--output", out, "--backend", backend, "--crop", "none",
                                            "--batch_size", "4", "--threads", "2", "--no-progress"]) == 0
    reference = str(tmp_path / "ref")
    assert _run(demo.main, ["--config", model[0], "--weight_path", model[1], "--source_image", source,
                            "--driving_video", driving, "--output", reference, "--filename", "frames",
                            "--backend", "dygraph", "--crop", "none", "--no-progress"]) == 0
    ours, theirs = _frames(out), _frames(os.path.join(reference, "frames"))
    assert ours.shape == theirs.shape == (9, 32, 32, 3)
    assert np.abs(ours - theirs).max() <= 1  # 8-bit rounding of frames within 1e-4 of each other


def test_inference_writes_mp4_and_absolute_mode_differs(tmp_path):
    """Relative/absolute motion (FOMM's flags) is chosen at run time, on the shipped FOMM."""
    folder = str(tmp_path / "exported")
    fomm = demo.SHIPPED_MODEL_DIRS["FirstOrderModel"]
    assert _export((os.path.join(fomm, "config.yaml"), os.path.join(fomm, "weights.pdparams")), folder) == 0
    samples = os.path.join(REPO, "applications", "samples")
    source, driving = os.path.join(samples, "source_a.png"), str(tmp_path / "driving")
    os.makedirs(driving)
    for i, frame in enumerate(iter_frames(os.path.join(samples, "driving.mp4"))):
        if i < 9:
            save_image(os.path.join(driving, "%03d.png" % i), frame)
    results = {}
    for flag in ("--relative", "--no-relative"):
        out = str(tmp_path / ("r%s" % flag))
        assert _run(deploy_cli.inference_main, ["--model_dir", folder, "--source_image", source, "--driving_video",
                                                driving, "--output", out, "--crop", "none", flag,
                                                "--no-progress"]) == 0
        results[flag] = _frames(out)
    assert np.abs(results["--relative"] - results["--no-relative"]).mean() > 2
    mp4 = str(tmp_path / "result.mp4")
    assert _run(deploy_cli.inference_main, ["--model_dir", folder, "--source_image", source, "--driving_video",
                                            driving, "--output", mp4, "--crop", "none", "--no-progress"]) == 0
    assert count_frames(mp4) == 9


@pytest.mark.parametrize("case", ["missing model dir", "not an export", "trt on cpu", "gpu without cuda",
                                  "onnx not exported", "output is a folder", "missing source"])
def test_inference_bad_input_is_one_line_and_exit_2(model, inputs, tmp_path, case, capsys):
    folder = str(tmp_path / "exported")
    assert _export(model, folder) == 0
    capsys.readouterr()
    source, driving = inputs
    argv = ["--model_dir", folder, "--source_image", source, "--driving_video", driving,
            "--output", str(tmp_path / "out.mp4"), "--no-progress"]
    if case == "missing model dir":
        argv[1] = str(tmp_path / "nope")
    elif case == "not an export":
        argv[1] = str(tmp_path)
    elif case == "trt on cpu":
        argv.append("--use_trt")
    elif case == "gpu without cuda":
        import paddle

        if paddle.device.is_compiled_with_cuda():
            pytest.skip("this Paddle has CUDA")
        argv += ["--device", "gpu"]
    elif case == "onnx not exported":
        argv += ["--backend", "onnx"]
    elif case == "output is a folder":
        argv[argv.index("--output") + 1] = str(tmp_path) + os.sep
    elif case == "missing source":
        argv[argv.index("--source_image") + 1] = str(tmp_path / "nope.png")
    assert _run(deploy_cli.inference_main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert not os.path.exists(str(tmp_path / "out.mp4"))


@pytest.mark.parametrize("case", ["missing weights", "missing config", "folder with other files", "wrong weights"])
def test_export_bad_input_is_one_line_and_exit_2(model, tmp_path, case, capsys, tiny_config):
    config, weights = model
    out = str(tmp_path / "exported")
    if case == "missing weights":
        weights = str(tmp_path / "nope.pdparams")
    elif case == "missing config":
        config = str(tmp_path / "nope.yaml")
    elif case == "folder with other files":
        os.makedirs(out)
        open(os.path.join(out, "notes.txt"), "w").close()
    elif case == "wrong weights":
        cfg = dict(tiny_config, model=dict(tiny_config["model"], common=dict(tiny_config["model"]["common"],
                                                                             num_kp=6)))
        config = str(tmp_path / "other.yaml")
        with open(config, "w") as f:
            yaml.safe_dump(cfg, f)
    assert _export((config, weights), out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert os.listdir(out) == ["notes.txt"] if case == "folder with other files" else not os.path.exists(out)


def test_paddlegans_export_command_line(model, tmp_path, capsys):
    """PaddleGAN's spelling: --config-file, --export_model and --inputs_size (frame size and keypoints read from it)."""
    out = str(tmp_path / "pg")
    assert _run(deploy_cli.export_main, ["--config-file", model[0], "--load", model[1], "--inputs_size",
                                         "1,3,48,48;1,3,48,48;1,4,2;1,4,2,2", "--export_model", out]) == 0
    assert "at 48x48" in capsys.readouterr().out
    for sizes, message in (("1,3,48,48;1,3,48,48;1,7,2;1,7,2,2", "gives 7 keypoints but the model has 4"),
                           ("1,3,48,64;1,3,48,64;1,4,2;1,4,2,2", "H and W must be equal"),
                           ("1,3,48,48", "four shapes")):
        assert _run(deploy_cli.export_main, ["--config-file", model[0], "--load", model[1], "--inputs_size", sizes,
                                             "--export_model", str(tmp_path / "bad")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
        assert not os.path.exists(str(tmp_path / "bad"))


@pytest.mark.parametrize("script", ["export_model.py", "inference.py"])
def test_help_explains_every_flag(script):
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", script), "--help"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0
    parser = deploy_cli.build_export_parser() if script == "export_model.py" else deploy_cli.build_inference_parser()
    for action in parser._actions:
        assert action.help, action.option_strings
        for flag in action.option_strings:
            assert flag in proc.stdout
