#!/usr/bin/env python
"""Record PaddleGAN's GPEN on seeded random weights, for tests/modules/test_gpen.py.

    python3 -m venv /tmp/pgvenv && /tmp/pgvenv/bin/pip install paddlepaddle==2.6.2 'numpy<2' \
        opencv-python-headless requests tqdm
    mkdir /tmp/pgsrc && git -C <PaddleGAN clone> archive HEAD | tar -x -C /tmp/pgsrc
    /tmp/pgvenv/bin/python tests/data/record_paddlegan_gpen.py --paddlegan /tmp/pgsrc [--out tests/data]

Runs PaddleGAN's own files (ppgan/models/generators/gpen.py, generator_styleganv2.py, the StyleGAN2 modules they
import and ppgan/faceutils/face_enhancement/face_enhance.py), loaded one by one so that ppgan/__init__.py's imports
(which need many more packages) are not run. Writes into --out:

- paddlegan_gpen_small.pdparams: `paddle.save` of the state dict of a small GPEN (size 64, style_dim 32, n_mlp 4,
  channel_multiplier 1, every width 1/64 of the release's) with seeded random values in every parameter, so that
  every path (noise concatenation strengths, biases, modulation) carries signal.
- paddlegan_gpen_small_io.npz: `input` (2, 3, 64, 64) in [-1, 1] and `output`, PaddleGAN's GPEN on it; `config`
  (size, style_dim, n_mlp, channel_multiplier, narrow); `gpen512_names` / `gpen512_shapes`, the state dict of
  PaddleGAN's GPEN(size=512, style_dim=512, n_mlp=8) in its order, with `gpen512_parameters` (1 for trainable
  parameters, 0 for buffers); `mask_row` / `mask_diagonal` / `mask_corner`, the middle row, the diagonal and the
  top-left 64x64 of FaceEnhancement's blending mask (512x512).

PaddleGAN's GPEN has no width argument: its channel tables are literals. The small network comes from the same two
files with each entry of those tables multiplied by a factor (text substitution checked to touch exactly the
9 entries of each table); with the factor 1 the patched files give exactly the names and shapes of the pristine
ones, which the script checks.
"""
import argparse
import importlib
import os
import re
import sys
import tempfile
import types

import numpy as np

SIZE, STYLE_DIM, N_MLP, CHANNEL_MULTIPLIER, NARROW = 64, 32, 4, 1, 1.0 / 64
SEED = 2021


def stub_packages(root):
    """Empty package modules for ppgan and its sub-packages (their __init__ files are not run); their submodules
    import from the checkout at `root`."""
    for name in ("ppgan", "ppgan.utils", "ppgan.models", "ppgan.models.generators", "ppgan.models.discriminators",
                 "ppgan.modules", "ppgan.faceutils", "ppgan.faceutils.face_enhancement",
                 "ppgan.faceutils.face_detection", "ppgan.faceutils.face_detection.detection",
                 "ppgan.faceutils.face_detection.detection.blazeface"):
        module = types.ModuleType(name)
        module.__path__ = [os.path.join(root, *name.split("."))]
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)


def narrowed_source(path):
    """The file's text with every entry of its `channels = {...}` table multiplied by the module global _NARROW."""
    with open(path) as f:
        text = f.read()
    table = re.search(r"channels = \{(.*?)\}", text, re.S)
    body, count = re.subn(r"(\d+): ([^,\n]+),", r"\1: int((\2) * _NARROW),", table.group(1))
    if count != 9:
        raise SystemExit("expected 9 channel entries in %s, found %d: has PaddleGAN's code changed?" % (path, count))
    return "_NARROW = 1.0\n" + text[:table.start(1)] + body + text[table.end(1):]


def load_patched(root, relative, name):
    """Execute the narrowed copy of `relative` as module `name` (in the package of the original)."""
    path = os.path.join(root, relative)
    package = relative[:-3].replace("/", ".").rpartition(".")[0]
    module = types.ModuleType(name)
    module.__file__, module.__package__ = path, package
    sys.modules[name] = module
    exec(compile(narrowed_source(path), path, "exec"), module.__dict__)
    return module


def state_listing(net):
    """(names, shapes, is_parameter) of the net's state dict, in its order."""
    parameters = {name for name, _ in net.named_parameters()}
    state = net.state_dict()
    return (list(state), [list(v.shape) for v in state.values()], [int(k in parameters) for k in state])


def randomize(net, seed):
    """Seeded random values in every trainable parameter (weights at StyleGAN2's scale, biases small, noise
    strengths and modulation biases away from their zero / one initial values)."""
    import paddle
    rng = np.random.RandomState(seed)
    for name, param in sorted(net.named_parameters()):
        shape = list(param.shape)
        if name.endswith("conv.modulation.bias"):
            value = 1.0 + 0.1 * rng.standard_normal(shape)
        elif name.endswith("noise.weight"):
            value = 0.5 * rng.standard_normal(shape)
        elif name.endswith("bias"):
            value = 0.1 * rng.standard_normal(shape)
        elif name.startswith("generator.style."):
            value = rng.standard_normal(shape) / 0.01   # the mapping network's lr_mul
        else:
            value = rng.standard_normal(shape)
        param.set_value(paddle.to_tensor(value.astype(np.float32)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--paddlegan", required=True, help="an extracted PaddleGAN checkout")
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = parser.parse_args()
    root = os.path.abspath(args.paddlegan)
    sys.path.insert(0, root)
    stub_packages(root)

    import paddle
    paddle.set_device("cpu")

    generators = sys.modules["ppgan.models.generators"]
    pristine_generator = importlib.import_module("ppgan.models.generators.generator_styleganv2")
    generators.StyleGANv2Generator = pristine_generator.StyleGANv2Generator
    pristine = importlib.import_module("ppgan.models.generators.gpen")
    full = pristine.GPEN(size=512, style_dim=512, n_mlp=8)
    names, shapes, is_param = state_listing(full)
    del full

    # the narrowed copies: StyleGANv2Generator registers itself again, under its own name
    importlib.import_module("ppgan.models.generators.builder").GENERATORS._obj_map.pop("StyleGANv2Generator")
    narrow_generator = load_patched(root, "ppgan/models/generators/generator_styleganv2.py",
                                    "ppgan.models.generators.generator_styleganv2_narrowed")
    generators.StyleGANv2Generator = narrow_generator.StyleGANv2Generator
    narrow_gpen = load_patched(root, "ppgan/models/generators/gpen.py", "ppgan.models.generators.gpen_narrowed")
    generators.GPEN = narrow_gpen.GPEN

    check = state_listing(narrow_gpen.GPEN(size=512, style_dim=512, n_mlp=8))
    if check != (names, shapes, is_param):
        raise SystemExit("the narrowed files at factor 1 differ from PaddleGAN's: the substitution is wrong")

    narrow_generator._NARROW = narrow_gpen._NARROW = NARROW
    paddle.seed(SEED)
    net = narrow_gpen.GPEN(size=SIZE, style_dim=STYLE_DIM, n_mlp=N_MLP, channel_multiplier=CHANNEL_MULTIPLIER)
    randomize(net, SEED)
    net.eval()
    x = np.random.RandomState(SEED + 1).uniform(-1, 1, (2, 3, SIZE, SIZE)).astype(np.float32)
    with paddle.no_grad():
        y, _ = net(paddle.to_tensor(x))
    os.makedirs(args.out, exist_ok=True)
    paddle.save(net.state_dict(), os.path.join(args.out, "paddlegan_gpen_small.pdparams"))

    # FaceEnhancement builds GPEN(512, 512, 8) from a file: a narrowed one keeps the file small
    face_enhance = importlib.import_module("ppgan.faceutils.face_enhancement.face_enhance")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "gpen512_narrow.pdparams")
        paddle.save(narrow_gpen.GPEN(size=512, style_dim=512, n_mlp=8).state_dict(), path)
        mask = face_enhance.FaceEnhancement(path_to_enhance=path, batch_size=1).mask[0, :, :, 0]
    side = mask.shape[0]

    width = max(len(n) for n in names)
    shape_table = np.full((len(shapes), max(len(s) for s in shapes)), -1, np.int64)
    for i, s in enumerate(shapes):
        shape_table[i, :len(s)] = s
    np.savez_compressed(
        os.path.join(args.out, "paddlegan_gpen_small_io.npz"),
        input=x, output=y.numpy(),
        config=np.array([SIZE, STYLE_DIM, N_MLP, CHANNEL_MULTIPLIER, NARROW], np.float64),
        gpen512_names=np.array(names, dtype="<U%d" % width), gpen512_shapes=shape_table,
        gpen512_parameters=np.array(is_param, np.int8),
        mask_row=mask[side // 2].astype(np.float32), mask_diagonal=np.diagonal(mask).astype(np.float32),
        mask_corner=mask[:64, :64].astype(np.float32),
        paddle_version=np.array(paddle.__version__))
    print("recorded: output range [%.3f, %.3f], std %.3f; GPEN-512 state dict: %d entries (%d parameters, %d "
          "values)" % (y.numpy().min(), y.numpy().max(), y.numpy().std(), len(names), sum(is_param),
                       sum(int(np.prod(s)) for s, p in zip(shapes, is_param) if p)))


if __name__ == "__main__":
    main()
