#!/usr/bin/env python
"""Draw the eye and mouth region maps of a face dataset's videos for the region loss; see --help."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv=None):
    from ppgan.utils.cli import add_face_detector_arguments
    parser = argparse.ArgumentParser(
        description="Find the 68 face landmarks in every frame of every video of a dataset folder (train/ and "
                    "test/, or flat) and write, under the same names, formats and lengths, videos that are white "
                    "around the eyes and the mouth and black elsewhere (empty where no face is found). Train with "
                    "-o dataset.region_dir=OUT train.loss_weights.region=10 to weigh the reconstruction there "
                    "(docs/en_US/training.md). Synthetic datasets get theirs from "
                    "tools/make_synthetic_dataset.py --regions.")
    parser.add_argument("--data", required=True, help="the dataset folder (dataset.root_dir)")
    parser.add_argument("--out", default=None,
                        help="output folder (default: DATA/regions when DATA has train/ or test/; a flat dataset "
                             "folder needs one outside it)")
    add_face_detector_arguments(parser, "face detector with 68 landmarks (a ppgan.detectors FACE_DETECTORS name; "
                                        "dlib is of the eval extra)")
    parser.add_argument("--landmarks-out", default=None, metavar="DIR",
                        help="also write the frames' landmarks there, <video name>.npz per video (brows, upper lids, "
                             "nose, mouth corners, lower lip and chin from the 68, as "
                             "ppgan.datasets.synthetic.LANDMARKS; pupils unknown), for -o dataset.landmark_dir=DIR "
                             "and the landmark loss")
    parser.add_argument("--force", action="store_true", help="replace non-empty output folders")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from ppgan import detectors
    from ppgan.datasets.regions import default_out, write_region_dataset
    from ppgan.utils.errors import InputError
    from ppgan.utils.logger import get_logger
    out = args.out or default_out(args.data)
    if out is None:
        raise InputError("'%s' has no train/ or test/ subfolder, so a regions folder inside it would be read as a "
                         "video; pass --out with a folder outside it" % args.data)
    detector = detectors.build_face_detector(detectors.face_detector_config(args.detector, args.method))
    counts = write_region_dataset(args.data, out, detector, force=args.force, progress=not args.no_progress,
                                  landmark_dir=args.landmarks_out)
    logger = get_logger("ppgan.datasets")
    logger.info("wrote the region maps of %d video(s) (%d frames, no face in %d) to %s%s", counts["videos"],
                counts["frames"], counts["frames_without_face"], out,
                " and their landmarks to %s" % args.landmarks_out if args.landmarks_out else "")
    logger.info("train with: -o dataset.region_dir=%s train.loss_weights.region=10%s", out,
                (" (and dataset.landmark_dir=%s with train.loss_weights.landmark and train.landmark_keypoints: "
                 "docs/en_US/training.md, section 4)" % args.landmarks_out) if args.landmarks_out else "")
    return 0


if __name__ == "__main__":
    from ppgan.utils.cli import run_program

    run_program(main)
