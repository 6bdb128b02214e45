#!/usr/bin/env python
"""A contact sheet of reconstructions: one held-out video's frames next to each model's reconstruction of them.

    python benchmarks/contact_sheet.py \\
        --model FOMM=ppgan/apps/default_model/config.yaml:ppgan/apps/default_model/weights.pdparams \\
        --model TPSMM=ppgan/apps/default_model_tpsmm/config.yaml:ppgan/apps/default_model_tpsmm/weights.pdparams \\
        --data data/synthetic400/test --video 0 --frames 0,8,16,24,31 --out docs/images/contact_sheet.png

Rows: the source (frame 0 of the video, repeated), the driving frames, then each model's reconstruction of
them. A model animates the source by the driving video as the evaluator reconstructs test videos
(tools/main.py --evaluate-only, ppgan.engine.evaluator.reconstruction_chunks): the source is frame 0 and each
frame's keypoints drive it as they are. Frames are enlarged (nearest neighbour, --scale) so that small frames
stay visible; each row is labelled on the left and each column with its frame number.
"""
import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppgan.utils.cli import quiet_warnings  # noqa: E402
from ppgan.utils.errors import InputError  # noqa: E402

quiet_warnings()

GAP = 4             # white pixels between cells
HEADER = 26         # height of the row of frame numbers
LABEL_WIDTH = 110   # width of the row labels (wider if a label needs it)
FONT, FONT_SCALE, FONT_THICKNESS = 0, 0.55, 1   # cv2.FONT_HERSHEY_SIMPLEX


def model_spec(spec):
    """'NAME=CONFIG:WEIGHTS' -> (NAME, CONFIG, WEIGHTS)."""
    name, sep, rest = spec.partition("=")
    config, colon, weights = rest.rpartition(":")
    if not sep or not colon or not name.strip() or not config or not weights:
        raise argparse.ArgumentTypeError("expected NAME=CONFIG:WEIGHTS, got %r" % spec)
    return name.strip(), config, weights


def frame_list(text):
    try:
        frames = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        frames = []
    if not frames or min(frames) < 0:
        raise argparse.ArgumentTypeError("expected frame numbers separated by commas, e.g. 0,8,16, got %r" % text)
    return frames


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, type=model_spec, metavar="NAME=CONFIG:WEIGHTS",
                        help="a model: its row label, config (e.g. a run's config.yaml) and weights (.pdparams); "
                             "repeat for several models (one row each)")
    parser.add_argument("--data", default="data/synthetic400/test",
                        help="a folder of videos (default data/synthetic400/test)")
    parser.add_argument("--video", type=int, default=0, metavar="INDEX",
                        help="which video of --data, in name order (default 0)")
    parser.add_argument("--frames", type=frame_list, default=[0, 8, 16, 24, 31], metavar="I,J,...",
                        help="the frames shown, one column each (default 0,8,16,24,31)")
    parser.add_argument("--scale", type=int, default=3, help="nearest-neighbour enlargement of frames (default 3)")
    parser.add_argument("--out", default="docs/images/contact_sheet.png", help="the PNG written")
    parser.add_argument("--threads", type=int, default=1, metavar="N", help="CPU threads (default 1)")
    return parser


def read_video(path, frame_shape):
    """The frames of a video as the test dataset gives them: float32 (3, H, W) in [0, 1] at `frame_shape`."""
    import cv2
    import numpy as np
    from ppgan.utils.video import iter_frames

    h, w = frame_shape[:2]
    for frame in iter_frames(path, frame_shape):
        if frame.shape[:2] != (h, w):
            frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
        yield np.ascontiguousarray(frame.transpose(2, 0, 1), dtype=np.float32) / 255.0


def reconstruct_frames(config, weights, frames, wanted):
    """{index: uint8 HxWx3 reconstruction} of the frames `wanted` of `frames`, from frame 0 (as the evaluator)."""
    from ppgan.engine.evaluator import reconstruction_chunks
    from ppgan.engine.launch import evaluation_nets
    from ppgan.utils.video import as_uint8_rgb

    evaluation = evaluation_nets(config, weights, False)
    kp_detector, generator, bg_predictor = (evaluation[k] for k in ("kp_detector", "generator", "bg_predictor"))
    for net in (kp_detector, generator, bg_predictor):
        if net is not None:
            net.eval()
    found, start = {}, 0
    for _, driving, out in reconstruction_chunks(kp_detector, generator, frames,
                                                 max(1, int(config["train"]["batch_size"])), bg_predictor):
        prediction = out["prediction"].numpy().transpose(0, 2, 3, 1)
        for i in range(len(prediction)):
            if start + i in wanted:
                found[start + i] = as_uint8_rgb(prediction[i])
        start += len(prediction)
        if len(found) == len(wanted):
            break
    return found


def compose(rows, frames, scale):
    """The sheet (uint8 RGB) of `rows`, [(label, [uint8 HxWx3 per column])], columns titled by `frames` (a frame
    number is shown as 'frame N', a string as it is)."""
    import cv2
    import numpy as np

    h, w = rows[0][1][0].shape[:2]
    cell_h, cell_w = h * scale, w * scale
    label_width = max([LABEL_WIDTH] + [cv2.getTextSize(label, FONT, FONT_SCALE, FONT_THICKNESS)[0][0] + 2 * GAP + 6
                                       for label, _ in rows])
    height = HEADER + len(rows) * cell_h + (len(rows) - 1) * GAP
    width = label_width + len(frames) * cell_w + (len(frames) - 1) * GAP
    sheet = np.full((height, width, 3), 255, np.uint8)
    ink = (20, 20, 20)
    for j, index in enumerate(frames):
        x = label_width + j * (cell_w + GAP)
        text = index if isinstance(index, str) else "frame %d" % index
        size = cv2.getTextSize(text, FONT, FONT_SCALE, FONT_THICKNESS)[0]
        cv2.putText(sheet, text, (x + (cell_w - size[0]) // 2, HEADER - 8), FONT, FONT_SCALE, ink, FONT_THICKNESS,
                    cv2.LINE_AA)
    for i, (label, images) in enumerate(rows):
        y = HEADER + i * (cell_h + GAP)
        size = cv2.getTextSize(label, FONT, FONT_SCALE, FONT_THICKNESS)[0]
        cv2.putText(sheet, label, (GAP, y + (cell_h + size[1]) // 2), FONT, FONT_SCALE, ink, FONT_THICKNESS,
                    cv2.LINE_AA)
        for j, image in enumerate(images):
            x = label_width + j * (cell_w + GAP)
            sheet[y:y + cell_h, x:x + cell_w] = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
    return sheet


def main(argv=None):
    args = build_parser().parse_args(argv)
    from ppgan.apps.predictor import cpu_threads
    from ppgan.datasets.frames_dataset import list_videos
    from ppgan.utils.config import load_config
    from ppgan.utils.logger import setup_logging
    from ppgan.utils.video import as_uint8_rgb, save_image

    setup_logging(logging.INFO)
    if args.scale < 1:
        raise InputError("--scale must be at least 1, got %d" % args.scale)
    if not os.path.isdir(args.data):
        raise InputError("--data '%s' is not a folder of videos" % args.data)
    videos = list_videos(args.data)
    if not 0 <= args.video < len(videos):
        raise InputError("--video %d: '%s' holds %d video(s)" % (args.video, args.data, len(videos)))
    path = os.path.join(args.data, videos[args.video])
    configs = [(name, load_config(config), weights) for name, config, weights in args.model]
    shapes = {tuple(config["dataset"]["frame_shape"]) for _, config, _ in configs}
    if len(shapes) > 1:
        raise InputError("the models animate frames of different sizes (dataset.frame_shape %s); give models of "
                         "one size" % " and ".join(str(list(s)) for s in sorted(shapes)))
    frame_shape = shapes.pop()
    real = list(read_video(path, frame_shape))
    if max(args.frames) >= len(real):
        raise InputError("--frames %d: video '%s' has %d frames" % (max(args.frames), path, len(real)))
    rows = [("source", [as_uint8_rgb(real[0].transpose(1, 2, 0))] * len(args.frames)),
            ("driving", [as_uint8_rgb(real[i].transpose(1, 2, 0)) for i in args.frames])]
    with cpu_threads(args.threads):
        for name, config, weights in configs:
            found = reconstruct_frames(config, weights, iter(real), set(args.frames))
            rows.append((name, [found[i] for i in args.frames]))
    save_image(args.out, compose(rows, args.frames, args.scale))
    print("wrote %s (%s, video %s, frames %s)" % (args.out, ", ".join(n for n, _, _ in configs), videos[args.video],
                                                  ",".join(map(str, args.frames))))
    return 0


if __name__ == "__main__":
    from ppgan.utils.cli import run
    run(main)
