#!/usr/bin/env python
"""Cross-identity animation scored against its ground truth: do pose, blinks and mouth movements transfer?

    python benchmarks/animation_truth.py [--pairs 4] [--frames 16] [--size 64] \\
        [--model NAME=CONFIG:WEIGHTS ...] [--modes relative standard ...] [--sheet docs/images/animation_truth.png]

The set is ppgan.datasets.cross_identity (held-out seed 2525): in pair p, the source is identity A drawn with
the pose and expression of frame 0 of identity B's video, the driving video is B's, and the ground truth is A
moving exactly as B does. Each model (default: both shipped ones, ppgan/apps/default_model_tpsmm and
ppgan/apps/default_model) animates every source by its driving video in each motion mode (predictors of
ppgan.apps, dygraph backend):

  FOMM   relative            relative motion with adapt_scale (FirstOrderPredictor's default)
         relative-unscaled   relative motion, --no-adapt_scale
         absolute            the driving keypoints as they are, --no-relative
  TPSMM  relative            relative motion scaled by the hull-area ratio (the original's default)
         relative-unscaled   relative motion, adapt_scale=False
         standard            the driving keypoints as they are
         avd                 the AVD network's keypoints (weights with an avd_network only)
         relative-affine     each spline's affine motion carried onto the source's control points (the
                             shipped TPSMM's own mode, its config's animate.mode)

(default modes: FOMM relative, relative-unscaled, absolute; TPSMM relative, relative-affine, standard).
Printed per model x mode, pooled over every frame of every pair:

  L1          mean absolute difference to the ground truth (pixels in [0, 1]) over the whole frame, and over
              the eye and mouth regions only (ppgan.datasets.cross_identity.region_masks: the pixels that an
              eye or mouth change can alter at that frame's pose);
  / baseline  the same L1 divided by the no-motion baseline's (the source repeated): < 1 is better; 1.0
              for the baseline itself;
  sharpness   mean Laplacian variance of the output frames / of the ground-truth frames
              (ppgan.metrics.laplacian_variance, at the output size).

Three reference rows are scored alike: "pose only" is the source warped by the true head motion of each frame
(benchmarks/warp_sharpness.py's true flow at full resolution, bicubic): what a perfect pose transfer without
any expression change gives; "pose drawn" is identity A drawn by the renderer at the true pose with frame 0's
eyelids, gaze and mouth (ppgan.datasets.cross_identity.still_expression): the same without the resampling, so
the gap between the two is what a bicubic warp costs, and a model below "pose drawn" in a region passes on
some of that region's expression; "driving frames" is the driving video itself (identity B), how far the other
identity is from the truth. A second table gives the spread across pairs: the per-pair ratios' median,
minimum and maximum, and the bootstrap standard deviation of the pooled ratio (pairs resampled).

--self-driven drives each source by its own ground truth instead (identity A moving as B: the video
reconstruction of the paper, Sec. 4), i.e. animates it at the keypoints of the right identity, which isolates
what is lost across identities. --by-expression splits the region L1s by how much the feature changed since
frame 0 (same, opening, closing), each against the ground truth and against the pose-only frames: an output
that keeps the source's expression is near the latter. --expression-gain holds the pose still and measures
how much of a full blink, of a full mouth opening and of a glance from one side to the other each model passes
on (`expression_gain`), and how far its keypoints move with them. --sheet writes a contact sheet PNG of a few pairs (--sheet-pairs): rows source,
driving, ground truth, then each model in its first mode (--sheet-all-modes: every mode; --sheet-keypoints:
its keypoints on the driving frames below it); for each pair the columns are frame 0, the frames where the
eyes and where the mouth differ most from frame 0's, and the last frame.
"""
import argparse
import json
import logging
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppgan.utils.cli import quiet_warnings  # noqa: E402
from ppgan.utils.errors import InputError  # noqa: E402

quiet_warnings()

REGIONS = ("whole", "eyes", "mouth")
# motion modes per model family: the predictor's options
FAMILY_MODES = {
    "FirstOrderModel": {"relative": {"relative": True, "adapt_scale": True},
                        "relative-unscaled": {"relative": True, "adapt_scale": False},
                        "absolute": {"relative": False, "adapt_scale": False}},
    "TPSMMModel": {"relative": {"mode": "relative"},
                   "relative-unscaled": {"mode": "relative", "adapt_scale": False},
                   "standard": {"mode": "standard"},
                   "avd": {"mode": "avd"},
                   "relative-affine": {"mode": "relative-affine"}},
}
DEFAULT_MODES = {"FirstOrderModel": ("relative", "relative-unscaled", "absolute"),
                 "TPSMMModel": ("relative", "relative-affine", "standard")}
BASELINE = ("baseline", "source repeated")
REFERENCES = (("pose only", "true head motion"), ("pose drawn", "no expression"), ("driving frames", "identity B"))
BOOTSTRAP = 1000
SHEET_SCALE = 3


def shipped_models():
    """[(name, config, weights)] of the shipped models, the demo's default (TPSMM) first."""
    from ppgan.apps.demo import SHIPPED_MODEL_DIRS

    return [(name, os.path.join(SHIPPED_MODEL_DIRS[family], "config.yaml"),
             os.path.join(SHIPPED_MODEL_DIRS[family], "weights.pdparams"))
            for name, family in (("TPSMM", "TPSMMModel"), ("FOMM", "FirstOrderModel"))]


def build_parser():
    from benchmarks.contact_sheet import model_spec
    from ppgan.datasets.cross_identity import CROSS_IDENTITY_SEED

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", type=model_spec, metavar="NAME=CONFIG:WEIGHTS",
                        help="a model to animate with (repeat for several; default: the two shipped models)")
    parser.add_argument("--modes", nargs="+", metavar="MODE",
                        help="motion modes to run, those of each model's family (default: FOMM relative "
                             "relative-unscaled absolute, TPSMM relative standard)")
    parser.add_argument("--pairs", type=int, default=4, help="cross-identity pairs (default 4)")
    parser.add_argument("--frames", type=int, default=16, help="frames per driving video (default 16)")
    parser.add_argument("--size", type=int, default=64, help="frame side in pixels, drawn and animated (default 64)")
    parser.add_argument("--seed", type=int, default=CROSS_IDENTITY_SEED,
                        help="the set's seed (default %d, held out: training used 0)" % CROSS_IDENTITY_SEED)
    parser.add_argument("--self-driven", action="store_true",
                        help="drive each source by its own ground truth (identity A), not by identity B")
    parser.add_argument("--by-expression", action="store_true",
                        help="also print the region L1s split by how much the eyes / the mouth changed since frame 0")
    parser.add_argument("--expression-gain", action="store_true",
                        help="also print how much of a blink and of a mouth opening each model passes on with the "
                             "pose held still, and how far its keypoints move with them")
    parser.add_argument("--sheet", metavar="PNG", help="write a contact sheet of a few pairs here")
    parser.add_argument("--sheet-pairs", type=int, nargs="+", default=[0, 1], metavar="P",
                        help="the pairs on the contact sheet (default 0 1)")
    parser.add_argument("--sheet-all-modes", action="store_true",
                        help="a contact sheet row for every mode (default: each model's first mode)")
    parser.add_argument("--sheet-keypoints", action="store_true",
                        help="on the contact sheet, each model's keypoints on the driving frames (a row after its "
                             "output)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--batch-size", type=int, default=8, help="driving frames per forward pass (default 8)")
    parser.add_argument("--threads", type=int, default=2, metavar="N", help="CPU threads (default 2)")
    return parser


# --- scores --------------------------------------------------------------------------------------
class Scores:
    """Absolute differences to the ground truth summed per region and pair, and Laplacian variances; per frame, the
    eye and mouth regions' sums to the ground truth and to the pose-only frames (`expression_split`)."""

    def __init__(self):
        self.sums = {region: [] for region in REGIONS}     # per pair: (sum of |diff|, number of values)
        self.sharpness = []                                # per frame: Laplacian variance of the output
        self.frames = {region: [] for region in REGIONS[1:]}   # per frame: (to truth, to pose only, count, change)

    def add_pair(self, frames, pair):
        """Score `frames` (T, H, W, 3), float in [0, 1] or uint8, against `pair`'s ground truth."""
        from ppgan.metrics import laplacian_variance
        from ppgan.utils.video import as_uint8_rgb

        frames = np.asarray(frames)
        scaled = frames.astype(np.float64) / (255.0 if frames.dtype == np.uint8 else 1.0)
        diff = np.abs(scaled - pair["truth"].astype(np.float64) / 255.0)
        self.sums["whole"].append((diff.sum(), diff.size))
        for region in ("eyes", "mouth"):
            inside = diff[pair[region]]
            self.sums[region].append((inside.sum(), inside.size))
        posed = np.abs(scaled - pair["pose_only"].astype(np.float64) / 255.0)
        for region, key in (("eyes", "eyes_open"), ("mouth", "mouth_open")):
            change = pair["motion"][key] - pair["motion"][key][0]
            for t, mask in enumerate(pair[region]):
                self.frames[region].append((diff[t][mask].sum(), posed[t][mask].sum(), 3 * mask.sum(), change[t]))
        self.sharpness.extend(laplacian_variance(as_uint8_rgb(frame)) for frame in frames)

    def per_pair(self, region):
        return np.array([s / max(n, 1) for s, n in self.sums[region]])

    def pooled(self, region, pairs=None):
        sums = np.array(self.sums[region], dtype=np.float64)
        if pairs is not None:
            sums = sums[pairs]
        return sums[:, 0].sum() / max(sums[:, 1].sum(), 1)


EXPRESSION_CLASSES = (("same", lambda c: np.abs(c) < 0.1), ("opening", lambda c: c >= 0.5),
                      ("closing", lambda c: c <= -0.5))


def expression_split(scores):
    """{region: {class: (L1 to the truth, L1 to the pose-only frames, frames)}}: the region's L1 over the frames whose
    feature is as open as in the source (same: |change| < 0.1), or opened / closed by at least 0.5 since."""
    out = {}
    for region, records in scores.frames.items():
        records = np.array(records, dtype=np.float64).reshape(-1, 4)
        out[region] = {}
        for name, test in EXPRESSION_CLASSES:
            pick = records[test(records[:, 3])]
            count = max(pick[:, 2].sum(), 1)
            out[region][name] = (pick[:, 0].sum() / count, pick[:, 1].sum() / count, len(pick))
    return out


def summarise(scores, baseline, truth_sharpness, rng):
    """The printed figures of one row: pooled L1 per region, ratios to the baseline, their spread, sharpness."""
    row = {"l1": {}, "ratio": {}, "pair_ratio": {}, "ratio_sd": {}}
    num_pairs = len(scores.sums["whole"])
    resampled = rng.randint(num_pairs, size=(BOOTSTRAP, num_pairs))
    for region in REGIONS:
        row["l1"][region] = scores.pooled(region)
        row["ratio"][region] = row["l1"][region] / baseline.pooled(region)
        per_pair = scores.per_pair(region) / baseline.per_pair(region)
        row["pair_ratio"][region] = [float(v) for v in per_pair]
        boot = [scores.pooled(region, pick) / baseline.pooled(region, pick) for pick in resampled]
        row["ratio_sd"][region] = float(np.std(boot))
    row["sharpness"] = float(np.mean(scores.sharpness) / truth_sharpness)
    row["expression"] = expression_split(scores)
    return row


# --- animation -----------------------------------------------------------------------------------
def model_modes(models, modes):
    """[(name, family, config, weights, [mode, ...])]; an InputError for a mode no model has."""
    from ppgan.apps import predictor_class

    out, used = [], set()
    for name, config, weights in models:
        for path, what in ((config, "config"), (weights, "weights")):
            if not os.path.isfile(path):
                raise InputError("model %s: %s '%s' is not a file" % (name, what, path))
        family = predictor_class(config).family
        if family not in FAMILY_MODES:
            raise InputError("model %s is a %s: this benchmark animates FOMM and TPSMM models" % (name, family))
        wanted = DEFAULT_MODES[family] if modes is None else [m for m in modes if m in FAMILY_MODES[family]]
        used.update(wanted)
        if wanted:
            out.append((name, family, config, weights, list(wanted)))
    unknown = sorted(set(modes or ()) - used)
    if unknown:
        raise InputError("--modes %s: no model given has that mode (FOMM: %s; TPSMM: %s)" % (
            " ".join(unknown), ", ".join(FAMILY_MODES["FirstOrderModel"]), ", ".join(FAMILY_MODES["TPSMMModel"])))
    if not out:
        raise InputError("no model runs any of --modes %s" % " ".join(modes))
    return out


def predictor(family, config, weights, mode, size, batch_size, threads):
    """The predictor of `family` animating in `mode` at size x size (dygraph: nothing exported or cached)."""
    from ppgan.apps import FirstOrderPredictor, TPSMMPredictor

    cls = FirstOrderPredictor if family == "FirstOrderModel" else TPSMMPredictor
    return cls(config, weights, image_size=size, batch_size=batch_size, num_threads=threads, backend="dygraph",
               progress=False, **FAMILY_MODES[family][mode])


def pose_drawn(pair, size):
    """Identity A drawn at the true pose of every frame with the expression of frame 0 (uint8)."""
    from ppgan.datasets.cross_identity import still_expression
    from ppgan.datasets.synthetic import SUPERSAMPLE, render_background, render_face

    identity, motion = pair["identities"]["A"], still_expression(pair["motion"])
    background = render_background(identity, size * SUPERSAMPLE)
    return np.stack([render_face(identity, motion, i, size, background) for i in range(len(pair["truth"]))])


def pose_only(pair, size):
    """The source warped by the true head motion of every frame (full-resolution flow, bicubic), uint8."""
    from benchmarks.warp_sharpness import true_flow, warp

    identity, motion = pair["identities"]["A"], pair["motion"]
    return np.stack([warp(pair["source"], true_flow(identity, motion, i, size, size), "bicubic")
                     for i in range(len(pair["truth"]))])


# the expression changes the gain measures: (region scored, {motion key: (first value, second value)}); a glance from
# one side to the other is drawn with the eyes open
GAIN_CHANGES = {
    "eyes": ("eyes", {"eyes_open": (0.0, 1.0)}),
    "mouth": ("mouth", {"mouth_open": (0.0, 1.0)}),
    "gaze": ("eyes", {"pupil_x": (-0.9, 0.9), "eyes_open": (1.0, 1.0)}),
}


def expression_gain(pred, pairs, size):
    """How much of an expression change `pred` passes on, pose held still: {'eyes', 'mouth', 'gaze'}: {'cross',
    'self': (pooled gain, [per-pair gains]), 'keypoints': (K,) mean move of each keypoint (pixels)}.

    For each pair, the driving identity B is drawn at frame 0's pose with one feature at its two extremes
    (GAIN_CHANGES: eyes shut and open, mouth shut and open, the pupils at the left and the right of open eyes;
    everything else as in frame 0), and the source animated by [B's frame 0, first, second] (frame 0 the reference
    of relative motion); the ground truth is identity A drawn the same two ways. In the feature's region of A,
    the gain is the least-squares share of the truth's change that the output's change holds,
    <out_open - out_closed, truth_open - truth_closed> / |truth_open - truth_closed|^2: 1 when the expression is
    passed on whole, 0 when the output does not change (or changes in another way). 'self' drives by identity A
    drawn the same way (the right identity's keypoints). 'keypoints' is how far each of the detector's
    keypoints on B moves between the closed and the open frame.
    """
    from ppgan.datasets.cross_identity import frame_motion, region_masks
    from ppgan.datasets.synthetic import SUPERSAMPLE, render_background, render_face
    from ppgan.utils.visual import kp_to_pixels

    out = {}
    for change_name, (region, values) in GAIN_CHANGES.items():
        sums = {"cross": [], "self": []}
        moves = []
        for pair in pairs:
            motion = pair["motion"]
            drawn = {}
            for who in ("A", "B"):
                identity = pair["identities"][who]
                background = render_background(identity, size * SUPERSAMPLE)
                drawn[who] = [render_face(identity, frame_motion(motion, 0, **{k: v[end] for k, v in values.items()}),
                                          0, size, background) for end in (0, 1)]
            mask = region_masks(pair["identities"]["A"], motion, 0, size)[region]
            change = (drawn["A"][1].astype(np.float64) - drawn["A"][0]) / 255.0
            drives = (("cross", pair["driving"][0], drawn["B"]), ("self", pair["source"], drawn["A"]))
            for name, first, frames in drives:
                animated = pred.animate(pair["source"], [first] + frames)
                delta = animated[2].astype(np.float64) - animated[1]
                sums[name].append(((delta * change)[mask].sum(), (change * change)[mask].sum()))
            points = [kp_to_pixels(pred.detect_keypoints(frame), size, size) for frame in drawn["B"]]
            moves.append(np.linalg.norm(points[1] - points[0], axis=-1))
        out[change_name] = {name: (float(sum(a for a, _ in v) / sum(b for _, b in v)), [float(a / b) for a, b in v])
                            for name, v in sums.items()}
        out[change_name]["keypoints"] = [float(m) for m in np.mean(moves, axis=0)]
    return out


def feature_moves(pairs, size):
    """How far the driving identities' lower eyelids and lower lips move between closed and open (pixels, mean over
    the pairs, at frame 0's scale): what a keypoint that follows the feature moves."""
    from ppgan.datasets.synthetic import SUPERSAMPLE

    eyes, mouth = [], []
    for pair in pairs:
        identity, scale = pair["identities"]["B"], pair["motion"]["scale"][0]
        a = identity["face_height"] * identity["face_aspect"] * size * SUPERSAMPLE
        eyes.append(scale * identity["eye_size"] * a * 0.75 / SUPERSAMPLE)      # eyelid: 0.75 * ew * eyes_open
        mouth.append(scale * 0.3 * identity["mouth_width"] * a / SUPERSAMPLE)   # lip: (0.04 + 0.3 * open) * mw
    return {"eyes": float(np.mean(eyes)), "mouth": float(np.mean(mouth))}


# --- contact sheet -------------------------------------------------------------------------------
def sheet_frames(pair):
    """(title, frame index) of the frames shown for a pair: 0, the eyes and the mouth most changed from frame 0, the
    last."""
    motion = pair["motion"]
    changed = {part: int(np.argmax(np.abs(motion[key] - motion[key][0])))
               for part, key in (("eyes", "eyes_open"), ("mouth", "mouth_open"))}
    return [("0", 0), ("eyes", changed["eyes"]), ("mouth", changed["mouth"]), ("last", len(pair["truth"]) - 1)]


def write_sheet(path, pairs, outputs, sheet_pairs, keypoints=None):
    """The contact sheet: rows source, driving, ground truth, then every row of `outputs` {label: [frames per pair]};
    with `keypoints` {label: predictor}, after each model's row its keypoints drawn on the driving frames
    (ppgan.utils.visual.draw_keypoints, a colour per transform)."""
    from benchmarks.contact_sheet import compose
    from ppgan.utils.video import as_uint8_rgb, save_image
    from ppgan.utils.visual import draw_keypoints, resize_keypoints

    def enlarged(frame):
        frame = as_uint8_rgb(frame)
        return np.repeat(np.repeat(frame, SHEET_SCALE, axis=0), SHEET_SCALE, axis=1)

    titles, rows = [], {"source": [], "driving": [], "ground truth": []}
    for label in outputs:
        rows[label] = []
        if keypoints and label in keypoints:
            rows[label + " keypoints"] = []
    for p in sheet_pairs:
        for title, index in sheet_frames(pairs[p]):
            titles.append("#%d f%d %s" % (p, index, title))
            driving = pairs[p]["driving"][index]
            rows["source"].append(enlarged(pairs[p]["source"]))
            rows["driving"].append(enlarged(driving))
            rows["ground truth"].append(enlarged(pairs[p]["truth"][index]))
            for label, frames in outputs.items():
                rows[label].append(enlarged(frames[p][index]))
                if keypoints and label in keypoints:
                    pred = keypoints[label]
                    big = enlarged(driving)
                    points = resize_keypoints(pred.detect_keypoints(driving), driving.shape[:2], big.shape[:2])
                    rows[label + " keypoints"].append(as_uint8_rgb(draw_keypoints(
                        big, points, kp_size=SHEET_SCALE, group=pred.points_per_transform)))
    save_image(path, compose(list(rows.items()), titles, 1))


# --- report --------------------------------------------------------------------------------------
def format_table(result):
    """The printed report of `evaluate`'s result."""
    s = result["set"]
    lines = ["%d cross-identity pairs (seed %d, pairs 0-%d), %d frames, %dx%d%s; eye region %.1f%%, mouth region "
             "%.1f%% of the pixels" % (s["pairs"], s["seed"], s["pairs"] - 1, s["frames"], s["size"], s["size"],
                                       ", self-driven" if s["self_driven"] else "", 100 * s["eyes_fraction"],
                                       100 * s["mouth_fraction"]),
             "L1 against the ground truth (pixels in [0, 1]); / baseline: divided by the source repeated's",
             "%-16s %-18s %8s %8s %8s %9s %9s %9s %9s" % ("model", "mode", "whole", "eyes", "mouth", "whole/b",
                                                          "eyes/b", "mouth/b", "sharpness")]
    for row in result["rows"]:
        lines.append("%-16s %-18s %8.4f %8.4f %8.4f %9.3f %9.3f %9.3f %9.3f" % (
            row["model"], row["mode"], *(row["l1"][r] for r in REGIONS), *(row["ratio"][r] for r in REGIONS),
            row["sharpness"]))
    lines += ["", "spread across the %d pairs: per-pair ratio median [min, max], and the pooled ratio's bootstrap "
                  "sd" % s["pairs"],
              "%-16s %-18s %-26s %-26s %-26s" % ("model", "mode", "whole/b", "eyes/b", "mouth/b")]
    for row in result["rows"][1:]:
        cells = []
        for region in REGIONS:
            values = row["pair_ratio"][region]
            cells.append("%.2f [%.2f, %.2f] sd %.3f" % (np.median(values), min(values), max(values),
                                                        row["ratio_sd"][region]))
        lines.append("%-16s %-18s %-26s %-26s %-26s" % (row["model"], row["mode"], *cells))
    if result.get("by_expression"):
        split = result["rows"][0]["expression"]
        classes = [(region, name) for region in ("eyes", "mouth") for name, _ in EXPRESSION_CLASSES
                   if split[region][name][2]]
        lines += ["", "region L1 by the feature's change since frame 0 (same: < 0.1; opening / closing: >= 0.5), to "
                      "the ground truth / to the pose-only frames (the source's expression at the true pose)",
                  "%-16s %-18s " % ("model", "mode") + " ".join("%-15s" % ("%s %s" % c) for c in classes),
                  "%-16s %-18s " % ("", "frames") + " ".join("%-15d" % split[r][n][2] for r, n in classes)]
        for row in result["rows"]:
            lines.append("%-16s %-18s " % (row["model"], row["mode"]) + " ".join(
                "%-15s" % ("%.3f / %.3f" % row["expression"][r][n][:2]) for r, n in classes))
    if result.get("expression_gain"):
        feature = result["feature_moves"]
        layout = "%-16s %-18s " + " ".join(["%-22s %-8s %-20s"] * len(GAIN_CHANGES))
        lines += ["", "expression gain, pose held still: the share of the truth's change (closed -> open; gaze: left "
                      "-> right) the output makes in the region, driven by identity B (cross) and by A itself (self); "
                      "pooled [per-pair min, max]; keypoints on B: the largest moves (pixels; the eyelid moves %.2f, "
                      "the lower lip %.2f)" % (feature["eyes"], feature["mouth"]),
                  layout % ("model", "mode", *[c for name in GAIN_CHANGES
                                               for c in (name + " cross", "self", name + " keypoints")])]
        for gains in result["expression_gain"]:
            cells = []
            for name in GAIN_CHANGES:
                cross, per_pair = gains[name]["cross"]
                moves = np.sort(gains[name]["keypoints"])[::-1]
                cells += ["%.2f [%.2f, %.2f]" % (cross, min(per_pair), max(per_pair)),
                          "%.2f" % gains[name]["self"][0], " ".join("%.2f" % v for v in moves[:3])]
            lines.append(layout % (gains["model"], gains["mode"], *cells))
    return "\n".join(lines)


def evaluate(models, modes=None, *, pairs=4, frames=16, size=64, seed=None, self_driven=False, by_expression=False,
             with_gain=False, sheet=None, sheet_pairs=(0, 1), sheet_all_modes=False, sheet_keypoints=False,
             batch_size=8, threads=2, progress=None):
    """Animate the cross-identity set with every model x mode (`models`: [(name, config, weights)]); the figures
    (`format_table` prints them). The options are the command line's."""
    from ppgan.datasets.cross_identity import CROSS_IDENTITY_SEED, cross_identity_set
    from ppgan.metrics import laplacian_variance

    seed = CROSS_IDENTITY_SEED if seed is None else int(seed)
    for name, value, low in (("pairs", pairs, 1), ("frames", frames, 2), ("size", size, 16),
                             ("batch-size", batch_size, 1), ("threads", threads, 1)):
        if int(value) != value or value < low:
            raise InputError("--%s must be an integer >= %d, got %r" % (name, low, value))
    if sheet is not None and not all(0 <= p < pairs for p in sheet_pairs):
        raise InputError("--sheet-pairs must be pair numbers below --pairs %d, got %s" % (
            pairs, " ".join(map(str, sheet_pairs))))
    runs = model_modes(models, modes)
    data = list(cross_identity_set(pairs, frames, size, seed))
    if self_driven:
        for pair in data:
            pair["driving"] = pair["truth"]
    references = REFERENCES if not self_driven else REFERENCES[:2] + ((REFERENCES[2][0], "= ground truth"),)
    baseline, references = Scores(), {ref: Scores() for ref in references}
    truth_sharpness = []
    for pair in data:
        pair["pose_only"] = pose_only(pair, size)
        baseline.add_pair(np.repeat(pair["source"][None], frames, axis=0), pair)
        pose_row, drawn_row, driving_row = references
        references[pose_row].add_pair(pair["pose_only"], pair)
        references[drawn_row].add_pair(pose_drawn(pair, size), pair)
        references[driving_row].add_pair(pair["driving"], pair)
        truth_sharpness.extend(laplacian_variance(frame) for frame in pair["truth"])
    truth_sharpness = float(np.mean(truth_sharpness))
    rng = np.random.RandomState(0)
    rows = [dict(model=BASELINE[0], mode=BASELINE[1], **summarise(baseline, baseline, truth_sharpness, rng))]
    rows += [dict(model=ref[0], mode=ref[1], **summarise(scores, baseline, truth_sharpness, rng))
             for ref, scores in references.items()]
    sheet_rows, sheet_predictors, gains = {}, {}, []
    for name, family, config, weights, run_modes in runs:
        for k, mode in enumerate(run_modes):
            start = time.perf_counter()
            pred = predictor(family, config, weights, mode, size, batch_size, threads)
            scores, outputs = Scores(), []
            for pair in data:
                outputs.append(pred.animate(pair["source"], pair["driving"]))
                scores.add_pair(outputs[-1], pair)
            rows.append(dict(model=name, mode=mode, **summarise(scores, baseline, truth_sharpness, rng)))
            if sheet is not None and (k == 0 or sheet_all_modes):
                label = "%s %s" % (name, mode) if sheet_all_modes else name
                sheet_rows[label] = outputs
                if sheet_keypoints and k == 0:
                    sheet_predictors[label] = pred
            if with_gain:
                gains.append(dict(model=name, mode=mode, **expression_gain(pred, data, size)))
            if progress is not None:
                progress("%s %s: %.1f s" % (name, mode, time.perf_counter() - start))
    if sheet is not None:
        write_sheet(sheet, data, sheet_rows, list(sheet_pairs), sheet_predictors)
    result = {"set": {"pairs": pairs, "frames": frames, "size": size, "seed": seed, "self_driven": bool(self_driven),
                      "eyes_fraction": float(np.mean([p["eyes"].mean() for p in data])),
                      "mouth_fraction": float(np.mean([p["mouth"].mean() for p in data]))},
              "rows": rows, "by_expression": bool(by_expression)}
    if with_gain:
        result["expression_gain"] = gains
        result["feature_moves"] = feature_moves(data, size)
    return result


def main(argv=None):
    args = build_parser().parse_args(argv)
    from ppgan.utils.logger import setup_logging

    setup_logging(logging.WARNING)
    models = args.model or shipped_models()
    result = evaluate(models, args.modes, pairs=args.pairs, frames=args.frames, size=args.size, seed=args.seed,
                      self_driven=args.self_driven, by_expression=args.by_expression, with_gain=args.expression_gain,
                      sheet=args.sheet, sheet_pairs=args.sheet_pairs, sheet_all_modes=args.sheet_all_modes,
                      sheet_keypoints=args.sheet_keypoints, batch_size=args.batch_size, threads=args.threads,
                      progress=lambda text: print(text, file=sys.stderr))
    print(format_table(result))
    if args.sheet:
        print("wrote %s" % args.sheet)
    if args.json:
        from ppgan.utils.io import atomic_write

        with atomic_write(args.json, "w") as f:
            json.dump(result, f, indent=1)
        print("wrote %s" % args.json)
    return 0


if __name__ == "__main__":
    from ppgan.utils.cli import run
    run(main)
