#!/usr/bin/env python
"""Time of the GPEN face enhancer (ppgan.detectors.GPENEnhancer) per face crop on CPU.

    python benchmarks/face_enhancer.py [--side 256] [--batch 1] [--repeat 3] [--weight_path GPEN-512.pdparams]

Enhances a batch of `--batch` random side x side crops `--repeat` times after one untimed call and prints the
seconds per batch (min / median) and per face, with the process's peak memory. Without --weight_path the network
has seeded random weights: the time does not depend on the values. --size / --style_dim / --n_mlp / --narrow
pick another architecture (the release's: 512, 512, 8, 1). Asserts nothing.
"""
import argparse
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppgan.utils.cli import quiet_warnings, run_program  # noqa: E402

quiet_warnings()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=256, help="side of the face crops, pixels")
    parser.add_argument("--batch", type=int, default=1, help="faces per enhance() call (and per network call)")
    parser.add_argument("--repeat", type=int, default=3, help="timed calls")
    parser.add_argument("--weight_path", default=None, help="a GPEN weights file (default: seeded random weights)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--style_dim", type=int, default=512)
    parser.add_argument("--n_mlp", type=int, default=8)
    parser.add_argument("--narrow", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: every core)")
    args = parser.parse_args(argv)

    import paddle
    from ppgan.detectors import build_face_enhancer
    cfg = dict(name="gpen", size=args.size, style_dim=args.style_dim, n_mlp=args.n_mlp, narrow=args.narrow,
               batch_size=args.batch, num_threads=args.threads)
    cfg.update(weight_path=args.weight_path) if args.weight_path else cfg.update(seed=0)
    enhancer = build_face_enhancer(cfg)
    faces = np.random.RandomState(0).rand(args.batch, args.side, args.side, 3).astype(np.float32)
    enhancer.enhance(faces)
    seconds = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        enhancer.enhance(faces)
        seconds.append(time.perf_counter() - start)
    seconds = np.array(seconds)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("GPEN-%d (%s weights), %d face(s) of %dx%d per call, %d calls: %.2f / %.2f s per call (min / median), "
          "%.2f s per face; peak memory %.0f MB; Paddle %s, %s thread(s), %d CPU(s)"
          % (args.size, "file" if args.weight_path else "random", args.batch, args.side, args.side, args.repeat,
             seconds.min(), np.median(seconds), seconds.min() / args.batch, peak_mb, paddle.__version__,
             args.threads or "all",
             len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()))


if __name__ == "__main__":
    run_program(main)
