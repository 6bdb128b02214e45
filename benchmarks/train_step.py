#!/usr/bin/env python
"""Print the time of one training iteration (forward, backward, optimizer steps) and the peak memory, optionally
against the original PyTorch code's iteration on the same config.

    python benchmarks/train_step.py -c configs/firstorder_synthetic_64.yaml [--batch-size 4] [--iters 5]
    python benchmarks/train_step.py -c configs/tpsmm_synthetic_64.yaml [--epoch 40] [--stage avd]
    python benchmarks/train_step.py -c configs/tpsmm_synthetic_wide_64.yaml --threads 2 \\
        --torch-original /tmp/tpsmm_orig

Random frames of the config's `dataset.frame_shape`; no data is read. VGG19 is random when the
perceptual loss is on (its speed does not depend on the weights). `--epoch` is the epoch the step is taken at
(the thin-plate spline model's background predictor and TPS dropout depend on it). `--threads` is the CPU
threads of the math libraries (Paddle's MKL/OpenMP as ppgan.apps.predictor.cpu_threads sets them, idle threads
sleeping at once, and torch.set_num_threads); training uses 1 today.

On a non-Intel CPU with AVX2 and FMA the benchmark runs Paddle's MKL on its AVX2 path
(ppgan.utils.cpu.configure_math_library: MKL_DEBUG_CPU_TYPE=5; a training iteration 1.35-2.1x faster on a
2-core AMD EPYC); a MKL_DEBUG_CPU_TYPE of the environment is kept, and an empty one (MKL_DEBUG_CPU_TYPE=)
measures MKL's default path. The first line prints the setting in effect.

--torch-original DIR times the original's training iteration right after ours, in the same process: DIR is a
checkout of AliaksandrSiarohin/first-order-model (for a FirstOrderModel config) or of
yoyo-nb/Thin-Plate-Spline-Motion-Model (for a TPSMMModel config), e.g.
    git -C <clone> archive HEAD modules sync_batchnorm | tar x -C /tmp/fomm_orig     (TPSMM: modules only)
It needs PyTorch (pip install torch), not torchvision (nor FOMM's sync_batchnorm: without it, PyTorch's
BatchNorm2d, which SynchronizedBatchNorm2d is outside DataParallel). Its nets are built from the same config
(the model section translated to the original's model_params, our defaults filled in), with the original's
GeneratorFullModel (and DiscriminatorFullModel), its Adam optimizers and the body of its train.py loop (backward,
TPSMM's gradient clipping, optimizer steps, the losses read back), on the same frames, batch, epoch and thread
count (with several threads, idle ones sleep at once in both: OMP_WAIT_POLICY=PASSIVE for PyTorch unless set;
its default spinning made 2 threads 4x slower on a loaded 2-core machine); both print the number of weights in
their optimizers (equal when the nets are the same).
Stand-ins replace torchvision: a random VGG19 and, for TPSMM, a ResNet18 of torchvision's layout at the config's
`block_expansion` (the original's is always 64 wide; its background predictor's 6-channel stem gets the same
width). The original has no pixel loss: with `loss_weights.pixel` non-zero the same pyramid L1 is added to its
losses, computed on the pyramids its GeneratorFullModel builds. Only the `train` stage can be compared; a DIR
that holds neither original, or the other family's, is refused (exit 2). Prints both times and ours / original.
"""
import argparse
import inspect
import os
import resource
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppgan.utils.cli import quiet_warnings, run  # noqa: E402
from ppgan.utils.cpu import configure_math_library  # noqa: E402
from ppgan.utils.errors import PPGanError  # noqa: E402

quiet_warnings()
configure_math_library()  # before the first MKL call (importing Paddle makes none)

FOMM, TPSMM = "FirstOrderModel", "TPSMMModel"
ORIGINAL_REPOSITORIES = {FOMM: "AliaksandrSiarohin/first-order-model",
                         TPSMM: "yoyo-nb/Thin-Plate-Spline-Motion-Model"}
# Files of each original's modules/ that the other has not.
ORIGINAL_FILES = {FOMM: ("model.py", "generator.py", "keypoint_detector.py", "discriminator.py"),
                  TPSMM: ("model.py", "inpainting_network.py", "keypoint_detector.py", "bg_motion_predictor.py")}
ORIGINAL_NORM = {FOMM: "batch", TPSMM: "instance"}  # the originals' hourglasses have no `norm` argument
WARMUP = 2


class BenchmarkError(PPGanError):
    """An option the benchmark cannot honour."""


def original_family(directory):
    """The model family (FirstOrderModel or TPSMMModel) whose original a checkout holds, or None."""
    for family, files in ORIGINAL_FILES.items():
        if all(os.path.isfile(os.path.join(directory, "modules", name)) for name in files):
            return family
    return None


def check_original(directory, family, stage):
    """Raise BenchmarkError unless `directory` holds the original of the config's model `family`."""
    found = original_family(directory) if os.path.isdir(directory) else None
    if found is None:
        raise BenchmarkError("--torch-original %s is not a checkout of %s or %s (no modules/ with their files)"
                             % (directory, ORIGINAL_REPOSITORIES[FOMM], ORIGINAL_REPOSITORIES[TPSMM]))
    if found != family:
        raise BenchmarkError("--torch-original %s holds %s (%s) but the config's model is %s"
                             % (directory, ORIGINAL_REPOSITORIES[found], found, family))
    if stage != "train":
        raise BenchmarkError("--torch-original compares the train stage only, not --stage %s" % stage)


def time_iterations(step, iters):
    """Seconds per call of `step()` over `iters` calls, after WARMUP calls."""
    for _ in range(WARMUP):
        step()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    return (time.perf_counter() - start) / iters


# --- the config's model section as the original's model_params ---------------------------------------------------

def _filled(registry, section, given=()):
    """A net's config section with our defaults of the arguments it leaves out, nested nets too; `given` are
    the arguments its owner passes (left out)."""
    cls = registry.get(section["name"])
    out = {k: p.default for k, p in inspect.signature(cls).parameters.items()
           if p.default is not p.empty and k not in given}
    out.update(section)
    for key, (child_registry, child_given) in getattr(cls, "config_children", {}).items():
        if out.get(key) is not None:
            out[key] = _filled(child_registry, out[key], child_given)
    return out


def _filled_model(model):
    """The model section with every net's defaults and `common` filled in."""
    from ppgan.models.builder import common_params, model_family

    out = {"common": common_params(model)}
    for section, (registry, given) in model_family(model).net_sections.items():
        if model.get(section) is not None:
            out[section] = _filled(registry, model[section], given)
    return out


def _drop_our_keys(params, family, path="model_params"):
    """`params` without the keys the original has not: `align_corners` (FOMM's original samples with PyTorch's
    default, TPSMM's always with align_corners=True) and the hourglasses' `norm` (fixed in the original)."""
    out = {}
    for key, value in params.items():
        if isinstance(value, dict):
            out[key] = _drop_our_keys(value, family, path + "." + key)
        elif key == "norm":
            if value != ORIGINAL_NORM[family]:
                raise BenchmarkError("the original's hourglasses have %s norm only; the config asks for %r "
                                     "(%s.norm in the original's terms)" % (ORIGINAL_NORM[family], value, path))
        elif key != "align_corners":
            out[key] = value
    return out


def _resnet_width(section, path):
    backbone = section["backbone"]
    if backbone["name"] != "ResNet18":
        raise BenchmarkError("the original's %s is a ResNet18, not %s" % (path, backbone["name"]))
    return backbone["block_expansion"]


def original_model_params(model, family):
    """(the original's model_params, {net: ResNet18 width}) for a native `model` section."""
    from ppgan.utils.config import to_original_model_params

    filled = _filled_model(model)
    if family == FOMM:
        return _drop_our_keys(to_original_model_params(filled), family), {}
    dense = dict(filled["dense_motion_network"])
    backbone = dense.pop("backbone")
    if backbone["name"] != "Hourglass":
        raise BenchmarkError("the original's dense motion network is an Hourglass, not %s" % backbone["name"])
    dense.update({k: v for k, v in backbone.items() if k != "name"})
    widths = {"kp_detector": _resnet_width(filled["kp_detector"], "model.kp_detector")}
    if filled.get("bg_predictor") is not None:
        widths["bg_predictor"] = _resnet_width(filled["bg_predictor"], "model.bg_predictor")
    params = {"common_params": dict(filled["common"], bg="bg_predictor" in widths),
              "dense_motion_params": {k: v for k, v in dense.items() if k != "name"},
              "generator_params": {k: v for k, v in filled["inpainting_network"].items() if k != "name"}}
    return _drop_our_keys(params, family), widths


# --- the original, in PyTorch ---------------------------------------------------------------------------------

def _torchvision_stand_in(resnet_width):
    """A `torchvision` module whose models.vgg19 is a random VGG19 and models.resnet18 a random ResNet18 of
    torchvision's layout and names (tests/data/tpsmm_recording_noise.py's), `resnet_width['next']` wide (64:
    torchvision's)."""
    import types

    import torch.nn as nn

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "data"))
    from tpsmm_recording_noise import _Block, _ResNet18

    from ppgan.models.criterions.perceptual import VGG19_LAYOUT

    class ResNet18(_ResNet18):
        def __init__(self, width):
            nn.Module.__init__(self)
            self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            widths = [width * 2 ** i for i in range(4)]
            for i, (previous, out) in enumerate(zip([width] + widths, widths)):
                setattr(self, "layer%d" % (i + 1), nn.Sequential(_Block(previous, out, 1 if i == 0 else 2),
                                                                 _Block(out, out, 1)))
            self.fc = nn.Linear(widths[-1], 1000)

    class VGG19(nn.Module):
        def __init__(self):
            super().__init__()
            layers, channels = [], 3
            for width in VGG19_LAYOUT:
                if width == "M":
                    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                else:
                    layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                    channels = width
            self.features = nn.Sequential(*layers)

    models = types.ModuleType("torchvision.models")
    models.resnet18 = lambda pretrained=False, **kwargs: ResNet18(resnet_width["next"])
    models.vgg19 = lambda pretrained=True, **kwargs: VGG19()
    torchvision = types.ModuleType("torchvision")
    torchvision.models = models
    return torchvision


def _recording_pyramid(torch, pyramid):
    """The original's ImagePyramide, keeping its outputs (for the pixel loss it does not have)."""
    class Recording(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.pyramid = pyramid
            self.outputs = []

        def forward(self, x):
            self.outputs.append(self.pyramid(x))
            return self.outputs[-1]
    return Recording()


def _with_pixel_loss(torch, full, train_cfg):
    """`full(x, *args)` returning the original's losses plus our pixel pyramid L1 when its weight is non-zero:
    sum over scales of w mean|D_s(prediction) - D_s(driving)|, on the pyramids the original computes
    (driving first, then the prediction)."""
    weight = train_cfg["loss_weights"]["pixel"]
    if not weight:
        return full
    full.pyramid = _recording_pyramid(torch, full.pyramid)

    def forward(x, *args):
        losses, generated = full(x, *args)
        real, fake = full.pyramid.outputs[-2:]
        full.pyramid.outputs.clear()
        losses["pixel"] = sum(weight * torch.abs(fake[k] - real[k].detach()).mean() for k in real)
        return losses, generated
    return forward


def _optimizer_weights(optimizers):
    """The number of weights the PyTorch `optimizers` hold."""
    return sum(p.numel() for optimizer in optimizers for group in optimizer.param_groups for p in group["params"])


def _fomm_original_step(torch, params, train_cfg, x):
    """(one iteration of the original's train.py loop, with its nets (run.py) and optimizers; the number of
    weights in the optimizers it steps: the discriminator's with the adversarial loss only)."""
    from modules.discriminator import MultiScaleDiscriminator
    from modules.generator import OcclusionAwareGenerator
    from modules.keypoint_detector import KPDetector
    from modules.model import DiscriminatorFullModel, GeneratorFullModel

    common = params["common_params"]
    generator = OcclusionAwareGenerator(**params["generator_params"], **common)
    # run.py always builds the discriminator; it runs only with the adversarial loss.
    discriminator = MultiScaleDiscriminator(**params.get("discriminator_params", {"scales": [1]}), **common)
    kp_detector = KPDetector(**params["kp_detector_params"], **common)
    betas = (0.5, 0.999)
    optimizer_generator = torch.optim.Adam(generator.parameters(), lr=train_cfg["lr_generator"], betas=betas)
    optimizer_discriminator = torch.optim.Adam(discriminator.parameters(), lr=train_cfg["lr_discriminator"],
                                               betas=betas)
    optimizer_kp_detector = torch.optim.Adam(kp_detector.parameters(), lr=train_cfg["lr_kp_detector"], betas=betas)
    generator_full = _with_pixel_loss(torch, GeneratorFullModel(kp_detector, generator, discriminator, train_cfg),
                                      train_cfg)
    discriminator_full = DiscriminatorFullModel(kp_detector, generator, discriminator, train_cfg)

    def step():
        losses_generator, generated = generator_full(x)
        loss = sum(val.mean() for val in losses_generator.values())
        loss.backward()
        optimizer_generator.step()
        optimizer_generator.zero_grad()
        optimizer_kp_detector.step()
        optimizer_kp_detector.zero_grad()
        if train_cfg["loss_weights"]["generator_gan"] != 0:
            optimizer_discriminator.zero_grad()
            losses_discriminator = discriminator_full(x, generated)
            loss = sum(val.mean() for val in losses_discriminator.values())
            loss.backward()
            optimizer_discriminator.step()
            optimizer_discriminator.zero_grad()
            losses_generator.update(losses_discriminator)
        return {key: value.mean().detach().data.cpu().numpy() for key, value in losses_generator.items()}
    weights = [optimizer_generator, optimizer_kp_detector]
    if train_cfg["loss_weights"]["generator_gan"] != 0:
        weights.append(optimizer_discriminator)
    return step, _optimizer_weights(weights)


def _tpsmm_original_step(torch, params, train_cfg, x, epoch, resnet_width):
    """(one iteration at `epoch` of the original's train.py loop, with its nets (run.py) and optimizers; the
    number of weights in its optimizers)."""
    import math

    from torch.nn.utils import clip_grad_norm_

    from modules.bg_motion_predictor import BGMotionPredictor
    from modules.dense_motion import DenseMotionNetwork
    from modules.inpainting_network import InpaintingNetwork
    from modules.keypoint_detector import KPDetector
    from modules.model import GeneratorFullModel

    common = params["common_params"]
    inpainting_network = InpaintingNetwork(**params["generator_params"], **common)
    resnet_width["next"] = resnet_width["kp_detector"]
    kp_detector = KPDetector(**common)
    dense_motion_network = DenseMotionNetwork(**common, **params["dense_motion_params"])
    bg_predictor = None
    if common["bg"]:
        resnet_width["next"] = width = resnet_width["bg_predictor"]
        bg_predictor = BGMotionPredictor()
        if width != 64:  # the original replaces torchvision's stem by a 6-channel one, 64 wide
            bg_predictor.bg_encoder.conv1 = torch.nn.Conv2d(6, width, kernel_size=(7, 7), stride=(2, 2),
                                                            padding=(3, 3), bias=False)
    lr = train_cfg["lr_generator"]
    optimizer = torch.optim.Adam(
        [{"params": list(inpainting_network.parameters()) + list(dense_motion_network.parameters())
          + list(kp_detector.parameters()), "initial_lr": lr}], lr=lr, betas=(0.5, 0.999), weight_decay=1e-4)
    optimizer_bg_predictor = None
    if bg_predictor:
        optimizer_bg_predictor = torch.optim.Adam([{"params": bg_predictor.parameters(), "initial_lr": lr}],
                                                  lr=lr, betas=(0.5, 0.999), weight_decay=1e-4)
    generator_full = _with_pixel_loss(torch, GeneratorFullModel(kp_detector, bg_predictor, dense_motion_network,
                                                                inpainting_network, train_cfg), train_cfg)
    bg_start = train_cfg["bg_start"]

    def step():
        losses_generator, generated = generator_full(x, epoch)
        loss = sum(val.mean() for val in losses_generator.values())
        loss.backward()
        clip_grad_norm_(kp_detector.parameters(), max_norm=10, norm_type=math.inf)
        clip_grad_norm_(dense_motion_network.parameters(), max_norm=10, norm_type=math.inf)
        if bg_predictor and epoch >= bg_start:
            clip_grad_norm_(bg_predictor.parameters(), max_norm=10, norm_type=math.inf)
        optimizer.step()
        optimizer.zero_grad()
        if bg_predictor and epoch >= bg_start:
            optimizer_bg_predictor.step()
            optimizer_bg_predictor.zero_grad()
        return {key: value.mean().detach().data.cpu().numpy() for key, value in losses_generator.items()}
    return step, _optimizer_weights([optimizer] + ([optimizer_bg_predictor] if bg_predictor else []))


def time_original(directory, family, params, widths, train_cfg, frames, epoch, iters, threads):
    """(seconds per training iteration of the original in `directory` on `frames` ({'source', 'driving'}: numpy
    arrays), the number of weights in its optimizers, PyTorch's version); `params` and `widths` are
    :func:`original_model_params`'s, `train_cfg` the config's train section (the original's train_params)."""
    if threads > 1:  # as cpu_threads does for Paddle; read when PyTorch loads its OpenMP runtime
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch  # only this option needs PyTorch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    resnet_width = dict(widths, next=64)
    sys.modules["torchvision"] = torchvision = _torchvision_stand_in(resnet_width)
    sys.modules["torchvision.models"] = torchvision.models
    if family == FOMM and not os.path.isdir(os.path.join(directory, "sync_batchnorm")):
        import types
        sys.modules["sync_batchnorm"] = types.SimpleNamespace(SynchronizedBatchNorm2d=torch.nn.BatchNorm2d)
    sys.path.insert(0, os.path.abspath(directory))
    x = {name: torch.from_numpy(array) for name, array in frames.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. FOMM's grid_sample without align_corners
        if family == FOMM:
            step, weights = _fomm_original_step(torch, params, train_cfg, x)
        else:
            step, weights = _tpsmm_original_step(torch, params, train_cfg, x, epoch, resnet_width)
        return time_iterations(step, iters), weights, torch.__version__


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--config-file", default="configs/firstorder_synthetic_64.yaml", help="the config")
    parser.add_argument("-o", "--opt", nargs="+", default=[], help="config overrides key=value")
    parser.add_argument("--batch-size", type=int, default=None, help="default: train.batch_size of the config")
    parser.add_argument("--iters", type=int, default=5, help="timed iterations (after %d warm-up ones)" % WARMUP)
    parser.add_argument("--epoch", type=int, default=0, help="the epoch of the steps (default: 0)")
    parser.add_argument("--stage", default="train", help="the training stage (default: train)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of both frameworks (default: 1)")
    parser.add_argument("--torch-original", metavar="DIR", default=None,
                        help="also time the original PyTorch code of this checkout (FOMM's or TPSMM's)")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.iters < 1:
        raise BenchmarkError("--threads and --iters must be at least 1")

    import paddle

    from ppgan.apps.predictor import cpu_threads
    from ppgan.models import build_model
    from ppgan.models.builder import DEFAULT_MODEL
    from ppgan.models.criterions import Vgg19
    from ppgan.solver import build_solver
    from ppgan.utils.config import load_config

    cfg = load_config(args.config_file, args.opt)
    family = cfg["model"].get("name", DEFAULT_MODEL)
    if args.torch_original is not None:
        check_original(args.torch_original, family, args.stage)
        original_params, resnet_widths = original_model_params(cfg["model"], family)  # before timing: may refuse
    paddle.seed(0)
    model = build_model(cfg, stage=args.stage, vgg=Vgg19())
    batch = args.batch_size or cfg[model.train_section]["batch_size"]
    h, w, c = cfg["dataset"]["frame_shape"]
    rng = np.random.default_rng(0)
    frames = {name: rng.random((batch, c, h, w), dtype=np.float32) for name in ("source", "driving")}
    model.train()
    optimizers, _ = build_solver(model.optimizer_specs(), model.nets, cfg[model.train_section], model.train_section)
    data = {name: paddle.to_tensor(array) for name, array in frames.items()}
    with cpu_threads(args.threads):
        ours = time_iterations(lambda: model.train_iter(data, optimizers, epoch=args.epoch), args.iters)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    weights = sum(int(p.numel()) for optimizer in optimizers.values() for p in optimizer._parameter_list)
    mkl = os.environ.get("MKL_DEBUG_CPU_TYPE")
    print("config %s | %dx%d, batch %d | %s, %d thread%s, MKL_DEBUG_CPU_TYPE: %s" % (
        os.path.basename(args.config_file), h, w, batch, paddle.device.get_device(), args.threads,
        "s" if args.threads > 1 else "", "unset" if mkl is None else "empty" if mkl == "" else mkl))
    print("ours (Paddle %s): %.3f s/iteration, %.1f frames/s | %d weights in the optimizers | peak RSS %.0f MB" % (
        paddle.__version__, ours, batch / ours, weights, peak_mb))
    if args.torch_original is None:
        return 0
    theirs, weights, torch_version = time_original(args.torch_original, family, original_params, resnet_widths,
                                                   cfg["train"], frames, args.epoch, args.iters, args.threads)
    print("original (PyTorch %s, %s): %.3f s/iteration, %.1f frames/s | %d weights in the optimizers" % (
        torch_version, ORIGINAL_REPOSITORIES[family], theirs, batch / theirs, weights))
    ratio = ours / theirs
    print("ours / original: %.2f (ours %.2fx %s)" % (ratio, max(ratio, 1 / ratio),
                                                     "slower" if ratio >= 1 else "faster"))
    return 0


if __name__ == "__main__":
    run(main)
