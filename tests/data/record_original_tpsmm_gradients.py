#!/usr/bin/env python
"""Record the original TPSMM's exact (float64) training gradients on ../shared/parity-tpsmm/tpsmm-vox.

    git -C <checkout of yoyo-nb/Thin-Plate-Spline-Motion-Model> archive HEAD modules | tar x -C /tmp/tpsmm_orig
    python tests/data/record_original_tpsmm_gradients.py --original /tmp/tpsmm_orig \
        [--fixture ../shared/parity-tpsmm/tpsmm-vox] [--vgg ../shared/parity] \
        [--out tests/data/original_tpsmm_float64_gradients.npz]

Needs PyTorch (not torchvision: tests/data/tpsmm_recording_noise.py's ResNet18 with torchvision's layout stands
in for torchvision.models.resnet18, the fixtures' seeded VGG19 for torchvision.models.vgg19). The original's
`modules/` are imported unchanged. It builds the nets of the fixture's config, loads `checkpoint.pth.tar`,
replays the recorded random TPS transform and runs the fixture's `train` pass: GeneratorFullModel(x, epoch=40)
in train mode and backward of the summed losses, in float32 and in float64. The float32 re-run checks the replay:
its losses are within float32 rounding of the recorded ones (measured 4.3e-7 relative); its gradients are not
bit-identical to the recording's (another machine's kernels), and as far from them as float32 rounding puts any
run of this model (~1e-2, see tests/test_train_parity_tpsmm.py).

The output holds the float64 pass: `loss/<name>`, `grad_names` ('<net>/<param>') and per name a row of
`grad_sketches`: the gradient's L2 norm, then its 16 projections as the fixture's (tests/gradient_sketch.py);
and `antialias_kernel/<scale>`, the Gaussian kernels of its anti-aliased downsampling (computed in float32 by
PyTorch: some entries are an ulp from numpy's, which a float64 comparison must not count as a difference).
"""
import argparse
import os
import sys
import types

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)
sys.path.insert(0, HERE)

from gradient_sketch import tpsmm_projections, tpsmm_relative_distance  # noqa: E402

NETS = ("kp_detector", "dense_motion_network", "inpainting_network", "bg_predictor")


def install_shims(vgg_dir):
    """torchvision.models with a ResNet18 of torchvision's layout and the fixtures' seeded VGG19."""
    import torch
    from torch import nn
    from tpsmm_recording_noise import _ResNet18

    sys.path.insert(0, vgg_dir)
    from vgg19_weights import VGG19_CFG, seeded_vgg19_weights

    class SeededVgg19(nn.Module):
        def __init__(self):
            super().__init__()
            layers, channels = [], 3
            for v in VGG19_CFG:
                if v == "M":
                    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                else:
                    layers += [nn.Conv2d(channels, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                    channels = v
            self.features = nn.Sequential(*layers)
            self.load_state_dict({k: torch.from_numpy(a) for k, a in seeded_vgg19_weights().items()})

    models = types.ModuleType("torchvision.models")
    models.resnet18 = lambda pretrained=False, **kwargs: _ResNet18()
    models.vgg19 = lambda pretrained=True: SeededVgg19()
    torchvision = types.ModuleType("torchvision")
    torchvision.models = models
    sys.modules["torchvision"] = torchvision
    sys.modules["torchvision.models"] = models


def run(fixture, dtype):
    """One train pass of the original at `dtype`; returns (io, {loss: float}, {'<net>/<param>': gradient})."""
    import torch
    import yaml
    import modules.model as original
    from modules.bg_motion_predictor import BGMotionPredictor
    from modules.dense_motion import DenseMotionNetwork
    from modules.inpainting_network import InpaintingNetwork
    from modules.keypoint_detector import KPDetector

    io = np.load(os.path.join(fixture, "io.npz"))
    recorded = {k: torch.from_numpy(io["train/transform/" + k]).to(dtype)
                for k in ("theta", "control_points", "control_params")}

    class Replayed(original.TPS):
        """The random transform of the equivariance loss, replayed from the fixture."""

        def __init__(self, mode, bs, **kwargs):
            if mode != "random":
                super().__init__(mode, bs, **kwargs)
                return
            self.mode, self.bs = mode, bs
            self.theta, self.control_points, self.control_params = (
                recorded["theta"], recorded["control_points"], recorded["control_params"])
    original.TPS = Replayed

    cfg = yaml.safe_load(open(os.path.join(fixture, "config.yaml")))
    params, train_params = cfg["model_params"], cfg["train_params"]
    common = params["common_params"]
    nets = {"kp_detector": KPDetector(**common),
            "dense_motion_network": DenseMotionNetwork(**common, **params["dense_motion_params"]),
            "inpainting_network": InpaintingNetwork(**params["generator_params"], **common),
            "bg_predictor": BGMotionPredictor()}
    checkpoint = torch.load(os.path.join(fixture, "checkpoint.pth.tar"), map_location="cpu")
    for name, net in nets.items():
        net.load_state_dict(checkpoint[name])
    full = original.GeneratorFullModel(nets["kp_detector"], nets["bg_predictor"], nets["dense_motion_network"],
                                       nets["inpainting_network"], train_params)
    full.to(dtype).train()
    x = {k: torch.from_numpy(io[k]).to(dtype) for k in ("source", "driving")}
    losses, _ = full(x, int(io["train/epoch"]))
    sum(v.mean() for v in losses.values()).backward()
    grads = {"%s/%s" % (n, p): t.grad.double().numpy() for n in NETS for p, t in nets[n].named_parameters()}
    kernels = {m.scale: m.weight[0, 0].float().numpy() for m in full.modules()
               if type(m).__name__ == "AntiAliasInterpolation2d" and m.scale != 1}
    return io, {k: v.mean().item() for k, v in losses.items()}, grads, kernels


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--original", required=True, help="folder holding the original's modules/")
    root = os.path.dirname(os.path.dirname(TESTS))
    parser.add_argument("--fixture", default=os.path.join(root, "shared", "parity-tpsmm", "tpsmm-vox"))
    parser.add_argument("--vgg", default=os.path.join(root, "shared", "parity"),
                        help="folder of vgg19_weights.py (the FOMM parity fixtures)")
    parser.add_argument("--out", default=os.path.join(HERE, "original_tpsmm_float64_gradients.npz"))
    args = parser.parse_args()
    import torch

    install_shims(os.path.abspath(args.vgg))
    sys.path.insert(0, os.path.abspath(args.original))
    io, losses32, grads32, kernels = run(args.fixture, torch.float32)
    _, losses, grads, _ = run(args.fixture, torch.float64)
    names = sorted(grads)
    out = {"loss/" + k: np.float64(v) for k, v in losses.items()}
    out.update({"antialias_kernel/%s" % scale: kernel for scale, kernel in kernels.items()})
    out["grad_names"] = np.array(names)
    out["grad_sketches"] = np.stack([np.concatenate([[np.linalg.norm(grads[k])], tpsmm_projections(k, grads[k])])
                                     for k in names])

    def worst(candidate):
        """Worst relative distance to the recording per net, over the tensors whose exact gradient is not zero
        (conv biases before a norm layer have no relative error)."""
        per_net = {}
        for net in NETS:
            keys = [k for k in names if k.startswith(net + "/")]
            median = np.median([np.linalg.norm(grads[k]) for k in keys])
            per_net[net] = max(tpsmm_relative_distance(k, candidate[k], float(io["train/grad_norm/" + k]),
                                                       io["train/grad_sketch/" + k])
                               for k in keys if np.linalg.norm(grads[k]) > 1e-9 * median)
        return ", ".join("%s %.1e" % kv for kv in per_net.items())
    loss_err = max(abs(v - float(io["train/loss/" + k])) / abs(float(io["train/loss/" + k]))
                   for k, v in losses32.items())
    print("float32 re-run vs the recording: max relative loss difference %.1e; worst gradient tensor per net: %s"
          % (loss_err, worst(grads32)))
    print("float64 vs the recording, worst gradient tensor per net: %s" % worst(grads))
    tmp = args.out + ".tmp.npz"
    np.savez_compressed(tmp, **out)
    os.replace(tmp, args.out)
    print("wrote %s" % args.out)


if __name__ == "__main__":
    main()
