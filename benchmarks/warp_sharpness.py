#!/usr/bin/env python
"""How sharp can a warping model be on the synthetic videos? Frame 0 warped by the true motion.

    python benchmarks/warp_sharpness.py [--num-videos 12] [--seed 4321] [--flow-sizes 16 32 64]

The synthetic generator (ppgan.datasets.synthetic) knows each frame's pose: the face moves by a similarity
(translation, in-plane rotation, scale) and the background stays still. So the best backward flow a motion
model can predict is known: inside the driving frame's face, the similarity that takes it back to frame 0's
face; outside, the identity. Both motion models predict their flow at a lower resolution than the frame
(TPSMM's `dense_motion_network.scale_factor`, FOMM's `dense_motion_params.scale_factor`), upsample it
bilinearly (align_corners) and sample frame 0 bilinearly. This script does the same with the true flow, at each
of `--flow-sizes` (the face's coverage is averaged into each flow cell, so cells on its outline blend the two
motions as a predicted flow does), and prints the sharpness ratio of the warped frames (mean Laplacian variance
of the warped frames / of the real frames, ppgan.metrics.sharpness, as tools/main.py --evaluate-only and the
shipped-model tests compute it), the same ratio of the Laplacian's energy inside the driving frame's face only
(where almost all of it is: the backgrounds are smooth or coarse), and their L1 to the real frames. Eyes and
mouth move inside the face, which no single similarity follows: that part of the error stays. Where the face
uncovers background, the true flow (the identity there) fetches frame 0's face pixels: sharp but wrong, which
lifts the whole-frame ratio; the face-only ratio has no such part.

It bounds what bilinear warping keeps of this data's high frequencies: a model whose flow is predicted at
16x16 cannot be sharper than the 16 px figure, however well it is trained, unless its decoder adds detail.
"""
import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppgan.utils.cli import quiet_warnings  # noqa: E402

quiet_warnings()

INTERPOLATIONS = ("bilinear", "bicubic")


def face_pose(motion, index, size):
    """(2x2 matrix, centre) mapping face-local to frame pixel coordinates of frame `index` (pixel i's centre at
    i), as ppgan.datasets.synthetic draws it (on a canvas SUPERSAMPLE times larger, then area-reduced)."""
    from ppgan.datasets.synthetic import SUPERSAMPLE
    a = math.radians(motion["angle"][index])
    rot = motion["scale"][index] * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    big = size * SUPERSAMPLE
    centre = np.array([(0.5 + motion["dx"][index]) * big, (0.52 + motion["dy"][index]) * big])
    # canvas pixel j (centre j) lies in frame pixel j // SUPERSAMPLE, whose centre is canvas (SUPERSAMPLE - 1) / 2
    return rot / SUPERSAMPLE, (centre - (SUPERSAMPLE - 1) / 2) / SUPERSAMPLE


def face_coverage(identity, motion, index, size):
    """Float (size, size) in [0, 1]: how much of each pixel the face covers in frame `index` (the frame drawn
    on black minus the frame drawn on white tells)."""
    from ppgan.datasets.synthetic import SUPERSAMPLE, render_face
    big = size * SUPERSAMPLE
    on_black = render_face(identity, motion, index, size, np.zeros((big, big, 3), np.float32)).astype(np.float64)
    on_white = render_face(identity, motion, index, size, np.full((big, big, 3), 255, np.float32)).astype(np.float64)
    return 1 - (on_white - on_black).mean(axis=2) / 255


def true_flow(identity, motion, index, size, flow_size):
    """(size, size, 2) pixel coordinates in frame 0 to sample for frame `index`: the true motion at
    `flow_size` x `flow_size` (face coverage averaged per cell), upsampled bilinearly with aligned corners."""
    import cv2
    rot_d, c_d = face_pose(motion, index, size)
    rot_0, c_0 = face_pose(motion, 0, size)
    back = rot_0 @ np.linalg.inv(rot_d)            # driving face -> frame 0 face
    grid = np.linspace(0, size - 1, flow_size)     # align_corners: the cells' sample points
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    points = np.stack([xx, yy], axis=-1)
    moved = (points - c_d) @ back.T + c_0
    coverage = face_coverage(identity, motion, index, size)
    if flow_size != size:
        coverage = cv2.resize(coverage, (flow_size, flow_size), interpolation=cv2.INTER_AREA)
    flow = coverage[..., None] * moved + (1 - coverage[..., None]) * points
    return resize_aligned(flow, size)


def resize_aligned(field, size):
    """Bilinear resize of an (n, n, C) field to (size, size, C) with aligned corners (F.interpolate's
    align_corners=True)."""
    n = field.shape[0]
    if n == size:
        return field
    pos = np.linspace(0, n - 1, size)
    lo = np.clip(np.floor(pos).astype(int), 0, n - 2)
    t = pos - lo
    rows = field[lo] * (1 - t)[:, None, None] + field[lo + 1] * t[:, None, None]
    return rows[:, lo] * (1 - t)[None, :, None] + rows[:, lo + 1] * t[None, :, None]


def warp(frame, flow, interpolation):
    """Sample the uint8 frame at the flow's pixel coordinates (zeros outside, as grid_sample pads)."""
    import cv2
    flag = cv2.INTER_LINEAR if interpolation == "bilinear" else cv2.INTER_CUBIC
    return cv2.remap(frame, flow[..., 0].astype(np.float32), flow[..., 1].astype(np.float32), flag,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def measure(num_videos, seed, size, num_frames, flow_sizes, interpolations):
    """{(flow_size, interpolation): (sharpness ratio, L1)} over the test videos of `seed`, plus
    ('copy', None) for frame 0 copied."""
    from ppgan.datasets.synthetic import make_video, plan, random_identity, random_motion, _rng
    from ppgan.metrics.sharpness import laplacian, laplacian_variance
    sums = {}

    def add(key, frame, real, face):
        s = sums.setdefault(key, [0.0, 0.0, 0, 0.0])
        s[0] += laplacian_variance(frame)
        s[1] += np.abs(frame.astype(np.float64) - real).mean() / 255
        s[2] += 1
        s[3] += (laplacian(frame)[face] ** 2).sum()

    real_sharpness, count, real_face = 0.0, 0, 0.0
    for part, ident, chunk in plan(1, num_videos, 2):
        if part != "test":
            continue
        identity = random_identity(_rng(seed, ident))
        motion = random_motion(_rng(seed, ident, chunk, 1), num_frames)
        video = make_video(seed, ident, chunk, num_frames, size)
        for index in range(num_frames):
            face = face_coverage(identity, motion, index, size) > 0.5
            real_sharpness += laplacian_variance(video[index])
            real_face += (laplacian(video[index])[face] ** 2).sum()
            count += 1
            add(("copy", None), video[0], video[index], face)
            for flow_size in flow_sizes:
                flow = true_flow(identity, motion, index, size, flow_size)
                for interpolation in interpolations:
                    add((flow_size, interpolation), warp(video[0], flow, interpolation), video[index], face)
    real_sharpness /= count
    return {key: (s[0] / s[2] / real_sharpness, s[1] / s[2], s[3] / real_face) for key, s in sums.items()}



def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-videos", type=int, default=12,
                        help="held-out videos generated (default: 12, as tests/apps/test_shipped_models.py)")
    parser.add_argument("--seed", type=int, default=4321,
                        help="generator seed (default: 4321, the shipped-model tests' held-out set; training "
                             "used 0)")
    parser.add_argument("--size", type=int, default=64, help="frame side in pixels (default: 64)")
    parser.add_argument("--num-frames", type=int, default=32, help="frames per video (default: 32)")
    parser.add_argument("--flow-sizes", type=int, nargs="+", default=[16, 32, 64],
                        help="flow resolutions to try (default: 16 32 64; the shipped TPSMM predicts 16)")
    parser.add_argument("--interpolation", choices=INTERPOLATIONS + ("both",), default="both",
                        help="how frame 0 is sampled: bilinear (what both models do), bicubic, or both "
                             "(default)")
    args = parser.parse_args(argv)
    interpolations = INTERPOLATIONS if args.interpolation == "both" else (args.interpolation,)
    results = measure(args.num_videos, args.seed, args.size, args.num_frames, args.flow_sizes, interpolations)
    print("%d held-out videos (seed %d), %dx%d, %d frames each" % (args.num_videos, args.seed, args.size,
                                                                 args.size, args.num_frames))
    print("%-30s %10s %12s %8s" % ("frame 0 ...", "sharpness", "face energy", "L1"))
    rows = [("copied", ("copy", None))] + [("warped, %dx%d flow, %s" % (f, f, i), (f, i))
                                           for f in args.flow_sizes for i in interpolations]
    for label, key in rows:
        sharpness, l1, face = results[key]
        print("%-30s %10.3f %12.3f %8.4f" % (label, sharpness, face, l1))
    return 0


if __name__ == "__main__":
    from ppgan.utils.cli import run
    run(main)
