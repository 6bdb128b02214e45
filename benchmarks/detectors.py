#!/usr/bin/env python
"""Time per frame of the detectors (ppgan.detectors) on CPU: face detectors with their landmarks, the face
identity embedder and the body pose estimator.

    python benchmarks/detectors.py [--sizes 256 512] [--frames 20] [--only face_detector:dlib ...]

Each detector runs on scikit-image's astronaut scaled to size x size (a face and an upper body are found) and on
a blank frame of that size (nothing is found: the cost of looking). The first call of each (which loads the
models) is left out; prints min / median / max milliseconds per frame and what was found; asserts nothing.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppgan.utils.cli import quiet_warnings, run  # noqa: E402

quiet_warnings()

# (kind, config) of each timed detector: the registered defaults and the other dlib methods
DETECTORS = [
    ("face_detector", {"name": "haar"}),
    ("face_detector", {"name": "dlib", "method": "hog"}),
    ("face_detector", {"name": "dlib", "method": "hog_then_cnn"}),
    ("face_detector", {"name": "dlib", "method": "cnn"}),
    ("face_embedder", {"name": "dlib"}),
    ("pose_estimator", {"name": "blazepose"}),
]


def person_frame(size):
    """scikit-image's astronaut (face and upper body) as a size x size uint8 RGB frame."""
    import cv2
    import skimage.data
    image = skimage.data.astronaut()
    interpolation = cv2.INTER_AREA if size < image.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interpolation)


def time_frames(call, frame, count):
    """Milliseconds of each of `count` calls of call(frame), after one untimed call."""
    call(frame)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        call(frame)
        times.append((time.perf_counter() - start) * 1000.0)
    return np.array(times)


def build(kind, cfg):
    """(label, frame -> result, result -> what was found) of one detector."""
    from ppgan import detectors
    label = "%s %s" % (kind, " ".join("%s=%s" % kv for kv in cfg.items()))
    if kind == "face_detector":
        detector = detectors.build_face_detector(cfg)
        return label, detector.detect, lambda faces: "%d face(s)" % len(faces)
    if kind == "face_embedder":
        embedder = detectors.build_face_embedder(cfg)
        return label, embedder.embed, lambda v: "no face" if v is None else "a %d-d descriptor" % len(v)
    estimator = detectors.build_pose_estimator(cfg)
    return label, estimator.estimate, lambda kp: "%d of 18 keypoints" % int((kp[:, 0] >= 0).sum())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="square frame sides, pixels")
    parser.add_argument("--frames", type=int, default=20, help="timed frames per detector, size and content")
    parser.add_argument("--only", nargs="+", default=None, metavar="KIND:NAME",
                        help="time only these, e.g. face_detector:dlib pose_estimator:blazepose")
    args = parser.parse_args(argv)
    chosen = [(k, c) for k, c in DETECTORS
              if args.only is None or "%s:%s" % (k, c["name"]) in args.only]
    print("%d frames each, ms/frame min / median / max (1 process; dlib and ONNX Runtime on one thread)" % args.frames)
    for kind, cfg in chosen:
        label, call, found = build(kind, cfg)
        for size in args.sizes:
            for content, frame in (("person", person_frame(size)), ("blank", np.zeros((size, size, 3), np.uint8))):
                ms = time_frames(call, frame, args.frames)
                print("%-52s %4dx%-4d %-6s %7.1f / %7.1f / %7.1f   %s"
                      % (label, size, size, content, ms.min(), np.median(ms), ms.max(), found(call(frame))))


if __name__ == "__main__":
    run(main)
