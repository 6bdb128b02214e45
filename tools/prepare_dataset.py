#!/usr/bin/env python
"""Cut raw videos into square training clips that follow a face or a body (the FOMM authors' video preprocessing,
offline with the project's detectors); see --help."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv=None):
    from ppgan.datasets.preparation import (DEFAULT_CUT_THRESHOLD, DEFAULT_INCREASE, DEFAULT_MIN_FRAMES, FORMATS,
                                            KINDS, Options)
    from ppgan.utils.cli import add_face_detector_arguments
    defaults = Options()
    parser = argparse.ArgumentParser(
        description="Find the subject (the largest face, or a body's keypoints) in every frame of raw videos, "
                    "follow it, cut at scene changes and when it is lost, and write one square clip per stretch "
                    "where it was followed: OUT/train/ and OUT/test/ (split by source video) with clips named "
                    "<video stem>#<clip index>, and OUT/metadata.csv. tools/main.py trains on OUT as it is.")
    parser.add_argument("--input", required=True,
                        help="a folder of raw videos (video files, .gif, folders of frames) or one video")
    parser.add_argument("--out", required=True, help="the dataset folder to write")
    parser.add_argument("--kind", default="face", choices=KINDS,
                        help="face: the largest face of each frame (dlib by default); body: the extent of the "
                             "keypoints of a body pose estimator (default: %(default)s)")
    parser.add_argument("--size", type=int, default=defaults.size,
                        help="side of the written square frames in pixels (default: %(default)s)")
    parser.add_argument("--format", default=defaults.fmt, choices=FORMATS,
                        help="mp4: H.264 video; png: one image with the frames side by side (the original FOMM "
                             "datasets' format; a clip is held in memory until saved); folder: a folder of PNG "
                             "frames per clip (default: %(default)s)")
    parser.add_argument("--increase", type=float, default=None,
                        help="push each side of a clip's box out by this fraction of its longer side before "
                             "squaring (default: %g for faces, %g for bodies)"
                             % (DEFAULT_INCREASE["face"], DEFAULT_INCREASE["body"]))
    parser.add_argument("--min-frames", type=int, default=None,
                        help="drop clips with fewer frames (default: %d for faces, %d for bodies, the authors' "
                             "VoxCeleb and Tai-Chi values)" % (DEFAULT_MIN_FRAMES["face"], DEFAULT_MIN_FRAMES["body"]))
    parser.add_argument("--min-size", type=int, default=defaults.min_size,
                        help="drop clips whose subject box (the extent over the clip) is smaller than this many "
                             "source pixels on its longer side; the authors used 256 for 256-pixel clips "
                             "(default: %(default)s)")
    parser.add_argument("--max-frames", type=int, default=defaults.max_frames,
                        help="split longer clips (default: %(default)s)")
    parser.add_argument("--iou", type=float, default=defaults.iou_previous,
                        help="a detection continues the clip when its IoU with the clip's previous box is at "
                             "least this (default: %(default)s)")
    parser.add_argument("--iou-initial", type=float, default=defaults.iou_initial,
                        help="... and its IoU with the clip's first box at least this, so that one fixed crop "
                             "keeps framing the subject (the authors' rule and value; default: %(default)s)")
    parser.add_argument("--max-gap", type=int, default=defaults.max_gap,
                        help="end a clip when the subject is not found for more than this many frames in a row; "
                             "shorter gaps stay in the clip (default: %(default)s)")
    parser.add_argument("--cut-threshold", type=float, default=DEFAULT_CUT_THRESHOLD,
                        help="a scene cut is a frame whose 32x32 thumbnail differs from the previous one by more "
                             "than this mean absolute value (0-255); clips end at cuts. Lower finds softer cuts "
                             "and may cut fast motion (default: %(default)s)")
    parser.add_argument("--test-fraction", type=float, default=defaults.test_fraction,
                        help="fraction of the source videos (rounded up, at least one left for train) whose clips "
                             "go to test/; one source video goes to train/ (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed,
                        help="random seed of the train/test split (default: %(default)s)")
    add_face_detector_arguments(parser)
    parser.add_argument("--pose-estimator", default=None,
                        help="body pose estimator for --kind body (a ppgan.detectors POSE_ESTIMATORS name; "
                             "default: blazepose, shipped)")
    parser.add_argument("--force", action="store_true",
                        help="replace the train/, test/ and metadata.csv of a non-empty output folder")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from ppgan.datasets.preparation import Options, prepare_dataset, train_command
    from ppgan.utils.logger import get_logger
    options = Options(kind=args.kind, size=args.size, fmt=args.format, increase=args.increase,
                      min_frames=args.min_frames, min_size=args.min_size, max_frames=args.max_frames,
                      iou_previous=args.iou, iou_initial=args.iou_initial, max_gap=args.max_gap,
                      cut_threshold=args.cut_threshold, test_fraction=args.test_fraction, seed=args.seed)
    summary = prepare_dataset(args.input, args.out, options, force=args.force, progress=not args.no_progress,
                              detector=args.detector, method=args.method, pose_estimator=args.pose_estimator)
    logger = get_logger("ppgan.datasets")
    logger.info("read %d of %d videos (%d skipped), %d frames, the %s found in %d; %d scene cut(s)",
                summary["read"], summary["videos"], len(summary["skipped"]), summary["frames_read"], args.kind,
                summary["frames_with_subject"], summary["cuts"])
    logger.info("wrote %d train clips (%d frames) and %d test clips (%d frames) to %s; dropped %d short and %d "
                "small tracks", summary["clips"]["train"], summary["frames"]["train"], summary["clips"]["test"],
                summary["frames"]["test"], args.out, summary["dropped"]["short"], summary["dropped"]["small"])
    logger.info("train with: %s", train_command(args.out, args.size, args.kind))
    return 0


if __name__ == "__main__":
    from ppgan.utils.cli import run_program

    run_program(main)
