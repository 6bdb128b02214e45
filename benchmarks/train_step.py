#!/usr/bin/env python
"""Print the time of one training iteration (forward, backward, optimizer steps) and the peak memory.

    python benchmarks/train_step.py -c configs/firstorder_synthetic_64.yaml [--batch-size 4] [--iters 5]
    python benchmarks/train_step.py -c configs/tpsmm_synthetic_64.yaml [--epoch 40] [--stage avd]

Random frames of the config's `dataset.frame_shape`; no data is read. VGG19 is random when the
perceptual loss is on (its speed does not depend on the weights). `--epoch` is the epoch the step is taken at
(the thin-plate spline model's background predictor and TPS dropout depend on it).
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
    parser.add_argument("--epoch", type=int, default=0, help="the epoch of the steps (default: 0)")
    parser.add_argument("--stage", default="train", help="the training stage (default: train)")
    args = parser.parse_args()

    import paddle

    from ppgan.models import build_model
    from ppgan.models.criterions import Vgg19
    from ppgan.solver import build_solver
    from ppgan.utils.config import load_config

    cfg = load_config(args.config_file, args.opt)
    model = build_model(cfg, stage=args.stage, vgg=Vgg19())
    batch = args.batch_size or cfg[model.train_section]["batch_size"]
    h, w, c = cfg["dataset"]["frame_shape"]
    model.train()
    optimizers, _ = build_solver(model.optimizer_specs(), model.nets, cfg[model.train_section], model.train_section)
    data = {"source": paddle.rand([batch, c, h, w]), "driving": paddle.rand([batch, c, h, w])}
    for _ in range(2):
        model.train_iter(data, optimizers, epoch=args.epoch)
    start = time.perf_counter()
    for _ in range(args.iters):
        model.train_iter(data, optimizers, epoch=args.epoch)
    per_iter = (time.perf_counter() - start) / args.iters
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("config %s | %dx%d, batch %d | %s | %.3f s/iteration, %.1f frames/s | peak RSS %.0f MB" % (
        os.path.basename(args.config_file), h, w, batch, paddle.device.get_device(), per_iter, batch / per_iter,
        peak_mb))


if __name__ == "__main__":
    main()
