"""tools/evaluate_videos.py: the paper's metrics (L1, AKD, MKR, AED) between two folders of videos.

Each entry of the real folder (video file, gif, folder of frames or PNG strip of frames side by side) is paired
with the generated entry of the same name before its first '.', as the authors' evaluation code pairs files;
frames are compared by index, streamed. The figures are pooled over every frame of every video
(ppgan.metrics.keypoints). With --out, the per-video figures (metrics.csv) and each video's per-frame
keypoints, embeddings and values (<name>.npz) are written, so that others can recompute them.
"""
import argparse
import csv
import io
import json
import os

import numpy as np
from tqdm import tqdm

from ppgan.datasets.frames_dataset import list_videos
from ppgan.detectors import FACE_DETECTORS, FACE_EMBEDDERS, POSE_ESTIMATORS
from ppgan.metrics.comparison import KINDS, Comparison
from ppgan.metrics.keypoints import METRICS
from ppgan.utils.cli import height_width
from ppgan.utils.errors import InputError
from ppgan.utils.io import atomic_write
from ppgan.utils.logger import get_logger
from ppgan.utils.video import open_video, save_image
from ppgan.utils.visual import keypoint_preview, make_grid, pixels_to_kp

logger = get_logger("ppgan.engine")

DEFAULT_METRICS = {"face": ("l1", "akd", "mkr", "aed"), "body": ("l1", "akd", "mkr")}
SHEET_FRAMES = 6  # frames of a video shown in its picture
SHEET_HEIGHT = 256  # smaller frames are enlarged to this many rows there


def build_parser():
    """The argument parser of tools/evaluate_videos.py."""
    parser = argparse.ArgumentParser(
        prog="evaluate_videos.py",
        description="Compare generated videos with real ones by the FOMM paper's metrics (Table 3): L1 (mean "
                    "absolute pixel difference in [0, 1]), AKD (average keypoint distance in pixels: mean |dx|, |dy| "
                    "of the keypoints found in both frames), MKR (missing keypoint rate: real keypoints not found "
                    "in the generated frame) and AED (average squared euclidean distance of identity "
                    "embeddings), computed per frame and averaged over every frame of every video as the "
                    "authors' pose-evaluation code does. Offline detectors: dlib's face detector, 68 landmarks "
                    "and 128-d face descriptor (pip install 'ppgan-fomm[eval]').")
    parser.add_argument("--real", required=True, help="folder of the real (ground-truth) videos")
    parser.add_argument("--generated", required=True,
                        help="folder of the generated videos, named like the real ones (the part before the first "
                             "'.' must match), e.g. tools/main.py --evaluate-only's reconstruction/png/")
    parser.add_argument("--metrics", nargs="+", default=None, choices=METRICS.names(), metavar="METRIC",
                        help="metrics to compute, from: %s (default: l1 akd mkr aed for faces, l1 akd mkr for "
                             "bodies)" % ", ".join(METRICS.names()))
    parser.add_argument("--kind", choices=KINDS, default="face",
                        help="what the videos show: face (68 face landmarks, face identity) or body (18 body "
                             "keypoints) (default: %(default)s)")
    parser.add_argument("--image_shape", type=height_width, default=None, metavar="H,W",
                        help="frame size of PNG strips (frames side by side in one image, the original's format); "
                             "also the size each frame is cut to with --column")
    parser.add_argument("--column", type=int, default=None,
                        help="for generated frames that hold several pictures side by side (e.g. the "
                             "visualisation videos), the 0-based index of the picture to compare, each "
                             "--image_shape wide")
    parser.add_argument("--face_detector", default=None, choices=FACE_DETECTORS.names(),
                        help="face detector for the landmarks (default: dlib, HOG then the CNN on frames HOG misses)")
    parser.add_argument("--face_embedder", default=None, choices=FACE_EMBEDDERS.names(),
                        help="face identity embedder for AED (default: dlib's 128-d descriptor of the aligned face)")
    parser.add_argument("--pose_estimator", default=None, choices=POSE_ESTIMATORS.names() or None,
                        help="body pose estimator for --kind body")
    parser.add_argument("--out", default=None,
                        help="folder to write metrics.csv (one row per video and 'all'), summary.json, "
                             "<video>.npz (per-frame keypoints, embeddings, face boxes and metric values of both) "
                             "and <video>.png (6 frames, real above generated, with the keypoints found)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def match_videos(real_dir, generated_dir):
    """[(name, real path, generated path)] of the entries whose names match before their first '.', and the
    names found on one side only, as (real only, generated only)."""
    for folder, flag in ((real_dir, "--real"), (generated_dir, "--generated")):
        if not os.path.isdir(folder):
            raise InputError("%s folder '%s' does not exist; check the path" % (flag, folder))
    real = {n.split(".")[0]: n for n in list_videos(real_dir)}
    generated = {n.split(".")[0]: n for n in list_videos(generated_dir)}
    pairs = [(key, os.path.join(real_dir, real[key]), os.path.join(generated_dir, generated[key]))
             for key in sorted(set(real) & set(generated))]
    return pairs, sorted(set(real) - set(generated)), sorted(set(generated) - set(real))


def _frames(path, image_shape, column):
    """The frames of one entry (a strip is split into `image_shape` frames), the `column`-th picture of each
    when given (video files, gifs and folders of composite frames)."""
    shape = None if image_shape is None else (image_shape[0], image_shape[1], 3)
    video = open_video(path, shape)

    def frames():
        with video:
            for frame in video:
                if column is not None:
                    width = image_shape[1]
                    if width * (column + 1) > frame.shape[1]:
                        raise InputError("'%s' frames are %d pixels wide: they hold no picture %d of width %d; "
                                         "check --column and --image_shape" % (path, frame.shape[1], column, width))
                    frame = frame[:, width * column:width * (column + 1)]
                yield frame
    return frames()


def compare_pair(comparison, name, real_path, generated_path, image_shape=None, column=None, progress=False):
    """Add every frame pair of one video to `comparison`; the two must have as many frames of one size."""
    real = _frames(real_path, image_shape, None)
    generated = _frames(generated_path, image_shape, column)
    count = 0
    for count, (a, b) in enumerate(tqdm(_zip_strict(real, generated, real_path, generated_path),
                                        desc=name, unit="frame", leave=False, disable=not progress), 1):
        if a.shape != b.shape:
            raise InputError("'%s' frames are %dx%d, '%s' frames %dx%d: compare videos of one frame size (give "
                             "--column/--image_shape for composite frames)"
                             % (real_path, a.shape[1], a.shape[0], generated_path, b.shape[1], b.shape[0]))
        comparison.add_frame(name, a, b)
    if count == 0:
        raise InputError("'%s' has no frames" % real_path)


def _zip_strict(real, generated, real_path, generated_path):
    n = 0
    for n, (a, b) in enumerate(zip(real, generated), 1):
        yield a, b
    rest_real, rest_generated = next(real, None), next(generated, None)
    if rest_real is not None or rest_generated is not None:
        longer = real_path if rest_real is not None else generated_path
        raise InputError("'%s' and '%s' have different frame counts ('%s' goes on after frame %d); compare videos "
                         "of the same length" % (real_path, generated_path, longer, n))


def _rows(comparison, names):
    """(video, frames, {metric: value}, {side: detection rate}) per video, then the pooled 'all' row."""
    rows = [(n, comparison.frames(n), comparison.video_result(n), comparison.detection_rates([n])) for n in names]
    rows.append(("all", sum(r[1] for r in rows), comparison.summary(), comparison.detection_rates(names)))
    return rows


def format_table(comparison, names):
    """The printed table: one row per video, then 'all' (the pooled figures); with detectors, the fraction of
    real and generated frames in which they found the subject."""
    metrics = list(comparison.metrics)
    rows = _rows(comparison, names)
    width = max([len("video")] + [len(r[0]) for r in rows])
    sides = sorted(rows[-1][3], reverse=True)  # real, generated
    head = "%-*s %7s " % (width, "video", "frames") + " ".join("%10s" % comparison.metrics[m].label for m in metrics)
    head += "".join(" %10s" % ("found_" + side[:4]) for side in sides)
    lines = [head]
    for name, frames, result, rates in rows:
        lines.append("%-*s %7d " % (width, name, frames) + " ".join("%10.6f" % result[m] for m in metrics)
                     + "".join(" %10.3f" % rates[side] for side in sides))
    return "\n".join(lines)


def write_arrays(out, name, arrays):
    """<name>.npz into `out`: a video's per-frame features and values (written whole or not at all)."""
    os.makedirs(out, exist_ok=True)
    with atomic_write(os.path.join(out, name + ".npz")) as f:
        np.savez(f, **arrays)


def write_results(out, comparison, names):
    """metrics.csv and summary.json into `out` (each written whole or not at all); the videos' npz files are
    written by :func:`write_arrays` as each video is finished."""
    os.makedirs(out, exist_ok=True)
    metrics = list(comparison.metrics)
    rows = _rows(comparison, names)
    sides = sorted(rows[-1][3], reverse=True)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["video", "frames"] + metrics + ["found_" + side for side in sides])
    for name, frames, result, rates in rows:
        writer.writerow([name, frames] + ["%.9g" % result[m] for m in metrics] + ["%.6g" % rates[s] for s in sides])
    with atomic_write(os.path.join(out, "metrics.csv"), "w") as f:
        f.write(text.getvalue())
    name, frames, summary, rates = rows[-1]
    with atomic_write(os.path.join(out, "summary.json"), "w") as f:
        json.dump({"videos": len(names), "frames": frames, "detection_rate": rates,
                   "metrics": {m: (None if np.isnan(v) else v) for m, v in summary.items()}}, f, indent=2)


def _drawable(points, shape):
    """Pixel (x, y) keypoints (-1: missing) as the [-1, 1] coordinates ppgan.utils.visual draws (NaN: not drawn)."""
    points = np.array(points, np.float64)
    points[points[:, 0] < 0] = np.nan
    return pixels_to_kp(points, shape[0], shape[1])


def keypoint_sheet(path, real_path, generated_path, arrays, image_shape=None, column=None, count=SHEET_FRAMES):
    """Write a picture of one video's comparison to `path`: `count` frames spread over the video, the real ones
    above the generated ones, each with the keypoints found in it (keypoint k in the same colour everywhere; a
    keypoint not found is not drawn)."""
    total = len(arrays["real_keypoints"])
    indices = sorted({int(round(i)) for i in np.linspace(0, total - 1, min(count, total))})
    rows = []
    for side, source, col in (("real", real_path, None), ("generated", generated_path, column)):
        wanted = set(indices)
        frames = [f for i, f in enumerate(_frames(source, image_shape, col)) if i in wanted]
        rows += [keypoint_preview(f, _drawable(arrays["%s_keypoints" % side][i], f.shape),
                                  height=max(SHEET_HEIGHT, f.shape[0])) for i, f in zip(indices, frames)]
    save_image(path, np.round(make_grid(rows, len(indices)) * 255).astype(np.uint8))


def main(argv=None):
    """tools/evaluate_videos.py: returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.column is not None and (args.column < 0 or args.image_shape is None):
        raise InputError("--column needs --image_shape H,W (the size of one picture) and must be >= 0")
    pairs, real_only, generated_only = match_videos(args.real, args.generated)
    if not pairs:
        raise InputError("no video of '%s' has a generated counterpart of the same name in '%s' (found %d real, %d "
                         "generated); name them alike" % (args.real, args.generated, len(real_only),
                                                         len(generated_only)))
    for side, names in (("generated", real_only), ("real", generated_only)):
        if names:
            logger.warning("no %s video for: %s", side, ", ".join(names))
    metrics = args.metrics or DEFAULT_METRICS[args.kind]
    comparison = Comparison(metrics, args.kind, face_detector=args.face_detector, face_embedder=args.face_embedder,
                            pose_estimator=args.pose_estimator)
    paths = {name: (real_path, generated_path) for name, real_path, generated_path in pairs}
    if args.out is not None:
        def video_done(name, arrays):
            write_arrays(args.out, name, arrays)
            if "real_keypoints" in arrays:
                keypoint_sheet(os.path.join(args.out, name + ".png"), *paths[name], arrays, args.image_shape,
                               args.column)
        comparison.on_video_done = video_done
    done, failed = [], {}
    for name, real_path, generated_path in tqdm(pairs, desc="videos", unit="video", disable=args.no_progress):
        try:
            compare_pair(comparison, name, real_path, generated_path, args.image_shape, args.column,
                         not args.no_progress)
            comparison.finish(name)
            done.append(name)
        except InputError as e:
            comparison.videos.pop(name, None)
            failed[name] = str(e)
            logger.warning("skipped %s: %s", name, e)
    if not done:
        raise InputError("no video could be compared: %s" % "; ".join("%s: %s" % kv for kv in failed.items()))
    if args.out is not None:
        write_results(args.out, comparison, done)
        logger.info("per-video figures, per-frame features and pictures of the keypoints in %s", args.out)
    if failed:
        logger.warning("%d video(s) skipped: %s", len(failed), ", ".join(failed))
    print(format_table(comparison, done), flush=True)
    return 0
