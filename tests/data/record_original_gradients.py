#!/usr/bin/env python
"""Record the original model's exact (float64) training gradients on the parity fixtures.

    python tests/data/record_original_gradients.py --original /path/to/first-order-model \
        [--parity ../shared/parity] [--out tests/data/original_float64_gradients.npz]

Needs PyTorch and a checkout of AliaksandrSiarohin/first-order-model (its `modules/` are imported
unchanged). For every fixture and align_corners setting it builds the original nets from the
fixture's config, loads `weights.npz`, replays the recorded random transform and runs one
GeneratorFullModel step (backward of the summed losses) and one DiscriminatorFullModel step
(backward of `disc_gan`) in float64. The same run in float32 reproduces the fixture's recorded
losses and gradients exactly, which checks the replay.

The output holds, per case `<fixture>-align_corners-<true|false>`: `.../loss/<name>` and for each
gradient, in the order of `.../grad_names` ('<net>/<param>'), a row of `.../grad_sketches`: its
norm followed by its projections (see tests/gradient_sketch.py).
"""
import argparse
import os
import sys
import types

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from gradient_sketch import sketch  # noqa: E402

CASES = [("vox", False), ("vox-adv", False), ("mgif", False), ("zero-order", False), ("multiscale-pad", False),
         ("vox", True), ("mgif", True)]


def install_shims(parity_dir):
    """Stand-ins for the two imports the original needs besides torch: SyncBN and torchvision's VGG19."""
    import torch
    from torch import nn

    sys.modules["sync_batchnorm"] = types.SimpleNamespace(SynchronizedBatchNorm2d=nn.BatchNorm2d)
    sys.path.insert(0, parity_dir)
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

    models = types.SimpleNamespace(vgg19=lambda pretrained=True: SeededVgg19())
    sys.modules["torchvision"] = types.SimpleNamespace(models=models)


def run_case(parity_dir, name, align_corners, dtype):
    import torch
    import torch.nn.functional as F
    import yaml
    import modules.model as original
    from modules.discriminator import MultiScaleDiscriminator
    from modules.generator import OcclusionAwareGenerator
    from modules.keypoint_detector import KPDetector

    grid_sample = getattr(F.grid_sample, "__wrapped__", F.grid_sample)

    def sample(*args, **kwargs):
        return grid_sample(*args, align_corners=align_corners, **kwargs)
    sample.__wrapped__ = grid_sample
    F.grid_sample = sample   # the original calls it without align_corners

    flag = str(align_corners).lower()
    io = np.load(os.path.join(parity_dir, name, "io-align_corners-%s.npz" % flag))
    recorded = {k: torch.from_numpy(io["train/transform/" + k]).to(dtype)
                for k in ("theta", "control_points", "control_params")}

    def replay(self, bs, **kwargs):
        self.bs, self.tps = bs, True
        self.theta, self.control_points, self.control_params = (
            recorded["theta"], recorded["control_points"], recorded["control_params"])
    original.Transform.__init__ = replay

    cfg = yaml.safe_load(open(os.path.join(parity_dir, name, "config.yaml")))
    params, train_params = cfg["model_params"], cfg["train_params"]
    nets = {"kp_detector": KPDetector(**params["kp_detector_params"], **params["common_params"]),
            "generator": OcclusionAwareGenerator(**params["generator_params"], **params["common_params"]),
            "discriminator": MultiScaleDiscriminator(**params["discriminator_params"], **params["common_params"])}
    weights = np.load(os.path.join(parity_dir, name, "weights.npz"))
    for net_name, net in nets.items():
        net.load_state_dict({k[len(net_name) + 1:]: torch.from_numpy(weights[k]) for k in weights.files
                             if k.startswith(net_name + "/")})
    generator_full = original.GeneratorFullModel(nets["kp_detector"], nets["generator"], nets["discriminator"],
                                                 train_params)
    discriminator_full = original.DiscriminatorFullModel(nets["kp_detector"], nets["generator"],
                                                         nets["discriminator"], train_params)
    for full in (generator_full, discriminator_full):
        full.to(dtype).train()
    x = {k: torch.from_numpy(io[k]).to(dtype) for k in ("source", "driving")}
    losses, generated = generator_full(x)
    sum(v.mean() for v in losses.values()).backward()
    grads = {"%s/%s" % (n, p): t.grad.double().numpy() for n in ("kp_detector", "generator")
             for p, t in nets[n].named_parameters()}
    nets["discriminator"].zero_grad(set_to_none=True)
    disc_losses = discriminator_full(x, generated)
    disc_losses["disc_gan"].backward()
    grads.update({"discriminator/%s" % p: t.grad.double().numpy() for p, t in nets["discriminator"].named_parameters()})
    values = {k: v.mean().item() for k, v in losses.items()}
    values["disc_gan"] = disc_losses["disc_gan"].item()
    return io, values, grads


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--original", required=True, help="checkout of AliaksandrSiarohin/first-order-model")
    parser.add_argument("--parity", default=os.path.join(os.path.dirname(os.path.dirname(HERE)), "..", "shared",
                                                         "parity"), help="the parity fixture folder")
    parser.add_argument("--out", default=os.path.join(HERE, "original_float64_gradients.npz"), help="output .npz")
    args = parser.parse_args()
    import torch

    parity = os.path.abspath(args.parity)
    install_shims(parity)
    sys.path.insert(0, os.path.abspath(args.original))
    out = {}
    for name, align_corners in CASES:
        case = "%s-align_corners-%s" % (name, str(align_corners).lower())
        io, losses32, grads32 = run_case(parity, name, align_corners, torch.float32)
        worst = max(np.abs(grads32[k] - io["train/grad/" + k]).max() for k in grads32)
        loss_err = max(abs(v - float(io["train/loss/" + k])) for k, v in losses32.items())
        print("%s: float32 replay vs recording: max |loss diff| %.1e, max |grad diff| %.1e" % (case, loss_err, worst))
        _, losses, grads = run_case(parity, name, align_corners, torch.float64)
        for k, v in losses.items():
            out["%s/loss/%s" % (case, k)] = np.float64(v)
        names = sorted(grads)
        out["%s/grad_names" % case] = np.array(names)
        out["%s/grad_sketches" % case] = np.stack([np.concatenate([[n], p]) for n, p in
                                                   (sketch(k, grads[k]) for k in names)])
    tmp = args.out + ".tmp.npz"
    np.savez_compressed(tmp, **out)
    os.replace(tmp, args.out)
    print("wrote %s" % args.out)


if __name__ == "__main__":
    main()
