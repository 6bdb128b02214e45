#!/usr/bin/env python
"""Learning curves of training runs: how well each epoch's weights reconstruct held-out videos.

    python benchmarks/training_study.py --run FOMM=output/firstorder_synthetic_wide_64 --run TPSMM=output/tpsmm_synthetic_wide_64 \\
        --data data/synthetic400 --out docs/images/training_study

A run is a folder written by tools/main.py: config.yaml, train.log and checkpoints/epoch_<N>.pdparams. Every
per-epoch weight file is evaluated, plus the untrained nets at iteration 0 (built from the run's config.yaml
after seeding as training does with --seed, which is not recorded in the run: pass the run's --seed if it was
not 0). Each test video of DATA (DATA/test/, as tools/main.py -o dataset.root_dir=DATA picks them) is
reconstructed from its frame 0 by the project's evaluator (tools/main.py --evaluate-only), giving

  L1         the reconstruction L1 (mean absolute error over all frames, pixels in [0, 1]);
  copy       the L1 of frame 0 copied unchanged, the trivial baseline ("/copy" columns: L1 / copy);
  warped     the L1 of frame 0 warped by the predicted motion alone (no occlusion, no decoder);
  sharpness  the mean Laplacian variance (cv2.Laplacian of the grey uint8 frame) of the reconstructed
             frames divided by that of the real ones: ~0 for a blur, 1 for as sharp as the truth.

The iteration of epoch N is N x the iterations per epoch: from checkpoints/checkpoint.pdparams (the epoch and
iteration the trainer wrote last), or else from the size of the run's training set, the batch size and the
number of processes in train.log; train.log's "iteration K" lines are checked against it.

Results are cached in OUT/results.json: a re-run evaluates only new points, and again those whose weight file,
config.yaml or test videos changed. The table is printed and OUT/learning_curves.png is drawn (matplotlib):
L1 against iteration per run with the copy-frame-0 baseline and each run's warped frame 0 (dashed), and the
sharpness ratio.
"""
import argparse
import hashlib
import json
import logging
import math
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ppgan.utils.cli import quiet_warnings  # noqa: E402
from ppgan.utils.errors import InputError  # noqa: E402

quiet_warnings()

RESULTS_NAME = "results.json"
FIGURE_NAME = "learning_curves.png"
METRICS_VERSION = 1   # bump when what a point measures changes: cached points are then evaluated again
EPOCH_FILE = re.compile(r"^epoch_(\d+)\.pdparams$")
LOG_ITERATION = re.compile(r"ppgan\.engine: iteration (\d+):")
LOG_EPOCH = re.compile(r"ppgan\.engine: epoch (\d+)/(\d+):")
LOG_PROCESSES = re.compile(r"ppgan\.engine: training .* on (\d+) process\(es\)")

logger = logging.getLogger("ppgan.benchmarks")


def named_value(spec, what):
    """'NAME=VALUE' -> (NAME, VALUE); an argparse error otherwise."""
    name, sep, value = spec.partition("=")
    if not sep or not name.strip() or not value:
        raise argparse.ArgumentTypeError("expected %s, got %r" % (what, spec))
    return name.strip(), value


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="append", required=True, metavar="NAME=RUN_DIR",
                        type=lambda s: named_value(s, "NAME=RUN_DIR"),
                        help="a training run to study, labelled NAME (e.g. FOMM=output/firstorder_synthetic_wide_64); repeat for "
                             "several runs")
    parser.add_argument("--data", default="data/synthetic400",
                        help="the dataset whose test videos are reconstructed (its test/ folder; default "
                             "data/synthetic400)")
    parser.add_argument("--out", default="docs/images/training_study",
                        help="folder of results.json (the cache) and learning_curves.png (default "
                             "docs/images/training_study)")
    parser.add_argument("--seed", type=int, default=0,
                        help="the --seed the runs were trained with (default 0, tools/main.py's): the untrained "
                             "nets of iteration 0 are built after seeding with it")
    parser.add_argument("--no-init", action="store_true", help="skip the untrained nets (iteration 0)")
    parser.add_argument("--num-videos", type=int, default=None, metavar="N",
                        help="reconstruct only the first N test videos (default: all)")
    parser.add_argument("--threads", type=int, default=1, metavar="N", help="CPU threads of the evaluation (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser




# --- runs ----------------------------------------------------------------------------------------
def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def epoch_weights(run_dir):
    """{epoch: path} of the run's per-epoch weight files (checkpoints/epoch_<N>.pdparams)."""
    folder = os.path.join(run_dir, "checkpoints")
    found = {}
    for name in os.listdir(folder) if os.path.isdir(folder) else ():
        match = EPOCH_FILE.match(name)
        if match:
            found[int(match.group(1))] = os.path.join(folder, name)
    return dict(sorted(found.items()))


def read_log(run_dir):
    """(number of processes, [(epoch, last logged iteration before its end or None)]) from train.log."""
    path = os.path.join(run_dir, "train.log")
    processes, epochs, last = 1, [], None
    if not os.path.isfile(path):
        return processes, epochs
    with open(path, errors="replace") as f:
        for line in f:
            match = LOG_PROCESSES.search(line)
            if match:
                processes, last = int(match.group(1)), None
            match = LOG_ITERATION.search(line)
            if match:
                last = int(match.group(1))
            match = LOG_EPOCH.search(line)
            if match:
                epochs.append((int(match.group(1)), last))
    return processes, epochs


def training_stage(run_dir):
    """(stage, iterations per epoch or None) from the run's checkpoints/checkpoint.pdparams, if it has one."""
    from ppgan.engine.trainer import checkpoint_path, read_checkpoint
    from ppgan.models.builder import DEFAULT_STAGE

    path = checkpoint_path(run_dir)
    if not os.path.isfile(path):
        return DEFAULT_STAGE, None
    _, state = read_checkpoint(path)
    stage = str(state.get("stage", DEFAULT_STAGE))
    epochs, iteration = int(state["epoch"]) + 1, int(state.get("iteration", 0))
    return stage, (iteration // epochs if iteration and iteration % epochs == 0 else None)


def train_section(config, stage):
    """The config section of the run's training schedule (`train`; `train_avd` for TPSMM's AVD stage)."""
    from ppgan.models.builder import model_family
    return model_family(config["model"]).training_stages()[stage].train_section


def iterations_per_epoch(config, run_dir, stage, from_checkpoint, processes):
    """(iterations per epoch, how it was found): the checkpoint's, else len(the trainer's batch sampler)."""
    import paddle
    from ppgan.datasets import build_dataset

    if from_checkpoint:
        return from_checkpoint, "checkpoints/checkpoint.pdparams"
    train_cfg = config[train_section(config, stage)]
    try:
        dataset = build_dataset(config["dataset"], "train", train_cfg["num_repeats"])
    except Exception as e:
        raise InputError("%s: no checkpoints/checkpoint.pdparams and the training set is unreadable (%s); cannot "
                         "tell the iterations per epoch" % (run_dir, e)) from None
    sampler = paddle.io.DistributedBatchSampler(dataset, batch_size=int(train_cfg["batch_size"]), drop_last=True,
                                                num_replicas=processes, rank=0)
    return len(sampler), "training set (%d items, batch %d, %d process(es))" % (
        len(dataset), int(train_cfg["batch_size"]), processes)


def check_log(name, logged, per_epoch, log_freq):
    """Warn when train.log's last iteration before an epoch's end does not fit `per_epoch`; returns those epochs."""
    wrong = [(epoch, last) for epoch, last in logged
             if last is not None and not epoch * per_epoch - log_freq < last <= epoch * per_epoch]
    for epoch, last in wrong:
        logger.warning("%s: train.log logs iteration %d before the end of epoch %d, but %d iterations per "
                       "epoch end it at %d; was the run resumed with another batch size or data?",
                       name, last, epoch, per_epoch, epoch * per_epoch)
    return [epoch for epoch, _ in wrong]


def untrained_nets(config, seed):
    """(kp_detector, generator) as training with --seed `seed` starts: the Trainer seeds with set_seed(seed + rank)
    and its training model then builds every net of the family, in the family's order, before anything else
    draws random numbers."""
    from ppgan.engine.trainer import set_seed
    from ppgan.models.builder import build_nets, model_family

    set_seed(seed)
    return model_family(config["model"]).animation_nets(build_nets(config["model"]))


def data_signature(test):
    """What the test videos are (names, sizes, times), so that changed data re-evaluates."""
    entries = []
    for index in range(len(test)):
        stat = os.stat(test.video_path(index))
        entries.append("%s:%d:%d" % (test.video_name(index), stat.st_size, stat.st_mtime_ns))
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


class Run:
    """A run folder: its config, test set, iterations per epoch and the points to evaluate."""

    def __init__(self, name, run_dir, data, seed, with_init, num_videos):
        from ppgan.datasets import build_dataset
        from ppgan.models.builder import DEFAULT_STAGE
        from ppgan.utils.config import load_config

        self.name, self.run_dir = name, run_dir
        config_path = os.path.join(run_dir, "config.yaml")
        if not os.path.isfile(config_path):
            raise InputError("%s=%s: no config.yaml; is it a run folder of tools/main.py?" % (name, run_dir))
        self.config = load_config(config_path)
        self.stage, from_checkpoint = training_stage(run_dir)
        processes, logged = read_log(run_dir)
        self.per_epoch, self.per_epoch_source = iterations_per_epoch(self.config, run_dir, self.stage,
                                                                     from_checkpoint, processes)
        check_log(name, logged, self.per_epoch, int(self.config[train_section(self.config, self.stage)]["log_freq"]))
        self.test = build_dataset(dict(self.config["dataset"], root_dir=data), "test")
        self.num_videos = num_videos
        self.batch = max(1, int(self.config["train"]["batch_size"]))   # as tools/main.py --evaluate-only
        setup = "%d|%s|%s|%s" % (METRICS_VERSION, file_sha256(config_path), data_signature(self.test), num_videos)
        if self.config["model"].get("bg_predictor") is not None:
            # the evaluator applies the background predictor (it did not when METRICS_VERSION 1 was set): points of
            # such a run cached before are evaluated again, while the other runs' points stay valid
            setup += "|background motion"
        self.points = []   # (epoch, weights path or None, fingerprint)
        if with_init and self.stage == DEFAULT_STAGE:
            self.points.append((0, None, hashlib.sha256(("%s|init seed %d" % (setup, seed)).encode()).hexdigest()))
        elif with_init:
            logger.warning("%s: no iteration 0: the '%s' stage starts from trained weights", name, self.stage)
        self.seed = seed
        self.setup = setup
        weights = epoch_weights(run_dir)
        if not weights:
            logger.warning("%s: no checkpoints/epoch_*.pdparams in %s yet", name, run_dir)
        for epoch, path in weights.items():
            self.points.append((epoch, path, hashlib.sha256(("%s|%s" % (setup, file_sha256(path))).encode())
                                .hexdigest()))

    def nets(self, weights):
        """(kp_detector, generator, background predictor or None) of a weight file, or the untrained ones for None
        (an untrained background predictor is the identity transform: none)."""
        from ppgan.engine.launch import evaluation_nets

        if weights is None:
            return untrained_nets(self.config, self.seed) + (None,)
        evaluation = evaluation_nets(self.config, weights, False)
        return evaluation["kp_detector"], evaluation["generator"], evaluation["bg_predictor"]

    def evaluate(self, epoch, weights, fingerprint):
        """The figures of one point (a dict for results.json)."""
        from ppgan.engine.evaluator import reconstruct
        from ppgan.metrics import Sharpness

        start = time.perf_counter()
        kp_detector, generator, bg_predictor = self.nets(weights)
        sharpness = Sharpness()
        result = reconstruct(kp_detector, generator, self.test, None, None, self.num_videos,
                             batch_size=self.batch, progress=False, on_chunk=sharpness, bg_predictor=bg_predictor)
        if result["failed"]:
            logger.warning("%s epoch %d: %d test video(s) could not be read: %s", self.name, epoch,
                           len(result["failed"]), ", ".join(result["failed"]))
        return {"epoch": epoch, "iteration": epoch * self.per_epoch, "weights": weights, "fingerprint": fingerprint,
                "l1": result["l1"], "copy_l1": result["baseline_l1"], "warped_l1": result["deformed_l1"],
                "sharpness": sharpness.ratio, "sharpness_generated": sharpness.generated.value,
                "sharpness_real": sharpness.real.value, "videos": len(result["per_video"]),
                "seconds": time.perf_counter() - start}


# --- results -------------------------------------------------------------------------------------
def load_results(path):
    if not os.path.isfile(path):
        return {"runs": {}}
    try:
        with open(path) as f:
            results = json.load(f)
    except ValueError:
        logger.warning("%s is not valid JSON; every point is evaluated again", path)
        return {"runs": {}}
    return results if isinstance(results.get("runs"), dict) else {"runs": {}}


def save_results(path, results):
    from ppgan.utils.io import atomic_write
    with atomic_write(path, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
        f.write("\n")


def table(runs, results):
    """The printed table of every point of `runs`."""
    head = ("run", "epoch", "iteration", "L1", "L1/copy", "warped/copy", "sharpness", "eval s")
    rows = []
    for run in runs:
        for point in results["runs"][run.name]["points"]:
            rows.append((run.name, "%d" % point["epoch"], "%d" % point["iteration"], "%.4f" % point["l1"],
                         "%.3f" % (point["l1"] / point["copy_l1"]), "%.3f" % (point["warped_l1"] / point["copy_l1"]),
                         "%.3f" % point["sharpness"], "%.1f" % point["seconds"]))
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in [head] + rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def plot(runs, results, path):
    """Write the learning curves (L1 and sharpness against iteration) to `path`, atomically."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker
    from ppgan.utils.io import atomic_path

    fig, (ax_l1, ax_sharp) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=100, gridspec_kw={"width_ratios": [3, 2]})
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    copies = {}
    for i, run in enumerate(runs):
        points = results["runs"][run.name]["points"]
        if not points:
            continue
        colour = colours[i % len(colours)]
        x = [p["iteration"] for p in points]
        ax_l1.plot(x, [p["l1"] for p in points], "o-", color=colour, lw=2, ms=4, label="%s reconstruction" % run.name)
        ax_l1.plot(x, [p["warped_l1"] for p in points], "--", color=colour, lw=1.3,
                   label="%s frame 0 warped" % run.name)
        ax_sharp.plot(x, [p["sharpness"] for p in points], "o-", color=colour, lw=2, ms=4, label=run.name)
        copies.setdefault(round(points[0]["copy_l1"], 9), []).append(run.name)
    for value, names in copies.items():
        label = "copy frame 0" + ("" if len(copies) == 1 else " (%s)" % ", ".join(names))
        ax_l1.axhline(value, color="0.35", ls=":", lw=1.5, label=label)
    ax_sharp.axhline(1.0, color="0.35", ls=":", lw=1.5, label="real frames")
    ax_l1.set_title("Reconstruction of held-out videos from frame 0")
    ax_l1.set_xlabel("training iteration")
    ax_l1.set_ylabel("L1 (mean |error|, pixels in [0, 1]; log scale)")
    ax_l1.set_yscale("log")   # the untrained point is several times the trained ones: ratios stay visible
    ax_l1.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    ax_l1.yaxis.set_minor_formatter(ticker.FuncFormatter(lambda v, _: "%g" % v if str(round(v / 10 ** math.floor(
        math.log10(v)))) in "235" else ""))
    ax_sharp.set_title("Sharpness of the reconstructions")
    ax_sharp.set_xlabel("training iteration")
    ax_sharp.set_ylabel("Laplacian variance / real frames'")
    ax_sharp.set_ylim(bottom=0, top=max(1.15, ax_sharp.get_ylim()[1]))
    for ax in (ax_l1, ax_sharp):
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8.5, loc="best", framealpha=0.9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("error: matplotlib is missing: pip install matplotlib", file=sys.stderr)
        return 2
    from tqdm import tqdm

    from ppgan.apps.predictor import cpu_threads
    from ppgan.utils.logger import setup_logging

    setup_logging(logging.INFO)
    names = [name for name, _ in args.run]
    if len(set(names)) != len(names):
        raise InputError("run names must differ, got %s" % ", ".join(names))
    os.makedirs(args.out, exist_ok=True)
    results_path = os.path.join(args.out, RESULTS_NAME)
    results = load_results(results_path)
    runs = [Run(name, run_dir, args.data, args.seed, not args.no_init, args.num_videos) for name, run_dir in args.run]
    pending = []
    for run in runs:
        cached = {p.get("fingerprint"): p for p in results["runs"].get(run.name, {}).get("points", [])}
        entry = {"run_dir": os.path.abspath(run.run_dir), "iterations_per_epoch": run.per_epoch,
                 "iterations_per_epoch_from": run.per_epoch_source, "seed": args.seed, "points": []}
        for epoch, weights, fingerprint in run.points:
            if fingerprint in cached:
                entry["points"].append(dict(cached[fingerprint], iteration=epoch * run.per_epoch))
            else:
                pending.append((run, epoch, weights, fingerprint))
        results["runs"][run.name] = entry
    bar = tqdm(pending, desc="checkpoints", unit="ckpt", disable=args.no_progress)
    with cpu_threads(args.threads):
        for run, epoch, weights, fingerprint in bar:
            bar.set_postfix_str("%s epoch %d" % (run.name, epoch))
            points = results["runs"][run.name]["points"]
            points.append(run.evaluate(epoch, weights, fingerprint))
            points.sort(key=lambda p: p["epoch"])
            save_results(results_path, results)   # after every point: an interrupted study keeps its work
    save_results(results_path, results)
    print(table(runs, results))
    if pending:
        seconds = [p["seconds"] for r in runs for p in results["runs"][r.name]["points"]
                   if p["fingerprint"] in {f for _, _, _, f in pending}]
        print("evaluated %d point(s), %.1f s each on average (%d cached)" % (
            len(pending), sum(seconds) / len(seconds), sum(len(r.points) for r in runs) - len(pending)))
    else:
        print("every point was cached in %s" % results_path)
    print("wrote %s and %s" % (results_path, plot(runs, results, os.path.join(args.out, FIGURE_NAME))))
    return 0


if __name__ == "__main__":
    from ppgan.utils.cli import run as run_cli
    run_cli(main)
