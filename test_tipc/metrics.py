"""Metrics of the TIPC chain: reconstruction L1 of exported-model outputs, and checks against recorded values.

    python test_tipc/metrics.py l1 PRED_ROOT TRUTH_ROOT     # mean |pred - truth| over every frame of every video
    python test_tipc/metrics.py check NAME VALUE EXPECTED (--rel TOL | --abs TOL)
"""
import argparse
import os
import sys

import numpy as np
from PIL import Image


def _frames(folder):
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(".png"))
    return [np.asarray(Image.open(os.path.join(folder, n)).convert("RGB"), dtype=np.float64) / 255.0 for n in names]


def l1(pred_root, truth_root):
    """Mean absolute difference over all frames of the videos (folders of PNG frames) in truth_root."""
    total, count = 0.0, 0
    for name in sorted(os.listdir(truth_root)):
        truth = _frames(os.path.join(truth_root, name))
        pred = _frames(os.path.join(pred_root, name))
        if len(pred) != len(truth):
            raise SystemExit("error: %s has %d frames, expected %d" % (name, len(pred), len(truth)))
        for p, t in zip(pred, truth):
            total += np.abs(p - t).sum()
            count += p.size
    if not count:
        raise SystemExit("error: no frames under %s" % truth_root)
    return total / count


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("l1", help="print the reconstruction L1 of PRED_ROOT against TRUTH_ROOT")
    p.add_argument("pred_root")
    p.add_argument("truth_root")
    c = sub.add_parser("check", help="exit 1 unless VALUE is within the tolerance of EXPECTED")
    c.add_argument("name")
    c.add_argument("value", type=float)
    c.add_argument("expected", type=float)
    tol = c.add_mutually_exclusive_group(required=True)
    tol.add_argument("--rel", type=float, help="relative tolerance")
    tol.add_argument("--abs", type=float, help="absolute tolerance")
    args = parser.parse_args()
    if args.command == "l1":
        print("%.6f" % l1(args.pred_root, args.truth_root))
        return
    bound = args.abs if args.abs is not None else args.rel * abs(args.expected)
    off = abs(args.value - args.expected)
    verdict = "ok" if off <= bound else "WRONG"
    print("%s: %.6f, expected %.6f +- %.6f: %s" % (args.name, args.value, args.expected, bound, verdict))
    sys.exit(0 if off <= bound else 1)


if __name__ == "__main__":
    main()
