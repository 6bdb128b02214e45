#!/usr/bin/env python
"""Record PaddleGAN's mobile first order nets (`mobile_net=True`): a checkpoint and their outputs on fixed inputs.

    python3 -m venv /tmp/pgvenv && /tmp/pgvenv/bin/pip install paddlepaddle==2.6.2 "numpy<2" \
        opencv-python-headless pyyaml scipy
    git -C /path/to/PaddleGAN-git archive HEAD ppgan configs | tar -x -C /tmp/pgsrc
    /tmp/pgvenv/bin/python tests/data/record_paddlegan_mobile.py --paddlegan /tmp/pgsrc [--out tests/data]

Runs in PaddleGAN's own environment (Paddle 2.6, never this project's): it imports PaddleGAN's module files
(ppgan/modules/first_order.py, keypoint_detector.py, dense_motion.py, ppgan/models/generators/occlusion_aware.py)
unchanged, without its package __init__ files and their dependencies.

Writes into --out:
- paddlegan_mobile.pdparams: {'generator': state, 'kp_detector': state} of PaddleGAN's mobile KPDetector and
  OcclusionAwareGenerator at the widths of configs/firstorder_synthetic_mobile_64.yaml (read from this
  repository), seeded random weights and BatchNorm statistics; the layout of PaddleGAN's released
  vox-mobile.pdparams;
- paddlegan_mobile_outputs.npz: the inputs `source`, `driving` (2, 3, 32, 32) and, in inference mode
  (`eval/...`) and in training mode with batch statistics (`train/...`), the keypoints `kp_source/value`,
  `kp_source/jacobian`, `kp_driving/...` and the generator's `prediction` with PaddleGAN's inference=False;
  in inference mode also `deformation`, `occlusion_map`, `mask` and `deformed`;
- paddlegan_mobile_vox256_shapes.json: {net: {parameter: shape}} of PaddleGAN's full-size mobile nets (its
  configs/firstorder_vox_mobile_256.yaml), the names and shapes its released weights have.
"""
import argparse
import json
import os
import sys
import types

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SEED = 2024
FRAME = 32  # the inputs' side: the smallest the config's nets take (the hourglasses reach 1x1), a small fixture


def import_paddlegan(root):
    """PaddleGAN's mobile nets (KPDetector, OcclusionAwareGenerator) from its files, its package inits skipped."""
    for package in ("ppgan", "ppgan.modules", "ppgan.models", "ppgan.models.generators"):
        module = types.ModuleType(package)
        module.__path__ = [os.path.join(root, *package.split("."))]
        sys.modules[package] = module
    from ppgan.modules.keypoint_detector import KPDetector
    from ppgan.models.generators.occlusion_aware import OcclusionAwareGenerator
    return KPDetector, OcclusionAwareGenerator


def paddlegan_arguments(model):
    """PaddleGAN's constructor arguments (kp detector, generator) for a native `model` section of this project."""
    common = {"num_kp": model["common"]["num_kp"], "num_channels": model["common"]["num_channels"],
              "estimate_jacobian": model["common"]["estimate_jacobian"]}
    kp = model["kp_detector"]
    kp_args = dict(common, temperature=kp["temperature"], scale_factor=kp["scale_factor"], mobile_net=True,
                   **{k: kp["backbone"][k] for k in ("block_expansion", "max_features", "num_blocks")})
    gen = model["generator"]
    dense = gen["dense_motion"]
    dense_args = dict(scale_factor=dense["scale_factor"], kp_variance=dense["kp_variance"],
                      **{k: dense["backbone"][k] for k in ("block_expansion", "max_features", "num_blocks")})
    gen_args = dict(common, mobile_net=True, inference=False, dense_motion_params=dense_args,
                    **{k: gen[k] for k in ("block_expansion", "max_features", "num_down_blocks",
                                           "num_bottleneck_blocks", "estimate_occlusion_map")})
    return kp_args, gen_args


def randomize(net, rng):
    """Seeded random weights and BatchNorm statistics (the constructor's leave BatchNorm an identity and the
    jacobian head constant); the anti-alias kernels (`down.weight`) are kept."""
    import paddle

    for name, tensor in net.state_dict().items():
        shape = tuple(tensor.shape)
        if name.endswith("down.weight"):
            continue
        if name.endswith("_variance"):
            value = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("_mean"):
            value = rng.normal(0, 0.1, shape)
        elif len(shape) == 1 and name.endswith(".weight"):  # BatchNorm scales
            value = rng.uniform(0.8, 1.2, shape)
        elif len(shape) == 1:  # conv and BatchNorm biases
            value = rng.normal(0, 0.1, shape)
        else:
            fan_in = int(np.prod(shape[1:]))
            value = rng.normal(0, np.sqrt(1.0 / fan_in), shape)
        tensor.set_value(paddle.to_tensor(value.astype(np.float32)))


def record(kp_detector, generator, source, driving, prefix, out, motion_keys):
    """The nets' outputs on (source, driving) into `out` under `prefix`: keypoints, prediction and `motion_keys`."""
    import paddle

    with paddle.no_grad():
        kp_source = kp_detector(paddle.to_tensor(source))
        kp_driving = kp_detector(paddle.to_tensor(driving))
        generated = generator(paddle.to_tensor(source), kp_driving=kp_driving, kp_source=kp_source)
        # the generator does not return the dense deformation: the dense motion network's own call
        motion = generator.dense_motion_network(paddle.to_tensor(source), kp_driving=kp_driving, kp_source=kp_source)
    for key in ("value", "jacobian"):
        out["%s/kp_source/%s" % (prefix, key)] = kp_source[key].numpy()
        out["%s/kp_driving/%s" % (prefix, key)] = kp_driving[key].numpy()
    for key in ("prediction",) + motion_keys:
        out["%s/%s" % (prefix, key)] = (motion if key == "deformation" else generated)[key].numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paddlegan", required=True, help="a PaddleGAN source tree (ppgan/ and configs/)")
    parser.add_argument("--out", default=HERE, help="output folder (default: tests/data)")
    args = parser.parse_args()
    import paddle
    import yaml

    root = os.path.abspath(args.paddlegan)
    KPDetector, OcclusionAwareGenerator = import_paddlegan(root)
    paddle.seed(SEED)
    rng = np.random.RandomState(SEED)

    with open(os.path.join(REPO, "configs", "firstorder_synthetic_mobile_64.yaml")) as f:
        config = yaml.safe_load(f)
    kp_args, gen_args = paddlegan_arguments(config["model"])
    kp_detector, generator = KPDetector(**kp_args), OcclusionAwareGenerator(**gen_args)
    randomize(kp_detector, rng)
    randomize(generator, rng)
    source = rng.uniform(0, 1, (2, 3, FRAME, FRAME)).astype(np.float32)
    driving = rng.uniform(0, 1, (2, 3, FRAME, FRAME)).astype(np.float32)

    paddle.save({"generator": generator.state_dict(), "kp_detector": kp_detector.state_dict()},
                os.path.join(args.out, "paddlegan_mobile.pdparams"))
    outputs = {"source": source, "driving": driving}
    kp_detector.eval()
    generator.eval()
    record(kp_detector, generator, source, driving, "eval", outputs,
           ("deformation", "occlusion_map", "mask", "deformed"))
    kp_detector.train()
    generator.train()
    record(kp_detector, generator, source, driving, "train", outputs, ())
    np.savez_compressed(os.path.join(args.out, "paddlegan_mobile_outputs.npz"), **outputs)

    with open(os.path.join(root, "configs", "firstorder_vox_mobile_256.yaml")) as f:
        vox = yaml.safe_load(f)["model"]
    common = {k: vox["common_params"][k] for k in ("num_kp", "num_channels", "estimate_jacobian")}
    full = {"kp_detector": KPDetector(**vox["generator"]["kp_detector_cfg"], **common),
            "generator": OcclusionAwareGenerator(**vox["generator"]["generator_cfg"], **common)}
    shapes = {net: {k: list(v.shape) for k, v in layer.state_dict().items()} for net, layer in full.items()}
    with open(os.path.join(args.out, "paddlegan_mobile_vox256_shapes.json"), "w") as f:
        json.dump(shapes, f, indent=0, sort_keys=True)
    count = sum(int(np.prod(s)) for net in shapes.values() for s in net.values())
    print("vox-256 mobile: %d values (%.1f MB as float32)" % (count, count * 4 / 2 ** 20))


if __name__ == "__main__":
    main()
