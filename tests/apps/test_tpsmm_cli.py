"""The demo, tools/export_model.py and tools/inference.py with a Thin-Plate Spline Motion Model config."""
import os

import numpy as np
import pytest

from conftest import require_onnx
from ppgan.apps import deploy_cli, demo
from ppgan.utils.cli import run
from ppgan.utils.video import count_frames, iter_frames, save_image, video_fps, write_video


@pytest.fixture
def model(tiny_tpsmm_model):
    return tiny_tpsmm_model


@pytest.fixture
def inputs(tmp_path):
    frames = np.full((8, 64, 64, 3), 30, np.uint8)
    for i in range(8):
        frames[i, 12 + 2 * i:40 + 2 * i, 16:44] = (220, 180, 60)
    source = str(tmp_path / "source.png")
    save_image(source, frames[0])
    driving = str(tmp_path / "driving.mp4")
    write_video(driving, frames, fps=12)
    return source, driving


def _run(main, argv):
    with pytest.raises(SystemExit) as e:
        run(main, argv)
    return e.value.code


def _demo(model, inputs, out, *extra):
    return _run(demo.main, ["--config", model[0], "--weight_path", model[1], "--source_image", inputs[0],
                            "--driving_video", inputs[1], "--output", out, "--crop", "none", "--no-progress"]
                + list(extra))


@pytest.mark.parametrize("mode", ["relative", "avd", "relative-affine"])
def test_demo_animates_mp4_to_mp4(model, inputs, tmp_path, mode):
    out = str(tmp_path / "out")
    assert _demo(model, inputs, out, "--mode", mode, "--backend", "dygraph", "--find_best_frame") == 0
    result = os.path.join(out, "result.mp4")
    assert count_frames(result) == 8 and video_fps(result) == pytest.approx(12)


def _frames(folder):
    return np.stack([f.astype(np.int16) for f in iter_frames(os.path.join(folder, "frames"))])


def test_fomm_motion_flags_map_onto_the_modes(model, inputs, tmp_path):
    """PaddleGAN's and the FOMM's --relative --adapt_scale animate a TPSMM in its relative mode (which adapts the
    scale), --no-relative in its standard mode; --no-adapt_scale keeps relative motion unscaled."""
    runs = {"mode-relative": ["--mode", "relative"], "fomm-relative": ["--relative", "--adapt_scale"],
            "mode-standard": ["--mode", "standard"], "fomm-absolute": ["--no-relative"],
            "unscaled": ["--relative", "--no-adapt_scale"]}
    frames = {}
    for name, flags in runs.items():
        out = str(tmp_path / name)
        assert _demo(model, inputs, out, "--filename", "frames", "--backend", "dygraph", *flags) == 0
        frames[name] = _frames(out)
    np.testing.assert_array_equal(frames["fomm-relative"], frames["mode-relative"])
    np.testing.assert_array_equal(frames["fomm-absolute"], frames["mode-standard"])
    assert np.abs(frames["mode-relative"] - frames["mode-standard"]).max() > 0
    assert np.abs(frames["unscaled"] - frames["mode-relative"]).max() > 0


def test_without_motion_flags_the_demo_animates_in_the_configs_mode(tiny_tpsmm_config, model, inputs, tmp_path):
    """No --mode, --relative or --adapt_scale: the config's animate.mode (the shipped TPSMM's: relative-affine)."""
    from conftest import _config_file

    tiny_tpsmm_config["animate"] = {"mode": "relative-affine"}
    affine_model = (_config_file(tiny_tpsmm_config, tmp_path / "affine.yaml"), model[1])
    frames = {}
    for name, flags in {"default": [], "affine": ["--mode", "relative-affine"], "relative": ["--mode", "relative"],
                        "fomm-relative": ["--relative"]}.items():
        out = str(tmp_path / name)
        assert _demo(affine_model, inputs, out, "--filename", "frames", "--backend", "dygraph", *flags) == 0
        frames[name] = _frames(out)
    np.testing.assert_array_equal(frames["default"], frames["affine"])
    np.testing.assert_array_equal(frames["fomm-relative"], frames["relative"])  # FOMM's flag names its mode
    assert np.abs(frames["default"] - frames["relative"]).max() > 0


@pytest.mark.parametrize("flags", [["--mode", "standard", "--relative"], ["--mode", "relative", "--no-relative"],
                                   ["--mode", "avd", "--adapt_scale"], ["--no-relative", "--adapt_scale"],
                                   ["--mode", "relative-affine", "--no-adapt_scale"]])
def test_contradicting_motion_flags_are_one_line_errors(model, inputs, tmp_path, flags, capsys):
    out = str(tmp_path / "out")
    assert _demo(model, inputs, out, *flags) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ("contradicts" in err[0] or "applies to relative motion only" in err[0]), err
    assert not os.path.exists(os.path.join(out, "result.mp4"))


@pytest.mark.parametrize("backend", ["inference", "onnx"])
def test_export_then_inference_matches_the_demo(model, inputs, tmp_path, backend, capsys):
    if backend == "onnx":
        require_onnx()
    folder = str(tmp_path / "exported")
    argv = ["-c", model[0], "--load", model[1], "--output_dir", folder] + (["--onnx"] if backend == "onnx" else [])
    assert _run(deploy_cli.export_main, argv) == 0
    printed = capsys.readouterr().out
    assert "at 64x64 (TPSMMModel, 10 keypoints)" in printed and "avd_network" in printed
    out = str(tmp_path / "deployed")
    assert _run(deploy_cli.inference_main, ["--model_dir", folder, "--source_image", inputs[0], "--driving_video",
                                            inputs[1], "--output", out, "--backend", backend, "--crop", "none",
                                            "--mode", "avd", "--no-progress"]) == 0
    reference = str(tmp_path / "ref")
    assert _demo(model, inputs, reference, "--filename", "frames", "--backend", "dygraph", "--mode", "avd") == 0
    ours = np.stack([f.astype(np.int16) for f in iter_frames(out)])
    theirs = np.stack([f.astype(np.int16) for f in iter_frames(os.path.join(reference, "frames"))])
    assert ours.shape == theirs.shape == (8, 64, 64, 3)
    assert np.abs(ours - theirs).max() <= 1  # 8-bit rounding of frames within 1e-4 of each other
    # an export animates with its own family's flags: FOMM's contradicting its mode are an error
    assert _run(deploy_cli.inference_main, ["--model_dir", folder, "--source_image", inputs[0], "--driving_video",
                                            inputs[1], "--output", str(tmp_path / "x.mp4"), "--backend", backend,
                                            "--mode", "avd", "--relative", "--no-progress"]) == 2
