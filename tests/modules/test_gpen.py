"""GPEN against PaddleGAN's: a small network's state dict written by PaddleGAN's code (Paddle 2.6.2) loads unchanged
and gives PaddleGAN's output, and the full GPEN-512 has exactly the state dict names and shapes of PaddleGAN's
GPEN(512, 512, 8) (fixtures recorded by tests/data/record_paddlegan_gpen.py)."""
import os

import numpy as np
import paddle
import pytest

from ppgan.modules.gpen import GPEN, gpen_channels, randomize_gpen
from ppgan.utils.checkpoint import read_paddle_file, state_mismatches

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
# Float32 rounding through ~20 layers: PaddleGAN's float32 run and this one are each ~7e-7 from this network run
# in float64 (measured), and 7.7e-7 from each other, on outputs up to 1.3.
FLOAT32_ROUNDING = 2e-6


@pytest.fixture(scope="module")
def recorded():
    io = np.load(os.path.join(DATA, "paddlegan_gpen_small_io.npz"))
    state = read_paddle_file(os.path.join(DATA, "paddlegan_gpen_small.pdparams"), "PaddleGAN's small GPEN")
    return io, state


def small_gpen(io):
    size, style_dim, n_mlp, multiplier, narrow = io["config"]
    return GPEN(int(size), int(style_dim), int(n_mlp), channel_multiplier=int(multiplier), narrow=float(narrow))


def test_paddlegan_state_dict_loads_unchanged_and_gives_its_output(recorded):
    io, state = recorded
    net = small_gpen(io)
    assert state_mismatches(net, state) == []
    net.set_state_dict({k: np.asarray(v) for k, v in state.items()})
    net.eval()
    with paddle.no_grad():
        out = net(paddle.to_tensor(io["input"])).numpy()
    assert out.shape == io["output"].shape == (2, 3, 64, 64)
    assert np.abs(io["output"]).max() > 1.0 and io["output"].std() > 0.3   # a signal, not a constant
    assert np.abs(out - io["output"]).max() <= FLOAT32_ROUNDING
    with paddle.no_grad():   # one sample at a time: modulated weights instead of modulated activations
        for i in range(2):
            alone = net(paddle.to_tensor(io["input"][i:i + 1])).numpy()
            assert np.abs(alone - io["output"][i:i + 1]).max() <= FLOAT32_ROUNDING

    # the difference is float32 rounding: both runs are as close to this network run in float64
    net.to(dtype="float64")
    with paddle.no_grad():
        exact = net(paddle.to_tensor(io["input"].astype(np.float64))).numpy()
    assert np.abs(io["output"] - exact).max() <= FLOAT32_ROUNDING
    assert np.abs(out - exact).max() <= FLOAT32_ROUNDING


def test_every_encoder_feature_reaches_the_output(recorded):
    """Zeroing one concatenation strength changes the output: each of the encoder's features is wired in."""
    io, state = recorded
    net = small_gpen(io)
    net.set_state_dict({k: np.asarray(v) for k, v in state.items()})
    x = paddle.to_tensor(io["input"])
    with paddle.no_grad():
        base = net(x).numpy()
        for name, param in net.named_parameters():
            if name.endswith("noise.weight"):
                kept = param.numpy()
                param.set_value(np.zeros_like(kept))
                assert np.abs(net(x).numpy() - base).max() > 1e-3, name
                param.set_value(kept)


def test_gpen512_has_paddlegans_names_and_shapes(recorded):
    io, _ = recorded
    names = [str(n) for n in io["gpen512_names"]]
    shapes = [tuple(int(v) for v in row if v >= 0) for row in io["gpen512_shapes"]]
    net = GPEN(size=512, style_dim=512, n_mlp=8)
    state = net.state_dict()
    assert [(k, tuple(v.shape)) for k, v in state.items()] == list(zip(names, shapes))
    parameters = {name for name, _ in net.named_parameters()}
    assert [int(k in parameters) for k in state] == io["gpen512_parameters"].tolist()
    assert sum(int(np.prod(s)) for s, p in zip(shapes, io["gpen512_parameters"]) if p) == 71005223


def test_sizes_and_widths():
    assert gpen_channels(512) == {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64}
    assert gpen_channels(64, 1, 0.5)[64] == 128
    for bad in (6, 4, 2048):
        with pytest.raises(ValueError, match="power of two"):
            GPEN(size=bad, style_dim=8, n_mlp=1)
    with pytest.raises(ValueError, match="without channels"):
        GPEN(size=32, style_dim=8, n_mlp=1, narrow=1 / 1024)
    net = randomize_gpen(GPEN(size=16, style_dim=8, n_mlp=2, narrow=1 / 64), seed=3)
    with paddle.no_grad():
        out = net(paddle.rand([3, 3, 16, 16]) * 2 - 1)
    assert out.shape == [3, 3, 16, 16] and bool(paddle.isfinite(out).all())
