"""PaddleGAN's call style of the Python API: FirstOrderPredictor(output=..., ...).run(source, driving)."""
import os

import numpy as np
import pytest
import yaml

from ppgan.apps import FirstOrderPredictor, TPSMMPredictor
from ppgan.apps.animation import Animation
from ppgan.apps.first_order_predictor import PADDLEGAN_MODELS, paddlegan_model
from ppgan.utils import download
from ppgan.utils.errors import CheckpointError, InputError
from ppgan.utils.video import read_frames, save_image, write_video
from test_face_crop import _faces_image


@pytest.fixture
def files(tmp_path):
    """A source image with two faces and a driving video whose face moves (PNG, mp4)."""
    source = str(tmp_path / "source.png")
    save_image(source, _faces_image(160, 240, [(70, 80, 1.0), (170, 80, 0.9)]))
    driving = str(tmp_path / "driving.mp4")
    write_video(driving, [_faces_image(160, 160, [(78 + 2 * i, 80 - i, 1.0)]) for i in range(6)], fps=6)
    return source, driving


@pytest.fixture
def model(tiny_model):
    """(config path, weights path) of a tiny random model working at 32x32."""
    return tiny_model


def _project_frames(model, files, folder, ratio, relative, adapt_scale, multi_person=False):
    """The same animation the project's way: predictor + Animation, written as PNG frames."""
    predictor = FirstOrderPredictor(model[0], model[1], relative=relative, adapt_scale=adapt_scale)
    with Animation(predictor, files[0], files[1], ratio=ratio, multi_person=multi_person, progress=False) as anim:
        anim.write(folder)
    return np.stack(read_frames(folder))


def test_paddlegans_documented_call_writes_output_filename(model, files, tmp_path):
    """apps.md's example with its documented arguments (an ASCII comma, local paths)."""
    out = str(tmp_path / "output")
    predictor = FirstOrderPredictor(output=out, weight_path=model[1], config=model[0], relative=True,
                                    adapt_scale=True, find_best_frame=False, best_frame=None, progress=False)
    assert predictor.run(files[0], files[1]) == os.path.join(out, "result.mp4")
    frames = read_frames(os.path.join(out, "result.mp4"))
    assert len(frames) == 6 and frames[0].shape == (160, 240, 3)


def test_run_frames_equal_the_projects_with_the_same_options(model, files, tmp_path):
    out = str(tmp_path / "pg")
    FirstOrderPredictor(output=out, filename="frames", weight_path=model[1], config=model[0], relative=True,
                        adapt_scale=True, ratio=0.4, multi_person=True, progress=False).run(*files)
    ours = np.stack(read_frames(os.path.join(out, "frames")))
    theirs = _project_frames(model, files, str(tmp_path / "project"), 0.4, True, True, multi_person=True)
    np.testing.assert_array_equal(ours, theirs)
    assert ours.shape == (6, 160, 240, 3)


def test_run_keeps_paddlegans_defaults_and_animate_the_projects(model, files, tmp_path, rng):
    """run(): relative=False, adapt_scale=False, ratio=1.0 unless given; animate(): relative motion by default."""
    predictor = FirstOrderPredictor(config=model[0], weight_path=model[1], output=str(tmp_path / "pg"),
                                    filename="frames", progress=False)
    predictor.run(*files)
    ours = np.stack(read_frames(str(tmp_path / "pg" / "frames")))
    absolute = _project_frames(model, files, str(tmp_path / "abs"), 1.0, False, False)
    relative = _project_frames(model, files, str(tmp_path / "rel"), 1.0, True, True)
    np.testing.assert_array_equal(ours, absolute)
    assert np.abs(ours.astype(int) - relative).max() > 0
    # the project's own methods keep relative motion on
    assert predictor.relative and predictor.adapt_scale
    source, video = rng.uniform(0, 1, (32, 32, 3)), rng.uniform(0, 1, (3, 32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(predictor.animate(source, video),
                                  FirstOrderPredictor(model[0], model[1], relative=True).animate(source, video))
    # a value given holds for run() too
    FirstOrderPredictor(config=model[0], weight_path=model[1], relative=True, adapt_scale=True, ratio=1.0,
                        output=str(tmp_path / "given"), filename="frames", progress=False).run(*files)
    np.testing.assert_array_equal(np.stack(read_frames(str(tmp_path / "given" / "frames"))), relative)


def test_run_filename_argument_and_best_frame(model, files, tmp_path):
    predictor = FirstOrderPredictor(config=model[0], weight_path=model[1], output=str(tmp_path / "o"),
                                    best_frame=3, relative=True, progress=False)
    path = predictor.run(files[0], files[1], filename="other.gif")
    assert path == str(tmp_path / "o" / "other.gif") and len(read_frames(path)) == 6
    late = FirstOrderPredictor(config=model[0], weight_path=model[1], output=str(tmp_path / "o"), best_frame=6,
                               progress=False)
    with pytest.raises(InputError, match="best_frame 6 is past the end of the driving video"):
        late.run(files[0], files[1], filename="late.mp4")
    assert not os.path.exists(str(tmp_path / "o" / "late.mp4"))


@pytest.mark.parametrize("kwargs, message", [
    ({"slice_size": -1}, "slice_size"), ({"best_frame": -2}, "best_frame"),
    ({"best_frame": 2, "find_best_frame": True}, "not both"), ({"ratio": 0}, "ratio"),
    ({"face_detector": "mtcnn"}, "face_detector must be one of auto, dlib, haar, sfd, blazeface"),
    ({"crop": "body"}, "crop")])
def test_run_options_are_checked_at_construction(model, kwargs, message):
    with pytest.raises(InputError, match=message):
        FirstOrderPredictor(config=model[0], weight_path=model[1], **kwargs)


def test_paddlegan_arguments_are_accepted_and_slice_size_changes_nothing(model, files, tmp_path):
    for slice_size in (0, 10 ** 6):
        FirstOrderPredictor(config=model[0], weight_path=model[1], output=str(tmp_path / str(slice_size)),
                            filename="f", slice_size=slice_size, batch_size=1, image_size=32, face_detector="sfd",
                            multi_person=False, progress=False).run(*files)
    np.testing.assert_array_equal(np.stack(read_frames(str(tmp_path / "0" / "f"))),
                                  np.stack(read_frames(str(tmp_path / str(10 ** 6) / "f"))))
    with pytest.raises(TypeError):
        FirstOrderPredictor(config=model[0], weight_path=model[1], no_such_option=1)


def test_paddlegans_positional_order_is_one_clear_error(model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="pass output='output' by name"):
        FirstOrderPredictor("output", model[1])
    (tmp_path / "output").mkdir()  # where PaddleGAN's demo, or ours, has written before
    with pytest.raises(InputError, match="pass output='output' by name"):
        FirstOrderPredictor("output", model[1])


@pytest.fixture
def no_weights_here(tmp_path, monkeypatch):
    """A machine with neither the project's nor PaddleGAN's cache of released weights."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PPGAN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def test_no_config_and_no_weights_offline_is_one_line_naming_url_and_weight_path(no_weights_here):
    assert download.offline()  # tests/conftest.py
    with pytest.raises(CheckpointError) as e:
        FirstOrderPredictor()
    message = str(e.value)
    assert "\n" not in message
    assert "https://paddlegan.bj.bcebos.com/applications/first_order_model/vox-cpk.pdparams" in message
    assert "weight_path=" in message and "PPGAN_OFFLINE" in message
    with pytest.raises(CheckpointError, match="vox-cpk-512.pdparams"):
        FirstOrderPredictor(image_size=512)
    with pytest.raises(CheckpointError, match="vox-mobile.pdparams"):
        paddlegan_model(mobile_net=True)


def test_paddlegans_cache_is_used_and_the_default_architecture_is_vox_256(no_weights_here, tiny_weights):
    """A PaddleGAN user's ~/.cache/ppgan/vox-cpk.pdparams is found; with no config the vox-256 architecture is built
    (the tiny weights do not fit it: the error says so)."""
    folder = no_weights_here / "home" / ".cache" / "ppgan"
    folder.mkdir(parents=True)
    cached = folder / "vox-cpk.pdparams"
    cached.write_bytes(open(tiny_weights, "rb").read())
    config, weights = paddlegan_model()
    assert weights == str(cached) and config.endswith(os.path.join("configs", PADDLEGAN_MODELS[(False, 256)][0]))
    with pytest.raises(CheckpointError, match="do not fit the configured architecture"):
        FirstOrderPredictor(backend="dygraph")
    with pytest.raises(CheckpointError, match="do not fit the configured architecture"):
        FirstOrderPredictor(weight_path=tiny_weights, backend="dygraph")


def test_the_download_is_never_reached_offline(no_weights_here, monkeypatch):
    def refuse(*args):
        raise AssertionError("the network code ran")

    monkeypatch.setattr(download, "_download", refuse)
    with pytest.raises(CheckpointError, match="PPGAN_OFFLINE"):
        download.release_path("GPEN-512", flag="gpen_weight_path", download=True)
    with pytest.raises(CheckpointError, match="is not on this machine: download"):
        download.release_path("vox-cpk")
    with pytest.raises(CheckpointError, match="known: GPEN-512"):
        download.release_path("vox-cpk-1024")


def test_tpsmm_predictor_runs_paddlegans_call_too(tiny_tpsmm_config, tiny_tpsmm_weights, files, tmp_path):
    path = TPSMMPredictor(tiny_tpsmm_config, tiny_tpsmm_weights, output=str(tmp_path / "t"),
                          progress=False).run(*files)
    assert len(read_frames(path)) == 6


def test_border_correction_argument_is_the_generators_config_key(model, tiny_config, tiny_weights, rng):
    """border_correction=True builds PaddleGAN's inference=True generator (the config key); off by default with a
    config, as the original."""
    import copy

    source, video = rng.uniform(0, 1, (32, 32, 3)), rng.uniform(0, 1, (3, 32, 32, 3)).astype(np.float32)
    keyed = copy.deepcopy(tiny_config)
    keyed["model"]["generator"]["border_correction"] = 5
    on = FirstOrderPredictor(model[0], model[1], border_correction=True, backend="dygraph").animate(source, video)
    np.testing.assert_array_equal(on, FirstOrderPredictor(keyed, tiny_weights, backend="dygraph").animate(source, video))
    off = FirstOrderPredictor(model[0], model[1], backend="dygraph").animate(source, video)
    assert np.abs(on - off).max() > 1e-4
    np.testing.assert_array_equal(off, FirstOrderPredictor(keyed, tiny_weights, border_correction=False,
                                                           backend="dygraph").animate(source, video))
    with pytest.raises(InputError, match="border_correction"):
        FirstOrderPredictor(model[0], model[1], border_correction=-1)


def _paddlegan_config(mobile):
    """The model section of PaddleGAN's FOMM configs (firstorder_vox_256.yaml / firstorder_vox_mobile_256.yaml; the
    first is also the dict its FirstOrderPredictor builds when given no config), with a training section."""
    width = 32 if mobile else 64
    kp = {"temperature": 0.1, "block_expansion": 32, "max_features": 256 if mobile else 1024, "scale_factor": 0.25,
          "num_blocks": 5}
    gen = {"block_expansion": width, "max_features": 256 if mobile else 512, "num_down_blocks": 2,
           "num_bottleneck_blocks": 6, "estimate_occlusion_map": True,
           "dense_motion_params": {"block_expansion": width, "max_features": 256 if mobile else 1024, "num_blocks": 5,
                                   "scale_factor": 0.25}}
    if mobile:
        kp["mobile_net"] = gen["mobile_net"] = True
    return {"epochs": 100, "dataset": {"train": {"name": "FirstOrderDataset", "frame_shape": [256, 256, 3]}},
            "model": {"name": "FirstOrderModel", "common_params": {"num_kp": 10, "num_channels": 3,
                                                                   "estimate_jacobian": True},
                      "generator": {"name": "FirstOrderGenerator", "kp_detector_cfg": kp, "generator_cfg": gen}},
            "lr_scheduler": {"name": "MultiStepDecay"}}


@pytest.mark.parametrize("mobile, native", [(False, "firstorder_vox_256.yaml"), (True, "firstorder_vox_mobile_256.yaml")])
def test_paddlegan_configs_build_the_same_nets_as_ours(mobile, native):
    from conftest import REPO
    from ppgan.models.builder import build_inference_nets
    from ppgan.utils.config import load_config

    theirs = load_config(_paddlegan_config(mobile))
    ours = load_config(os.path.join(REPO, "configs", native))
    assert theirs["dataset"]["frame_shape"] == [256, 256, 3]

    def shapes(cfg):
        nets = build_inference_nets(cfg["model"])
        return {(net, k): tuple(v.shape) for net in ("kp_detector", "generator")
                for k, v in nets[net].state_dict().items()}

    assert shapes(theirs) == shapes(ours)


def test_paddlegan_config_errors(tmp_path):
    from ppgan.utils.config import load_config
    from ppgan.utils.errors import ConfigError

    bad = _paddlegan_config(False)
    bad["model"]["generator"]["kp_detector_cfg"]["num_block"] = 5
    with pytest.raises(ConfigError, match="kp_detector_cfg.num_block.*did you mean 'num_blocks'"):
        load_config(bad)
    path = tmp_path / "paddlegan.yaml"
    path.write_text(yaml.safe_dump(_paddlegan_config(False)))
    from ppgan.engine.launch import main
    with pytest.raises(ConfigError, match="is a PaddleGAN config: it animates"):
        main(["--config-file", str(path)], "main.py", True)


def test_a_paddlegan_config_dict_animates_with_its_border_correction(tiny_config, tiny_weights, rng):
    """config= in PaddleGAN's layout (a dict, as its docs allow) animates; border correction is on by default, as
    PaddleGAN's predictor builds its generator with inference=True."""
    import copy

    from ppgan.utils.config import to_original_model_params

    mp = to_original_model_params(tiny_config["model"])
    theirs = {"model": {"common_params": mp["common_params"],
                        "generator": {"kp_detector_cfg": mp["kp_detector_params"],
                                      "generator_cfg": mp["generator_params"]}}}
    source, video = rng.uniform(0, 1, (32, 32, 3)), rng.uniform(0, 1, (3, 32, 32, 3)).astype(np.float32)
    frames = FirstOrderPredictor(theirs, tiny_weights, image_size=32, backend="dygraph").animate(source, video)
    corrected = copy.deepcopy(tiny_config)
    corrected["model"]["generator"]["border_correction"] = True
    np.testing.assert_array_equal(
        frames, FirstOrderPredictor(corrected, tiny_weights, backend="dygraph").animate(source, video))
    np.testing.assert_array_equal(
        FirstOrderPredictor(theirs, tiny_weights, image_size=32, border_correction=False,
                            backend="dygraph").animate(source, video),
        FirstOrderPredictor(tiny_config, tiny_weights, backend="dygraph").animate(source, video))


def _demo(argv):
    from ppgan.apps import demo
    from ppgan.utils.cli import run

    with pytest.raises(SystemExit) as e:
        run(demo.main, argv + ["--no-progress"])
    return e.value.code


def test_demo_border_correction_flag(model, files, tmp_path):
    base = ["--config", model[0], "--weight_path", model[1], "--source_image", files[0], "--driving_video", files[1],
            "--backend", "dygraph"]
    for name, extra in (("off", []), ("on", ["--border_correction"])):
        assert _demo(base + ["--output", str(tmp_path / name), "--filename", "f"] + extra) == 0
    on, off = (np.stack(read_frames(str(tmp_path / n / "f"))).astype(int) for n in ("on", "off"))
    assert np.abs(on - off).max() > 0


@pytest.mark.parametrize("extra, message", [
    (["--slice_size", "-1"], "--slice_size must be at least 0"),
    (["--gpen_weight_path", "g.pdparams"], "--gpen_weight_path is read by --face_enhancement only"),
    (["--ratio", "1.5"], "--ratio must be in (0, 1]")])
def test_demo_paddlegan_flag_errors_are_one_line(model, files, tmp_path, extra, message, capsys):
    argv = ["--config", model[0], "--weight_path", model[1], "--source_image", files[0], "--driving_video", files[1],
            "--output", str(tmp_path / "o")] + extra
    assert _demo(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_demo_weights_without_config_assume_paddlegans_architecture(model, files, tmp_path, capsys):
    assert _demo(["--weight_path", model[1], "--source_image", files[0], "--driving_video", files[1],
                  "--output", str(tmp_path / "o"), "--backend", "dygraph"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "do not fit" in err[0] and "assumes PaddleGAN's architecture" in err[0], err
    assert "configs/firstorder_vox_256.yaml" in err[0]


def test_demo_fomm_flags_with_a_tpsmm_are_errors(tiny_tpsmm_model, files, tmp_path, capsys):
    config, weights = tiny_tpsmm_model
    for flag in ("--mobile_net", "--border_correction"):
        assert _demo(["--config", config, "--weight_path", weights, "--source_image", files[0],
                      "--driving_video", files[1], "--output", str(tmp_path / "o"), flag]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "belongs to the First Order Motion Model" in err[0], err


def test_demo_mobile_net_without_weights_offline_names_the_release(files, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PPGAN_CACHE_DIR", str(tmp_path / "cache"))
    assert _demo(["--source_image", files[0], "--driving_video", files[1], "--output", str(tmp_path / "o"),
                  "--mobile_net"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "first_order_model/vox-mobile.pdparams" in err[0] and "--weight_path=" in err[0], err


def test_face_enhancement_restores_the_pasted_faces(model, files, tmp_path):
    """face_enhancement with a small GPEN (seeded weights): each animated face square is restored before pasting, so
    frames change around the faces and nowhere else; without weights on this machine it is one offline line."""
    common = dict(config=model[0], weight_path=model[1], multi_person=True, ratio=0.5, progress=False,
                  filename="f", relative=True)
    FirstOrderPredictor(output=str(tmp_path / "plain"), **common).run(*files)
    gpen = {"name": "gpen", "size": 32, "style_dim": 16, "n_mlp": 2, "narrow": 0.125, "seed": 3}
    FirstOrderPredictor(output=str(tmp_path / "enhanced"), face_enhancement=gpen, **common).run(*files)
    plain, enhanced = (np.stack(read_frames(str(tmp_path / n / "f"))).astype(int) for n in ("plain", "enhanced"))
    assert plain.shape == enhanced.shape == (6, 160, 240, 3)
    changed = np.abs(plain - enhanced).max(axis=(0, 3)) > 0
    assert changed.any() and not changed[:10, :10].any() and not changed[-10:, -10:].any()


def test_face_enhancement_without_weights_offline(model, no_weights_here):
    predictor = FirstOrderPredictor(config=model[0], weight_path=model[1], face_enhancement=True)
    with pytest.raises(CheckpointError) as e:
        predictor.face_enhancer()
    assert "models/GPEN-512.pdparams" in str(e.value) and "gpen_weight_path" in str(e.value)
    with pytest.raises(InputError, match="gpen_weight_path is read with face_enhancement=True only"):
        FirstOrderPredictor(config=model[0], weight_path=model[1], gpen_weight_path="x.pdparams")
