"""The GPEN face enhancer as a registered plug-in: building by name, weights from a path (PaddleGAN's layout) or the
release's one-line error offline, shapes and range, the soft-mask paste-back (PaddleGAN's mask, recorded by
tests/data/record_paddlegan_gpen.py), batching. Small networks with seeded random weights; nothing is downloaded."""
import os

import numpy as np
import paddle
import pytest

from ppgan.detectors import FACE_ENHANCERS, FaceEnhancer, GPENEnhancer, build_face_enhancer, gpen_weights
from ppgan.detectors import gpen_enhancer as gpen
from ppgan.modules.gpen import GPEN, randomize_gpen
from ppgan.utils.errors import CheckpointError, ConfigError, InputError

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
SMALL = dict(size=32, style_dim=16, n_mlp=2, narrow=1 / 64)


@pytest.fixture
def no_release(monkeypatch, tmp_path):
    """An empty project cache and an empty PaddleGAN cache."""
    monkeypatch.setenv("PPGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PPGAN_OFFLINE", "1")


def faces(n=3, side=48, seed=0):
    return np.random.RandomState(seed).rand(n, side, side, 3).astype(np.float32)


def test_registered_and_built_by_name_or_config():
    assert "gpen" in FACE_ENHANCERS.names()
    enhancer = build_face_enhancer(dict(name="gpen", seed=0, **SMALL))
    assert isinstance(enhancer, GPENEnhancer) and isinstance(enhancer, FaceEnhancer) and enhancer.size == 32
    with pytest.raises(ConfigError, match=r"unknown face enhancer 'gfpgan'; choose one of: gpen"):
        build_face_enhancer("gfpgan")
    with pytest.raises(ConfigError, match=r"face_enhancer.*unknown key.*accepted keys: weight_path, size"):
        build_face_enhancer({"name": "gpen", "weights": "x.pdparams"})
    with pytest.raises(ConfigError, match="power of two"):
        build_face_enhancer(dict(name="gpen", seed=0, size=48, style_dim=16, n_mlp=2, narrow=1 / 64))
    with pytest.raises(ConfigError, match="not both"):
        GPENEnhancer(weight_path="x.pdparams", seed=0, **SMALL)
    with pytest.raises(ConfigError, match="batch_size"):
        GPENEnhancer(seed=0, batch_size=0, **SMALL)
    with pytest.raises(ConfigError, match="num_threads"):
        GPENEnhancer(seed=0, num_threads=0, **SMALL)


def test_without_weights_one_line_naming_the_release(no_release):
    for make in (lambda: build_face_enhancer("gpen"), lambda: GPENEnhancer()):
        with pytest.raises(CheckpointError) as caught:
            make()
        message = str(caught.value)
        assert "\n" not in message and "https://paddlegan.bj.bcebos.com/models/GPEN-512.pdparams" in message
        assert "is not on this machine" in message and "weight_path=<that file>" in message
    with pytest.raises(CheckpointError, match="PPGAN_OFFLINE forbids downloading it.*gpen_weight_path=<that file>"):
        gpen_weights(download=True)


def test_release_found_on_this_machine_without_download(no_release, tmp_path):
    folder = tmp_path / "home" / ".cache" / "ppgan"   # where PaddleGAN keeps what it downloaded
    folder.mkdir(parents=True)
    (folder / "GPEN-512.pdparams").write_bytes(b"")
    assert gpen_weights() == str(folder / "GPEN-512.pdparams")


def save_state(net, path, change=None):
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    if change:
        change(state)
    paddle.save(state, str(path))
    return str(path)


def test_weights_from_a_path_and_what_is_refused(tmp_path):
    source = randomize_gpen(GPEN(**SMALL), seed=5)
    enhancer = GPENEnhancer(weight_path=save_state(source, tmp_path / "ok.pdparams"), **SMALL)
    for k, v in source.state_dict().items():
        np.testing.assert_array_equal(enhancer.net.state_dict()[k].numpy(), v.numpy(), err_msg=k)

    def add_filter(state):   # an exporter that keeps every resampling filter (PyTorch saves them all)
        state["generator.convs.0.conv.blur.kernel"] = np.ones((4, 4), np.float32)
        del state["generator.noises.noise_0"]   # a buffer GPEN never reads
    GPENEnhancer(weight_path=save_state(source, tmp_path / "filters.pdparams", add_filter), **SMALL)

    def damage(state):
        del state["final_linear.0.weight"]
        state["ecd0.0.1.bias"] = np.zeros(3, np.float32)
        state["discriminator.weight"] = np.zeros(1, np.float32)
    with pytest.raises(CheckpointError) as caught:
        GPENEnhancer(weight_path=save_state(source, tmp_path / "bad.pdparams", damage), **SMALL)
    message = str(caught.value)
    assert "1 missing (final_linear.0.weight)" in message and "1 unexpected (discriminator.weight)" in message
    assert "ecd0.0.1.bias: file (3,) vs model (8,)" in message and "\n" not in message
    with pytest.raises(CheckpointError, match="cannot read GPEN weights"):
        (tmp_path / "junk.pdparams").write_bytes(b"not a pickle")
        GPENEnhancer(weight_path=str(tmp_path / "junk.pdparams"), **SMALL)
    with pytest.raises(CheckpointError, match="do not fit GPEN"):
        GPENEnhancer(weight_path=save_state(source, tmp_path / "ok2.pdparams"), size=64, style_dim=16, n_mlp=2,
                     narrow=1 / 64)


def test_paddlegan_file_restores_as_paddlegans_network():
    """The small network PaddleGAN's code wrote: the enhancer's restore() at the network's size is its output."""
    io = np.load(os.path.join(DATA, "paddlegan_gpen_small_io.npz"))
    enhancer = GPENEnhancer(weight_path=os.path.join(DATA, "paddlegan_gpen_small.pdparams"), size=64, style_dim=32,
                            n_mlp=4, channel_multiplier=1, narrow=1 / 64, batch_size=2)
    crops = (io["input"].transpose(0, 2, 3, 1) + 1) / 2
    expected = np.clip(io["output"].transpose(0, 2, 3, 1) * 0.5 + 0.5, 0, 1)
    np.testing.assert_allclose(enhancer.restore(crops), expected, atol=2e-6)


def test_mask_is_paddlegans():
    io = np.load(os.path.join(DATA, "paddlegan_gpen_small_io.npz"))
    mask = gpen.blend_mask(512)
    np.testing.assert_allclose(mask[256], io["mask_row"], atol=1e-6)
    np.testing.assert_allclose(np.diagonal(mask), io["mask_diagonal"], atol=1e-6)
    np.testing.assert_allclose(mask[:64, :64], io["mask_corner"], atol=1e-6)
    # 1 inside, about 0.5 on the rectangle's edge (26/512 in), 0.1 at the crop's edge, 0.01 in its corners
    for side in (512, 256):
        small = gpen.blend_mask(side)
        edge = round(26 * side / 512)
        assert small.shape == (side, side) and small[side // 2, side // 2] > 0.9999
        assert abs(small[edge, side // 2] - 0.5) < 0.03 and abs(small[0, side // 2] - 0.1) < 0.005
        assert abs(small[0, 0] - 0.0102) < 0.0003


def test_enhance_shapes_range_and_paste_back():
    enhancer = GPENEnhancer(seed=1, **SMALL)
    crops = faces(3, 48)
    out = enhancer.enhance(crops)
    assert out.shape == crops.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    restored = enhancer.restore(crops)
    assert restored.shape == crops.shape
    mask = gpen.blend_mask(48)[None, :, :, None]
    np.testing.assert_allclose(out, mask * restored + (1 - mask) * crops, atol=1e-6)
    # the middle is the network's, the border the crop's
    assert np.abs(out[:, 24, 24] - restored[:, 24, 24]).max() < 1e-3
    assert np.abs(out[:, 0, 0] - crops[:, 0, 0]).max() < 0.02
    assert np.abs(out[:, 24, 24] - crops[:, 24, 24]).max() > 0.05   # the network changed something

    # any square size; a batch gives what the faces give one by one
    assert enhancer.enhance(faces(2, 32)).shape == (2, 32, 32, 3)
    assert enhancer.enhance(faces(1, 70)).shape == (1, 70, 70, 3)
    assert enhancer.enhance(np.zeros((0, 16, 16, 3), np.float32)).shape == (0, 16, 16, 3)
    batched = GPENEnhancer(seed=1, batch_size=2, num_threads=1, **SMALL).enhance(crops)
    np.testing.assert_allclose(batched, out, atol=1e-5)
    np.testing.assert_array_equal(crops, faces(3, 48))   # the input is left alone


def test_bad_input_is_an_input_error():
    enhancer = GPENEnhancer(seed=1, **SMALL)
    with pytest.raises(InputError, match=r"square RGB faces \(N, S, S, 3\), got shape \(2, 32, 30, 3\)"):
        enhancer.enhance(np.zeros((2, 32, 30, 3), np.float32))
    with pytest.raises(InputError, match="got shape"):
        enhancer.enhance(np.zeros((32, 32, 3), np.float32))
    with pytest.raises(InputError, match="uint8"):
        enhancer.enhance(np.zeros((1, 32, 32, 3), np.uint8))
