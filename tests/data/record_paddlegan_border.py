#!/usr/bin/env python
"""Record PaddleGAN's FOMM animation (its generator's inference=True border correction) on small seeded models.

    PADDLEGAN_PYTHON tests/data/record_paddlegan_border.py --paddlegan /path/to/PaddleGAN [--out tests/data]

Runs in PaddleGAN's environment (see benchmarks/paddlegan_animate.py: paddlepaddle 2.6.2, numpy<2, scipy,
opencv-python, imageio, tqdm, pyyaml, requests) and imports nothing of this project. For each case of CASES
it builds PaddleGAN's KPDetector and OcclusionAwareGenerator from a small config in PaddleGAN's format,
gives every parameter and batch-norm statistic seeded random values, saves them as PaddleGAN does
(`paddlegan_border_<case>.pdparams`: {'generator', 'kp_detector'}), loads that file with PaddleGAN's own
FirstOrderPredictor (generator built with inference=True, as its predictor always does) and animates
seeded frames with its make_animation (relative=True, adapt_scale=True, batch 1).

`paddlegan_border.npz` holds the uint8 source (H, W, 3) and driving frames (N, H, W, 3) and per case
`<case>/config` (PaddleGAN's config as JSON) and `<case>/prediction` (N, H, W, 3), float32 in [0, 1]
(make_animation's output / 255). tests/test_parity_paddlegan_border.py compares the project's frames with them.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "benchmarks"))

import paddlegan_animate  # noqa: E402

SIZE = 64
NUM_DRIVING = 3


def small_config(motion_scale):
    """A small FOMM in PaddleGAN's config format: 64x64 frames, features at 32x32, the motion estimated at
    `motion_scale` of the frame (0.5: at the features' size, as vox-256; 0.25: resized to it)."""
    hourglass = {"block_expansion": 4, "max_features": 16, "num_blocks": 3}
    return {"model": {
        "common_params": {"num_kp": 4, "num_channels": 3, "estimate_jacobian": True},
        "generator": {
            "kp_detector_cfg": dict(hourglass, temperature=0.1, scale_factor=0.5),
            "generator_cfg": {"block_expansion": 8, "max_features": 16, "num_down_blocks": 1,
                              "num_bottleneck_blocks": 2, "estimate_occlusion_map": True,
                              "dense_motion_params": dict(hourglass, scale_factor=motion_scale)}}}}


CASES = {"same_size": small_config(0.5), "resized": small_config(0.25)}


def seeded_state(net, rng):
    """Random values for every parameter and buffer of `net` (batch-norm variances positive)."""
    import numpy as np

    state = {}
    for name, value in net.state_dict().items():
        shape = tuple(value.shape)
        if name.endswith("_variance"):
            array = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("_mean"):
            array = rng.normal(0, 0.1, shape)
        elif len(shape) == 1:  # biases and batch-norm scales
            array = (1 if name.endswith("weight") else 0) + rng.normal(0, 0.1, shape)
        else:
            fan_in = int(np.prod(shape[1:]))
            array = rng.normal(0, 1.0 / np.sqrt(fan_in), shape)
        state[name] = array.astype(np.float32)
    return state


def frames(rng):
    """A smooth random source and driving frames that move it (uint8)."""
    import cv2
    import numpy as np

    def smooth(seed_shape):
        return cv2.resize(rng.uniform(0, 255, seed_shape).astype(np.float32), (SIZE + 16, SIZE + 16),
                          interpolation=cv2.INTER_CUBIC)

    scene = smooth((10, 10, 3))
    source = scene[8:8 + SIZE, 8:8 + SIZE]
    driving = [scene[8 + dy:8 + dy + SIZE, 8 + dx:8 + dx + SIZE] for dy, dx in ((0, 0), (3, -2), (-5, 6))]
    clip = lambda a: np.clip(np.rint(a), 0, 255).astype(np.uint8)  # noqa: E731
    return clip(source), clip(np.stack(driving))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paddlegan", required=True, metavar="DIR", help="a checkout of PaddlePaddle/PaddleGAN")
    parser.add_argument("--out", default=HERE, help="folder of the fixture files")
    args = parser.parse_args()

    import numpy as np
    import paddle

    paddle.set_device("cpu")
    module = paddlegan_animate.import_first_order_predictor(args.paddlegan)
    rng = np.random.RandomState(23)
    source, driving = frames(rng)
    arrays = {"source": source, "driving": driving}
    for case, config in CASES.items():
        model = config["model"]
        common, params = model["common_params"], model["generator"]
        generator = module.OcclusionAwareGenerator(**params["generator_cfg"], **common, inference=True)
        kp_detector = module.KPDetector(**params["kp_detector_cfg"], **common)
        weights = os.path.join(args.out, "paddlegan_border_%s.pdparams" % case)
        paddle.save({"generator": seeded_state(generator, rng), "kp_detector": seeded_state(kp_detector, rng)},
                    weights)
        predictor = paddlegan_animate.load_predictor(args.paddlegan, weights, config, relative=True,
                                                     adapt_scale=True, batch_size=1)
        prediction = paddlegan_animate.animate(predictor, source / 255.0, [f / 255.0 for f in driving])
        arrays[case + "/config"] = np.array(json.dumps(config))
        arrays[case + "/prediction"] = prediction
        print("%s: %s, prediction %s in [%.3f, %.3f]" % (case, weights, prediction.shape, prediction.min(),
                                                          prediction.max()))
    out = os.path.join(args.out, "paddlegan_border.npz")
    np.savez_compressed(out, paddle_version=np.array(paddle.__version__), **arrays)
    print("wrote", out)


if __name__ == "__main__":
    main()
