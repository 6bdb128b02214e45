#!/usr/bin/env python
"""Print the time of one training iteration (forward, backward, optimizer steps) and the peak memory.

    python benchmarks/train_step.py -c configs/firstorder_synthetic_64.yaml [--batch-size 4] [--iters 5]

Random frames of the config's `dataset.frame_shape`; no data is read. VGG19 is random when the
perceptual loss is on (its speed does not depend on the weights).
"""
import argparse
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppgan.utils.cli import quiet_warnings  # noqa: E402

quiet_warnings()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--config-file", default="configs/firstorder_synthetic_64.yaml", help="the config")
    parser.add_argument("-o", "--opt", nargs="+", default=[], help="config overrides key=value")
    parser.add_argument("--batch-size", type=int, default=None, help="default: train.batch_size of the config")
    parser.add_argument("--iters", type=int, default=5, help="timed iterations (after 2 warm-up ones)")
    args = parser.parse_args()

    import paddle

    from ppgan.models import build_model
    from ppgan.models.criterions import Vgg19
    from ppgan.solver import build_optimizers, build_schedulers
    from ppgan.utils.config import load_config

    cfg = load_config(args.config_file, args.opt)
    batch = args.batch_size or cfg["train"]["batch_size"]
    h, w, c = cfg["dataset"]["frame_shape"]
    model = build_model(cfg, vgg=Vgg19())
    model.train()
    names = ["kp_detector", "generator"] + (["discriminator"] if model.trains_discriminator else [])
    optimizers = build_optimizers(model.nets, build_schedulers(cfg["train"], names))
    data = {"source": paddle.rand([batch, c, h, w]), "driving": paddle.rand([batch, c, h, w])}
    for _ in range(2):
        model.train_iter(data, optimizers)
    start = time.perf_counter()
    for _ in range(args.iters):
        model.train_iter(data, optimizers)
    per_iter = (time.perf_counter() - start) / args.iters
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("config %s | %dx%d, batch %d | %s | %.3f s/iteration, %.1f frames/s | peak RSS %.0f MB" % (
        os.path.basename(args.config_file), h, w, batch, paddle.device.get_device(), per_iter, batch / per_iter,
        peak_mb))


if __name__ == "__main__":
    main()
