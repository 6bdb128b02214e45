#!/usr/bin/env python
"""Print max |diff| against the PyTorch originals for every fixture in ../shared/parity (or --parity DIR)
and ../shared/parity-tpsmm (or --tpsmm DIR).

FOMM, for each model and align_corners setting: the worst eval/* array (our nets chained from the
images, weights through the converter) and the worst animate/* prediction over the three modes.
TPSMM: the worst eval/* array chained from the images, and each animation mode's prediction.
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppgan.apps import FirstOrderPredictor, TPSMMPredictor  # noqa: E402  (first: it quiets Paddle's import warning)
from ppgan.convert import convert  # noqa: E402
from ppgan.models import build_nets  # noqa: E402
from ppgan.modules.antialias import ImagePyramide  # noqa: E402
from ppgan.utils.checkpoint import load_weights, read_weights  # noqa: E402
from ppgan.utils.config import load_config  # noqa: E402

import numpy as np  # noqa: E402
import paddle  # noqa: E402

MODES = {"relative_adapt": (True, True), "relative": (True, False), "absolute": (False, False)}


def flatten(prefix, outputs, into):
    for key, value in outputs.items():
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            into["%s/%s%s" % (prefix, key, "/%d" % i if isinstance(value, list) else "")] = item.numpy()


def eval_outputs(cfg, nets, io):
    src, drv = paddle.to_tensor(io["source"]), paddle.to_tensor(io["driving"])
    out = {}
    with paddle.no_grad():
        kp_s, kp_d = nets["kp_detector"](src), nets["kp_detector"](drv)
        flatten("eval/kp_source", kp_s, out)
        flatten("eval/kp_driving", kp_d, out)
        flatten("eval/dense_motion", nets["generator"].dense_motion_network(src, kp_d, kp_s), out)
        flatten("eval/generator", nets["generator"](src, kp_d, kp_s), out)
        flatten("eval/discriminator", nets["discriminator"](ImagePyramide(cfg["train"]["scales"], 3)(drv), kp_d), out)
    return out


def tpsmm_eval_outputs(nets, io):
    src, drv = paddle.to_tensor(io["source"]), paddle.to_tensor(io["driving"])
    out = {}
    with paddle.no_grad():
        kp_s, kp_d = nets["kp_detector"](src), nets["kp_detector"](drv)
        bg_param = nets["bg_predictor"](src, drv)
        flatten("eval/kp_source", kp_s, out)
        flatten("eval/kp_driving", kp_d, out)
        out["eval/bg_param"] = bg_param.numpy()
        flatten("eval/avd", nets["avd_network"](kp_s, kp_d), out)
        for prefix, bg in (("eval/dense_motion", None), ("eval/dense_motion_bg", bg_param)):
            motion = nets["dense_motion_network"](src, kp_d, kp_s, bg_param=bg)
            flatten(prefix, motion, out)
            flatten(prefix + "/inpainting", nets["inpainting_network"](src, motion), out)
    return out


def tpsmm_report(root, tmp):
    print("| TPSMM model | worst eval/* (array) | animate standard | relative | avd |")
    print("|---|---|---|---|---|")
    for model in sorted(os.listdir(root)):
        folder = os.path.join(root, model)
        if not os.path.isfile(os.path.join(folder, "io.npz")):
            continue
        weights = os.path.join(tmp, model + ".pdparams")
        config = os.path.join(folder, "config.yaml")
        convert(os.path.join(folder, "checkpoint.pth.tar"), weights, config=config)
        io = np.load(os.path.join(folder, "io.npz"))
        nets = build_nets(load_config(config)["model"])
        load_weights(nets, read_weights(weights))
        for net in nets.values():
            net.eval()
        ours = tpsmm_eval_outputs(nets, io)
        diffs = {k: float(np.abs(ours[k] - io[k]).max()) for k in io.files if k.startswith("eval/")}
        worst = max(diffs, key=diffs.get)
        anim = []
        for mode in ("standard", "relative", "avd"):
            frames = TPSMMPredictor(config, weights, mode=mode).animate(io["source"][0].transpose(1, 2, 0),
                                                                       io["video"].transpose(0, 2, 3, 1))
            anim.append(float(np.abs(frames.transpose(0, 3, 1, 2) - io["animate/%s/prediction" % mode]).max()))
        print("| %s | %.1e (%s) | %.1e | %.1e | %.1e |" % ((model, diffs[worst], worst[5:]) + tuple(anim)))


def main():
    shared = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parity", default=os.path.join(shared, "parity"), help="folder of FOMM parity fixtures")
    parser.add_argument("--tpsmm", default=os.path.join(shared, "parity-tpsmm"), help="folder of TPSMM parity fixtures")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    if os.path.isdir(args.tpsmm):
        tpsmm_report(args.tpsmm, tmp)
        print()
    print("| model | align_corners | worst eval/* (array) | worst animate/*/prediction |")
    print("|---|---|---|---|")
    for model in sorted(os.listdir(args.parity)):
        folder = os.path.join(args.parity, model)
        if not os.path.isdir(folder):
            continue
        weights = os.path.join(tmp, model + ".pdparams")
        convert(os.path.join(folder, "checkpoint.pth.tar"), weights, config=os.path.join(folder, "config.yaml"))
        for ac in ("false", "true"):
            npz = os.path.join(folder, "io-align_corners-%s.npz" % ac)
            if not os.path.exists(npz):
                continue
            io = np.load(npz)
            cfg = load_config(os.path.join(folder, "config.yaml"), ["model_params.common_params.align_corners=" + ac])
            nets = build_nets(cfg["model"])
            load_weights(nets, read_weights(weights))
            for net in nets.values():
                net.eval()
            ours = eval_outputs(cfg, nets, io)
            diffs = {k: float(np.abs(ours[k] - io[k]).max()) for k in io.files if k.startswith("eval/")}
            worst = max(diffs, key=diffs.get)
            anim = 0.0
            for mode, (rel, adapt) in MODES.items():
                p = FirstOrderPredictor(os.path.join(folder, "config.yaml"), weights, relative=rel, adapt_scale=adapt,
                                        align_corners=(ac == "true"))
                frames = p.animate(io["source"][0].transpose(1, 2, 0), io["video"].transpose(0, 2, 3, 1))
                anim = max(anim, float(np.abs(frames.transpose(0, 3, 1, 2) - io["animate/%s/prediction" % mode]).max()))
            print("| %s | %s | %.1e (%s) | %.1e |" % (model, ac, diffs[worst], worst[5:], anim))


if __name__ == "__main__":
    main()
