#!/usr/bin/env python
"""Does PaddleGAN's border correction help at the borders? Reconstruction L1 by distance from the frame's edge.

    python benchmarks/border_correction.py --data data/synthetic400          # the shipped FOMM, bands 0 2 3 5
    python benchmarks/border_correction.py -c CONFIG --weights W.pdparams --data DIR --bands 0 5 --rings 4 8 16

Each held-out video of DIR/test is reconstructed from its frame 0 (its own frames drive, keypoints as detected:
the paper's reconstruction, `ppgan.engine.evaluator.reconstruction_chunks`) once per value of the generator's
`border_correction` (0: off; PaddleGAN's inference=True is 5), with the same weights. A pixel's ring is its
distance to the nearest edge (--rings 4 8 16: [0, 4), [4, 8), [8, 16) and 16 or more, "interior"); the table
gives the mean |prediction - real| per ring (pixels in [0, 1], over every frame and channel), of the full model
and of frame 0 warped by its motion alone ("warp": no occlusion, no decoder), next to copying frame 0 ("copy").
The band is in pixels of the feature map the generator warps (the frame's size / 2^num_down_blocks).
"""
import argparse
import json
import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

DEFAULT_MODEL = os.path.join(REPO, "ppgan", "apps", "default_model")


def ring_index(height, width, rings):
    """(H, W) int: which ring of `rings` (ascending distances) each pixel's distance to the nearest edge is in;
    len(rings) is the interior."""
    y, x = np.mgrid[:height, :width]
    distance = np.minimum(np.minimum(y, height - 1 - y), np.minimum(x, width - 1 - x))
    return np.searchsorted(np.asarray(rings), distance, side="right")


class RingL1:
    """Running mean |a - b| per ring of `ring_index`."""

    def __init__(self, index):
        self.index = index.ravel()
        self.rings = int(self.index.max()) + 1
        self.sums = np.zeros(self.rings)
        self.counts = np.zeros(self.rings)

    def add(self, a, b):
        """a, b: (N, C, H, W) arrays."""
        error = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).sum(axis=1)  # (N, H, W)
        per_pixel = error.reshape(error.shape[0], -1).sum(axis=0)
        self.sums += np.bincount(self.index, weights=per_pixel, minlength=self.rings)
        self.counts += np.bincount(self.index, minlength=self.rings) * error.shape[0] * a.shape[1]

    def value(self):
        return (self.sums / np.maximum(self.counts, 1)).tolist()


def measure(config, weights, data, bands, rings, num_videos=None, batch_size=8, fill_occlusion=True):
    """{'copy': [...], band: {'model': [...], 'warp': [...]}}: the mean L1 per ring, then the whole frame.
    fill_occlusion False: the correction blends the deformation only (the occlusion map is left alone)."""
    import copy

    import paddle

    from ppgan.datasets import build_dataset
    from ppgan.engine.evaluator import reconstruction_chunks
    from ppgan.models import build_nets
    from ppgan.utils.checkpoint import load_weights, read_weights
    from ppgan.utils.config import load_config

    cfg = load_config(config)
    dataset_cfg = dict(cfg["dataset"], root_dir=data)
    test = build_dataset(dataset_cfg, "test")
    count = len(test) if num_videos is None else min(num_videos, len(test))
    h, w = dataset_cfg["frame_shape"][:2]
    index = ring_index(h, w, rings)
    state = read_weights(weights)
    results = {}
    copy_l1 = RingL1(index)
    for band in bands:
        model_cfg = copy.deepcopy(cfg["model"])
        model_cfg["generator"]["border_correction"] = band
        nets = build_nets(model_cfg, ["kp_detector", "generator"])
        load_weights(nets, state, "the weights in '%s'" % weights)
        nets["generator"].fills_occlusion_border = fill_occlusion
        for net in nets.values():
            net.eval()
        model_l1, warp_l1 = RingL1(index), RingL1(index)
        with paddle.no_grad():
            for i in range(count):
                for source, driving, out in reconstruction_chunks(nets["kp_detector"], nets["generator"],
                                                                  test.iter_frames(i), batch_size):
                    real = driving.numpy()
                    model_l1.add(out["prediction"].numpy(), real)
                    warp_l1.add(out["deformed"].numpy(), real)
                    if band == bands[0]:
                        copy_l1.add(np.broadcast_to(source.numpy(), real.shape), real)
        results[band] = {"model": model_l1.value() + [_whole(model_l1)], "warp": warp_l1.value() + [_whole(warp_l1)]}
    results["copy"] = copy_l1.value() + [_whole(copy_l1)]
    results["videos"] = count
    return results


def _whole(ring_l1):
    return float(ring_l1.sums.sum() / ring_l1.counts.sum())


def ring_names(rings):
    edges = [0] + list(rings)
    return ["%d-%d px" % (a, b) for a, b in zip(edges, edges[1:])] + [">= %d px" % rings[-1], "frame"]


def show(results, bands, rings):
    names = ring_names(rings)
    print("%-20s" % "" + "".join("%12s" % n for n in names))
    print("%-20s" % "copy frame 0" + "".join("%12.5f" % v for v in results["copy"]))
    for kind in ("model", "warp"):
        for band in bands:
            print("%-20s" % ("%s, band %d" % (kind, band)) + "".join("%12.5f" % v for v in results[band][kind]))
    base = results[bands[0]]["model"]
    for band in bands[1:]:
        print("%-20s" % ("model %d / %d" % (band, bands[0]))
              + "".join("%12.3f" % (v / b) for v, b in zip(results[band]["model"], base)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--config", default=os.path.join(DEFAULT_MODEL, "config.yaml"))
    parser.add_argument("--weights", default=os.path.join(DEFAULT_MODEL, "weights.pdparams"))
    parser.add_argument("--data", required=True, help="a dataset folder with test/ (tools/make_synthetic_dataset.py)")
    parser.add_argument("--bands", type=int, nargs="+", default=[0, 2, 3, 5],
                        help="values of model.generator.border_correction; the first is the reference")
    parser.add_argument("--rings", type=int, nargs="+", default=[4, 8, 16],
                        help="ascending distances from the edge (pixels) that bound the rings")
    parser.add_argument("--num-videos", type=int, default=None, help="the first N test videos (default: all)")
    parser.add_argument("--blend-only", action="store_true",
                        help="correct the deformation only: leave the occlusion map's band alone (the two halves "
                             "of the correction apart)")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    from ppgan.utils.cli import quiet_warnings

    quiet_warnings()
    results = measure(args.config, args.weights, args.data, args.bands, sorted(args.rings), args.num_videos,
                      fill_occlusion=not args.blend_only)
    print("%d held-out videos of %s, mean |prediction - real| by distance from the edge" % (results["videos"],
                                                                                          args.data))
    show(results, args.bands, sorted(args.rings))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({str(k): v for k, v in results.items()}, f, indent=1)


if __name__ == "__main__":
    main()
