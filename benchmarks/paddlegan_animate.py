#!/usr/bin/env python
"""PaddleGAN's own FOMM animation loop, run in PaddleGAN's environment (its Python and its Paddle).

    PADDLEGAN_PYTHON benchmarks/paddlegan_animate.py --paddlegan DIR SPEC.json

What benchmarks/animate.py --paddlegan starts, and what tests/data/record_paddlegan_border.py imports. It
imports nothing of this project (PaddleGAN's package is also called `ppgan`): only the standard library and
PaddleGAN's checkout DIR, whose `FirstOrderPredictor` is built as PaddleGAN's users build it (its
`load_checkpoints`: the generator with `inference=True`, weights in its `{'generator', 'kp_detector'}` layout)
and whose `make_animation` is called unchanged. The environment needs PaddleGAN's imports on that path:
paddlepaddle (2.6.2, PaddleGAN's last target), numpy<2, scipy, opencv-python, imageio, tqdm, pyyaml, requests.

SPEC.json (written by animate.py) names the weights, the PaddleGAN config (null: its built-in vox-256 one),
the source (H, W, 3) and the pool of driving frames (N, H, W, 3) as uint8 .npy files, the number of frames
to animate (the pool cycled), how many leading frames to keep (.npy, float32 in [0, 1]) and where to write
the figures (JSON: setup, stream, frames, threads, paddle, base_mb, peak_mb). Like PaddleGAN's `run`, the
frames are divided by 255 before `make_animation`; the clock then covers make_animation alone (no decoding,
no encoding), after one warm-up frame.
"""
import argparse
import functools
import json
import os
import sys
import tempfile
import time
import types

PREDICTOR_FILE = os.path.join("ppgan", "apps", "first_order_predictor.py")
# Package __init__ files that import every PaddleGAN app and model with their dependencies; the FOMM needs
# none of it, so empty packages over the same folders stand in for them.
SKIPPED_INITS = ("ppgan.apps", "ppgan.models", "ppgan.models.generators")


class PaddleGANError(Exception):
    """A PaddleGAN checkout or weights file cannot be used (one line for the user)."""


def check_checkout(checkout):
    """Raise PaddleGANError unless `checkout` holds PaddleGAN's FOMM predictor."""
    if not os.path.isfile(os.path.join(checkout, PREDICTOR_FILE)):
        raise PaddleGANError("'%s' is not a PaddleGAN checkout (it has no %s); clone https://github.com/"
                             "PaddlePaddle/PaddleGAN and pass its folder" % (checkout, PREDICTOR_FILE))


def import_first_order_predictor(checkout):
    """PaddleGAN's ppgan.apps.first_order_predictor module from `checkout` (progress bars off)."""
    check_checkout(checkout)
    checkout = os.path.abspath(checkout)
    sys.path.insert(0, checkout)
    for name in SKIPPED_INITS:
        package = types.ModuleType(name)
        package.__path__ = [os.path.join(checkout, *name.split("."))]
        sys.modules[name] = package
    from ppgan.apps import first_order_predictor
    import tqdm

    first_order_predictor.tqdm = functools.partial(tqdm.tqdm, disable=True)
    return first_order_predictor


def _check_state(net, state, name, path):
    """PaddleGAN's set_state_dict only warns about missing or extra keys: make them an error."""
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    given = {k: tuple(getattr(v, "shape", ())) for k, v in state.items()}
    if expected != given:
        missing = sorted(set(expected) - set(given))
        extra = sorted(set(given) - set(expected))
        shapes = sorted(k for k in set(expected) & set(given) if expected[k] != given[k])
        raise PaddleGANError("'%s' does not fit PaddleGAN's %s: missing %s, unexpected %s, other shapes %s"
                             % (path, name, missing[:3], extra[:3], shapes[:3]))


def load_predictor(checkout, weight_path, config=None, relative=True, adapt_scale=True, batch_size=1):
    """PaddleGAN's FirstOrderPredictor on `weight_path` ({'generator', 'kp_detector'}), as its users build it;
    config None is its built-in vox-256 architecture."""
    import paddle

    module = import_first_order_predictor(checkout)
    output = tempfile.mkdtemp(prefix="paddlegan-output-")  # the constructor makes its output folder
    predictor = module.FirstOrderPredictor(output=output, weight_path=weight_path, config=config, relative=relative,
                                           adapt_scale=adapt_scale, batch_size=batch_size)
    os.rmdir(output)
    checkpoint = paddle.load(weight_path)
    for name in ("generator", "kp_detector"):
        _check_state(getattr(predictor, name), checkpoint[name], name, weight_path)
    return predictor


def animate(predictor, source, driving):
    """PaddleGAN's make_animation: source (H, W, 3) and driving frames in [0, 1] -> (N, H, W, 3) float32 in
    [0, 1] (make_animation returns them times 255)."""
    import numpy as np

    frames = predictor.make_animation(source, driving, predictor.generator, predictor.kp_detector,
                                      relative=predictor.relative, adapt_movement_scale=predictor.adapt_scale)
    return (np.asarray(frames) / 255.0).astype(np.float32)


def _peak_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure(checkout, spec):
    """Time make_animation on the spec's frames; returns the figures."""
    import numpy as np
    import paddle

    paddle.set_device("cpu")
    base = _peak_mb()
    start = time.perf_counter()
    predictor = load_predictor(checkout, spec["weights"], spec.get("config"), batch_size=1)
    source = np.load(spec["source"]) / 255.0
    pool = np.load(spec["driving"])
    driving = [pool[i % len(pool)] / 255.0 for i in range(spec["frames"])]
    animate(predictor, source, driving[:1])  # warm-up
    setup_end = time.perf_counter()
    frames = animate(predictor, source, driving)
    end = time.perf_counter()
    if spec.get("keep"):
        np.save(spec["frames_file"], frames[:spec["keep"]])
    return {"setup": setup_end - start, "stream": end - setup_end, "frames": len(frames),
            "threads": paddle.get_flags(["FLAGS_paddle_num_threads"])["FLAGS_paddle_num_threads"],
            "paddle": paddle.__version__, "base_mb": base, "peak_mb": _peak_mb()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paddlegan", required=True, metavar="DIR", help="a checkout of PaddlePaddle/PaddleGAN")
    parser.add_argument("spec", help="the measurement's JSON (see above)")
    args = parser.parse_args()
    with open(args.spec) as f:
        spec = json.load(f)
    try:
        figures = measure(args.paddlegan, spec)
    except PaddleGANError as e:
        sys.stderr.write("paddlegan_animate.py: error: %s\n" % e)
        sys.exit(2)
    with open(spec["result"], "w") as f:
        json.dump(figures, f)


if __name__ == "__main__":
    main()
