#!/usr/bin/env python
"""Write a small procedural dataset of cartoon-face videos (train/ and test/) to demonstrate training offline."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Render cartoon faces that move (pose), blink, look around and talk, as a FramesDataset "
                    "folder: OUT/train/ and OUT/test/ with videos named face<id>#<chunk> (use "
                    "dataset.id_sampling to sample by identity). The same seed gives the same files.")
    parser.add_argument("--out", default="data/synthetic", help="output folder (default: %(default)s)")
    parser.add_argument("--size", type=int, default=64, help="frame side in pixels (default: %(default)s)")
    parser.add_argument("--num-train", type=int, default=30, help="number of training videos (default: %(default)s)")
    parser.add_argument("--num-test", type=int, default=8, help="number of test videos (default: %(default)s)")
    parser.add_argument("--chunks-per-id", type=int, default=2,
                        help="videos per identity; identities of the test set differ from the training ones "
                             "(default: %(default)s)")
    parser.add_argument("--num-frames", type=int, default=32, help="frames per video (default: %(default)s)")
    parser.add_argument("--format", default="png", choices=["png", "mp4", "gif", "folder"],
                        help="png: one image with the frames side by side (the original FOMM format; set "
                             "dataset.frame_shape to [SIZE, SIZE, 3]); mp4; gif; folder: a folder of png frames "
                             "per video (default: %(default)s)")
    parser.add_argument("--fps", type=float, default=25, help="frame rate of mp4 and gif videos (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--regions", action="store_true",
                        help="also write OUT/regions/train/ and OUT/regions/test/: for every video, one of the same "
                             "name whose frames are white where its eyes and mouth can change (blinks, mouth "
                             "opening), black elsewhere; train with dataset.region_dir=OUT/regions and "
                             "train.loss_weights.region to weigh the reconstruction there")
    parser.add_argument("--landmarks", action="store_true",
                        help="also write OUT/landmarks/train/ and OUT/landmarks/test/: for every video, <video "
                             "name>.npz with the places of its brows, upper lids, nose, mouth corners, lower lip, "
                             "chin and pupils in every frame; train with dataset.landmark_dir=OUT/landmarks, "
                             "train.loss_weights.landmark and train.landmark_keypoints to place keypoints there")
    parser.add_argument("--force", action="store_true",
                        help="replace the train/ and test/ folders of a non-empty output folder")
    return parser.parse_args(argv)


# The synthetic configs and the data folder each reads (their frames are 64x64).
CONFIG_OF_FOLDER = {"data/synthetic": "configs/firstorder_synthetic_64.yaml",
                    "data/synthetic400": "configs/firstorder_synthetic_wide_64.yaml"}
CONFIG_SIZE = 64


def train_command(out, size, regions=False):
    """The tools/main.py command that trains on `out`: the config that already reads it, or the small one
    with only the overrides it needs (with `regions`, also those that weigh the eyes and mouth)."""
    folder = os.path.relpath(os.path.abspath(out)).replace(os.sep, "/")
    config = CONFIG_OF_FOLDER.get(folder)
    overrides = []
    if config is None:
        config = CONFIG_OF_FOLDER["data/synthetic"]
        overrides.append("dataset.root_dir=%s" % out)
    if size != CONFIG_SIZE:
        overrides.append("dataset.frame_shape=[%d,%d,3]" % (size, size))
    if regions:
        overrides += ["dataset.region_dir=%s/regions" % out.rstrip("/\\"), "train.loss_weights.region=10"]
    return "python tools/main.py -c %s%s" % (config, " -o " + " ".join(overrides) if overrides else "")


def main(argv=None):
    args = parse_args(argv)
    from ppgan.datasets.synthetic import write_dataset
    from ppgan.utils.logger import get_logger
    written = write_dataset(args.out, size=args.size, num_train=args.num_train, num_test=args.num_test,
                            chunks_per_id=args.chunks_per_id, num_frames=args.num_frames, fmt=args.format,
                            seed=args.seed, force=args.force, fps=args.fps, progress=True,
                            regions=args.regions, landmarks=args.landmarks)
    get_logger("ppgan.datasets").info("wrote %d training and %d test videos to %s; train with: %s",
                                      len(written["train"]), len(written["test"]), args.out,
                                      train_command(args.out, args.size, args.regions))
    return 0


if __name__ == "__main__":
    from ppgan.utils.cli import run

    run(main)
