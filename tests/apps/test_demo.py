"""applications/tools/first-order-demo.py end to end on generated videos, and every bad input."""
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from conftest import REPO
from ppgan.apps import FirstOrderPredictor
from ppgan.apps import demo
from ppgan.utils.cli import run
from ppgan.utils.video import count_frames, has_audio, read_frames, read_image, save_image, video_fps, write_video

SCRIPT = os.path.join(REPO, "applications", "tools", "first-order-demo.py")


@pytest.fixture
def model(tiny_model):
    """(config path, weights path) of a tiny random model working at 32x32."""
    return tiny_model


def _frames(rng, t, h=40, w=40):
    """A moving bright square on a dark background: smooth content, so codecs keep it."""
    frames = np.full((t, h, w, 3), 30, np.uint8)
    for i in range(t):
        y, x = 5 + i % 10, 8 + (2 * i) % 12
        frames[i, y:y + 14, x:x + 14] = (220, 180, 60)
    return frames


@pytest.fixture
def inputs(tmp_path, rng):
    source = str(tmp_path / "source.png")
    save_image(source, _frames(rng, 1, 48, 64)[0])
    driving = str(tmp_path / "driving.mp4")
    write_video(driving, _frames(rng, 12), fps=10)
    return source, driving


def _demo(model, source, driving, out, *extra):
    """Run the demo in-process like the script does; returns (exit code, stderr text)."""
    argv = ["--config", model[0], "--weight_path", model[1], "--source_image", source, "--driving_video", driving,
            "--output", out, "--no-progress"] + list(extra)
    with pytest.raises(SystemExit) as e:
        run(demo.main, argv)
    return e.value.code


def _listing(folder):
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_mp4_result_has_the_driving_frames_and_fps(model, inputs, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert _demo(model, *inputs, out, "--batch_size", "5") == 0
    result = os.path.join(out, "result.mp4")
    assert count_frames(result) == 12
    assert video_fps(result) == pytest.approx(10, rel=1e-3)
    assert _listing(out) == ["result.mp4"]     # no temporary files left
    assert "wrote" in capsys.readouterr().out


def test_gif_and_png_folder_results(model, inputs, tmp_path):
    out = str(tmp_path / "out")
    assert _demo(model, *inputs, out, "--filename", "anim.gif") == 0
    assert count_frames(os.path.join(out, "anim.gif")) == 12
    assert _demo(model, *inputs, out, "--filename", "frames") == 0
    folder = os.path.join(out, "frames")
    assert len(os.listdir(folder)) == 12 and os.listdir(folder)[0].endswith(".png")


def test_non_square_source_is_not_distorted(model, inputs, tmp_path):
    """--crop none: a 64x48 source gives frames of the same aspect (4:3), padded for the model."""
    out = str(tmp_path / "out")
    assert _demo(model, *inputs, out, "--crop", "none", "--filename", "f") == 0
    frame = read_frames(os.path.join(out, "f"), [0])[0]
    assert abs(frame.shape[1] / frame.shape[0] - 64 / 48) < 0.05
    assert frame.shape[:2] == (24, 32)    # the model's 32x32 resolution, padding removed


def test_cli_matches_the_api_and_batching(model, inputs, tmp_path):
    source, driving = inputs
    out = str(tmp_path / "out")
    assert _demo(model, source, driving, out, "--crop", "none", "--filename", "f", "--batch_size", "1") == 0
    one = read_frames(os.path.join(out, "f"))
    assert _demo(model, source, driving, out, "--crop", "none", "--filename", "g", "--batch_size", "7") == 0
    seven = read_frames(os.path.join(out, "g"))
    np.testing.assert_array_equal(one, seven)


def test_audio_is_copied_when_present(model, tmp_path, rng):
    source = str(tmp_path / "source.png")
    save_image(source, _frames(rng, 1)[0])
    silent = str(tmp_path / "silent.mp4")
    write_video(silent, _frames(rng, 10), fps=10)
    sound = str(tmp_path / "sound.mp4")
    _mp4_with_audio(sound)
    assert has_audio(sound) and not has_audio(silent)
    out = str(tmp_path / "out")
    assert _demo(model, source, sound, out, "--audio") == 0
    assert has_audio(os.path.join(out, "result.mp4"))
    assert count_frames(os.path.join(out, "result.mp4")) == count_frames(sound)
    assert _demo(model, source, silent, out, "--audio", "--filename", "quiet.mp4") == 0
    assert not has_audio(os.path.join(out, "quiet.mp4"))
    assert _listing(out) == ["quiet.mp4", "result.mp4"]


def _mp4_with_audio(path):
    import imageio_ffmpeg
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=48x48:rate=10", "-f", "lavfi", "-i", "sine=frequency=440", "-t", "1.2",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", path], check=True)


def test_best_frame_options(model, inputs, tmp_path, tiny_config):
    source, driving = inputs
    out = str(tmp_path / "out")
    assert _demo(model, source, driving, out, "--crop", "none", "--best_frame", "3", "--filename", "b3") == 0
    assert len(os.listdir(os.path.join(out, "b3"))) == 12
    assert _demo(model, source, driving, out, "--crop", "none", "--find_best_frame", "--filename", "fb") == 0
    assert len(os.listdir(os.path.join(out, "fb"))) == 12


def test_find_best_frame_picks_the_source_pose(tiny_config, model, rng):
    """The driving frame equal to the source has distance 0: it is the best frame."""
    p = FirstOrderPredictor(tiny_config, model[1], batch_size=3)
    video = rng.uniform(0, 1, (7, 32, 32, 3)).astype(np.float32)
    assert p.find_best_frame(video[4], video) == 4


def test_initial_frame_is_the_original_forward_backward_pass(tiny_config, model, rng):
    """Animating all frames against frame k == the original's backward (k..0) + forward (k..end) passes."""
    p = FirstOrderPredictor(tiny_config, model[1])
    source, video = rng.uniform(0, 1, (32, 32, 3)), rng.uniform(0, 1, (6, 32, 32, 3)).astype(np.float32)
    ours = p.animate(source, video, initial_frame=video[2])
    forward = p.animate(source, video[2:])
    backward = p.animate(source, video[:3][::-1])[::-1]
    np.testing.assert_allclose(ours, np.concatenate([backward[:-1], forward]), atol=1e-6)


@pytest.mark.parametrize("kind", ["gray", "rgba", "16bit", "small", "large"])
def test_any_source_image_works(model, inputs, tmp_path, kind, rng):
    _, driving = inputs
    path = str(tmp_path / ("%s.png" % kind))
    from PIL import Image
    if kind == "gray":
        Image.fromarray(rng.randint(0, 255, (40, 40), dtype=np.uint8)).save(path)
    elif kind == "rgba":
        Image.fromarray(rng.randint(0, 255, (40, 50, 4), dtype=np.uint8), "RGBA").save(path)
    elif kind == "16bit":
        Image.fromarray(rng.randint(0, 65535, (40, 40), dtype=np.uint16)).save(path)
    elif kind == "small":
        Image.fromarray(rng.randint(0, 255, (9, 7, 3), dtype=np.uint8)).save(path)
    else:
        Image.fromarray(np.zeros((2000, 3000, 3), np.uint8)).save(path)
    out = str(tmp_path / "out")
    assert _demo(model, path, driving, out, "--crop", "none", "--filename", "f") == 0
    assert len(os.listdir(os.path.join(out, "f"))) == 12


def _bad(tmp_path, name, data):
    path = str(tmp_path / name)
    with open(path, "wb") as f:
        f.write(data)
    return path


@pytest.mark.parametrize("case", ["missing source", "missing driving", "corrupt source", "corrupt video",
                                  "empty video", "empty folder", "wrong checkpoint", "missing weights",
                                  "config without weights", "output is a file", "bad format", "best frame too far",
                                  "audio to gif", "image as driving", "text as driving"])
def test_bad_input_is_one_line_and_exit_2(model, inputs, tmp_path, case, capsys, tiny_config):
    source, driving = inputs
    out = str(tmp_path / "out")
    extra = []
    m = model
    if case == "missing source":
        source = str(tmp_path / "nope.png")
    elif case == "missing driving":
        driving = str(tmp_path / "nope.mp4")
    elif case == "corrupt source":
        source = _bad(tmp_path, "bad.png", b"\x89PNG not really")
    elif case == "corrupt video":
        driving = _bad(tmp_path, "bad.mp4", os.urandom(2000))
    elif case == "empty video":
        driving = _bad(tmp_path, "empty.mp4", b"")
    elif case == "empty folder":
        driving = str(tmp_path / "frames")
        os.makedirs(driving)
    elif case == "wrong checkpoint":
        cfg = dict(tiny_config)
        cfg["model"] = dict(tiny_config["model"], common=dict(tiny_config["model"]["common"], num_kp=6))
        other = str(tmp_path / "other.yaml")
        with open(other, "w") as f:
            yaml.safe_dump(cfg, f)
        m = (other, model[1])
    elif case == "missing weights":
        m = (model[0], str(tmp_path / "nope.pdparams"))
    elif case == "config without weights":
        with pytest.raises(SystemExit) as e:
            run(demo.main, ["--config", model[0], "--source_image", source, "--driving_video", driving])
        assert e.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "convert_torch_weights.py" in err[0]
        return
    elif case == "output is a file":
        out = _bad(tmp_path, "out", b"x")
    elif case == "bad format":
        extra = ["--filename", "result.avi"]
    elif case == "best frame too far":
        extra = ["--best_frame", "99"]
    elif case == "audio to gif":
        extra = ["--audio", "--filename", "r.gif"]
    elif case == "image as driving":
        driving = source
    elif case == "text as driving":
        driving = _bad(tmp_path, "notes.txt", b"hello")
    before = _listing(out) if os.path.isdir(out) else None
    assert _demo(m, source, driving, out, *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    if os.path.isdir(out):
        assert _listing(out) == (before or []), "nothing may be left behind"


def test_unwritable_output_folder(model, inputs, tmp_path, capsys, monkeypatch):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    if os.access(str(out), os.W_OK):   # root writes anywhere: make the check see what a user would
        monkeypatch.setattr(demo.os, "access", lambda path, mode: False)
    assert _demo(model, *inputs, str(out)) == 2
    assert "not writable" in capsys.readouterr().err
    assert _listing(str(out)) == []


def test_missing_output_folder_is_created(model, inputs, tmp_path):
    out = str(tmp_path / "a" / "b")
    assert _demo(model, *inputs, out, "--crop", "none") == 0
    assert os.path.isfile(os.path.join(out, "result.mp4"))


def test_script_help_and_exit_code(model, inputs, tmp_path):
    r = subprocess.run([sys.executable, SCRIPT, "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0
    for flag in ("--config", "--weight_path", "--source_image", "--driving_video", "--output", "--filename",
                 "--relative", "--adapt_scale", "--find_best_frame", "--best_frame", "--cpu", "--image_size",
                 "--batch_size", "--audio", "--ratio", "--multi_person", "--crop"):
        assert flag in r.stdout
    r = subprocess.run([sys.executable, SCRIPT, "--config", model[0], "--weight_path", model[1], "--source_image",
                        inputs[0], "--driving_video", str(tmp_path / "missing.mp4")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "missing.mp4" in r.stderr


def test_face_crop_pastes_animated_faces_into_the_full_source(model, tmp_path):
    """--crop face with two faces and --multi_person: full-resolution frames, background untouched."""
    from test_face_crop import _faces_image
    source_img = _faces_image(240, 400, [(110, 120, 1.0), (290, 120, 1.0)])
    source = str(tmp_path / "two.png")
    save_image(source, source_img)
    driving = str(tmp_path / "drv.mp4")
    write_video(driving, [_faces_image(200, 200, [(100 + i, 100, 1.0)]) for i in range(8)], fps=8)
    out = str(tmp_path / "out")
    assert _demo(model, source, driving, out, "--crop", "face", "--multi_person", "--filename", "f") == 0
    frames = np.stack(read_frames(os.path.join(out, "f")))
    assert frames.shape == (8, 240, 400, 3)
    # far from both faces (corners) the source is unchanged; around the faces it was replaced
    np.testing.assert_array_equal(frames[:, :20, :20], np.broadcast_to(source_img[:20, :20], (8, 20, 20, 3)))
    assert np.abs(frames[:, 100:140, 90:130].astype(float) - source_img[100:140, 90:130]).mean() > 5
    assert np.abs(frames[:, 100:140, 270:310].astype(float) - source_img[100:140, 270:310]).mean() > 5


def test_crop_face_without_a_face_is_an_error(model, inputs, tmp_path, capsys):
    assert _demo(model, *inputs, str(tmp_path / "out"), "--crop", "face") == 2
    assert "no face found in the source image" in capsys.readouterr().err


def test_no_model_and_no_default_says_how_to_get_one(inputs, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "DEFAULT_WEIGHTS", str(tmp_path / "missing.pdparams"))
    with pytest.raises(SystemExit) as e:
        run(demo.main, ["--source_image", inputs[0], "--driving_video", inputs[1], "--output", str(tmp_path / "o")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "default model is missing" in err and "convert_torch_weights.py" in err and "vox-cpk.pth.tar" in err


def test_the_shipped_default_model_animates_the_samples(tmp_path):
    """The README's main command, on the shipped model and samples (a few frames via a PNG-folder driving)."""
    assert os.path.isfile(demo.DEFAULT_WEIGHTS), "the default model must ship with the project"
    samples = os.path.join(REPO, "applications", "samples")
    driving = str(tmp_path / "drv")
    write_video(driving, read_frames(os.path.join(samples, "driving.mp4"), list(range(0, 100, 10))))
    out = str(tmp_path / "out")
    source = os.path.join(samples, "source_b.png")
    with pytest.raises(SystemExit) as e:
        run(demo.main, ["--source_image", source, "--driving_video", driving, "--output", out, "--no-progress"])
    assert e.value.code == 0
    frames = np.stack(read_frames(os.path.join(out, "result.mp4"))).astype(np.float64)
    assert len(frames) == 10
    assert np.abs(np.diff(frames, axis=0)).mean() > 0.5     # it moves
    # ... and it is the source that moves: closer to the source image than to the driving frames
    src = read_image(source).astype(np.float64)
    drv = np.stack(read_frames(driving)).astype(np.float64)
    assert np.abs(frames - src).mean() < 0.5 * np.abs(frames - drv).mean()


def test_the_progress_bar_starts_after_the_one_off_work(model, inputs, tmp_path, monkeypatch):
    """The first export of a static backend and the best-frame search happen before the bar, so its first
    frame does not promise minutes per frame."""
    from ppgan.apps import animation
    events = []
    predictor = FirstOrderPredictor(model[0], model[1], backend="dygraph")
    prepare, best = predictor.prepare_backend, predictor.find_best_frame
    monkeypatch.setattr(predictor, "prepare_backend", lambda size=None: (events.append("prepare"), prepare(size))[1])
    monkeypatch.setattr(predictor, "find_best_frame", lambda *a: (events.append("best frame"), best(*a))[1])
    real_tqdm = animation.tqdm

    def tqdm(iterable, **kwargs):
        events.append("bar")
        return real_tqdm(iterable, **kwargs)

    monkeypatch.setattr(animation, "tqdm", tqdm)
    anim = animation.Animation(predictor, inputs[0], inputs[1], crop="none", progress=False)
    assert anim.write(str(tmp_path / "out.mp4"), find_best_frame=True) == 12
    assert events == ["prepare", "best frame", "bar"]


def test_the_animations_keypoints_are_the_predictors_on_the_frames_it_animates(model, tiny_config, rng, tmp_path,
                                                                                monkeypatch):
    """Animation.keypoints: the source and the reference driving frame as the model sees them, with the keypoints
    the predictor detects there; the best-frame search behind the reference runs once for preview and write."""
    from ppgan.apps.animation import Animation

    p = FirstOrderPredictor(tiny_config, model[1])
    video = _frames(rng, 6, 32, 32)
    source = str(tmp_path / "source.png")
    save_image(source, video[3])
    driving = str(tmp_path / "driving.mp4")
    write_video(driving, video, fps=10)
    searches = []
    search = p.find_best_frame
    monkeypatch.setattr(p, "find_best_frame", lambda *a: searches.append(1) or search(*a))
    with Animation(p, source, driving, crop="none", progress=False) as animation:
        (src, kp_src), (ref, kp_ref) = animation.keypoints()
        decoded = list(animation._driving_inputs())
        first = decoded[0]
        np.testing.assert_array_equal(ref, first)  # no best frame: the first driving frame
        assert src.shape == (32, 32, 3) and kp_src.shape == (tiny_config["model"]["common"]["num_kp"], 2)
        # absolute motion hands the generator the driving keypoints as detected: the same points
        absolute = FirstOrderPredictor(tiny_config, model[1], relative=False)
        for image, kp in ((src, kp_src), (first, kp_ref)):
            np.testing.assert_allclose(kp, absolute.animate(src, image[None], return_keypoints=True)[1]["value"][0],
                                       atol=1e-6)
        (_, _), (best, _) = animation.keypoints(find_best_frame=True)
        assert animation.write(str(tmp_path / "out.mp4"), find_best_frame=True) == 6
    assert searches == [1]
    np.testing.assert_array_equal(best, decoded[3])  # the frame equal to the source


def _original_demo(*argv):
    with pytest.raises(SystemExit) as e:
        run(demo.main, list(argv) + ["--no-progress"])
    return e.value.code


def test_the_original_fomm_demo_command_runs_unchanged(inputs, tmp_path, monkeypatch):
    """first-order-model's README command (its config, its .pth.tar, --checkpoint, --result_video, --cpu) writes the
    same frames as the project's spelling of it."""
    from conftest import parity_path

    config, checkpoint = parity_path("vox", "config.yaml"), parity_path("vox", "checkpoint.pth.tar")
    source, driving = inputs
    monkeypatch.chdir(tmp_path)
    assert _original_demo("--config", config, "--driving_video", driving, "--source_image", source, "--checkpoint",
                          checkpoint, "--relative", "--adapt_scale", "--result_video", "result.mp4",
                          "--find_best_frame", "--cpu", "--image_size", "128") == 0
    assert _original_demo("--config", config, "--weight_path", checkpoint, "--source_image", source,
                          "--driving_video", driving, "--output", "ours", "--relative", "--adapt_scale",
                          "--find_best_frame", "--image_size", "128") == 0
    original, ours = read_frames("result.mp4"), read_frames(os.path.join("ours", "result.mp4"))
    assert len(original) == count_frames(driving) and np.array_equal(np.stack(original), np.stack(ours))


def test_the_original_tpsmm_demo_command_runs_unchanged(inputs, tmp_path):
    """TPSMM's README command: --config, --checkpoint, --result_video, --mode, --img_shape, --find_best_frame, --cpu."""
    from conftest import tpsmm_parity_path

    config, checkpoint = tpsmm_parity_path("tpsmm-vox", "config.yaml"), tpsmm_parity_path("tpsmm-vox",
                                                                                            "checkpoint.pth.tar")
    source, driving = inputs
    result = str(tmp_path / "out" / "result.gif")
    assert _original_demo("--config", config, "--checkpoint", checkpoint, "--source_image", source, "--driving_video",
                          driving, "--result_video", result, "--mode", "relative", "--img_shape", "64,64",
                          "--find_best_frame", "--cpu") == 0
    frames = read_frames(result)
    assert len(frames) == count_frames(driving) and frames[0].shape[:2] == (48, 64)  # the source's aspect, 64 wide


@pytest.mark.parametrize("extra, message", [
    (["--result_video", "r.mp4", "--filename", "x.mp4"], "either --result_video or --output/--filename"),
    (["--result_video", "somewhere/"], "names a folder"),
    (["--img_shape", "64,32"], "must be equal"),
    (["--img_shape", "64"], "expected H,W"),
    (["--img_shape", "64,64", "--image_size", "32"], "--img_shape 64,64 and --image_size 32 disagree"),
])
def test_the_original_demos_flags_refuse_contradictions(model, inputs, tmp_path, capsys, extra, message):
    source, driving = inputs
    code = _original_demo("--config", model[0], "--checkpoint", model[1], "--source_image", source,
                          "--driving_video", driving, *extra)
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
