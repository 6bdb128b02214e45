#!/usr/bin/env python
"""Time per frame of a body pose estimator (ppgan.detectors), on CPU.

    python benchmarks/pose_estimator.py [--estimator blazepose] [--sizes 256 512] [--frames 50] [--threads 1]

Each size is timed on scikit-image's astronaut scaled to size x size (a person is found, so both of BlazePose's
networks run) and on a blank frame of that size (no person: the detector only). The first frame of each
(which loads the models) is left out; prints min / median / max milliseconds per frame, asserts nothing.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppgan.utils.cli import quiet_warnings, run  # noqa: E402

quiet_warnings()


def person_frame(size):
    """scikit-image's astronaut (upper body) as a size x size uint8 RGB frame."""
    import cv2
    import skimage.data
    image = skimage.data.astronaut()
    interpolation = cv2.INTER_AREA if size < image.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interpolation)


def time_frames(estimate, frame, count):
    """Milliseconds of each of `count` calls of estimate(frame), after one untimed call."""
    estimate(frame)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        estimate(frame)
        times.append((time.perf_counter() - start) * 1000.0)
    return np.array(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--estimator", default="blazepose", help="registered pose estimator name")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="square frame sides, pixels")
    parser.add_argument("--frames", type=int, default=50, help="timed frames per size and content")
    parser.add_argument("--threads", type=int, default=1, help="the estimator's threads argument")
    args = parser.parse_args(argv)

    from ppgan.detectors import build_pose_estimator
    estimator = build_pose_estimator({"name": args.estimator, "threads": args.threads})
    print("%s, %d thread(s), %d frames each: ms/frame min / median / max" % (args.estimator, args.threads,
                                                                             args.frames))
    for size in args.sizes:
        for content, frame in (("person", person_frame(size)), ("blank", np.zeros((size, size, 3), np.uint8))):
            found = int((estimator.estimate(frame)[:, 0] >= 0).sum())
            ms = time_frames(estimator.estimate, frame, args.frames)
            print("%4dx%-4d %-6s %6.1f / %6.1f / %6.1f   (%d of 18 keypoints found)"
                  % (size, size, content, ms.min(), np.median(ms), ms.max(), found))


if __name__ == "__main__":
    run(main)
