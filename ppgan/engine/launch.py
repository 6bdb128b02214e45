"""Command line of tools/main.py and tools/train.py (PaddleGAN's flags)."""
import argparse
import functools
import logging
import os

from ppgan.models.builder import DEFAULT_STAGE
from ppgan.utils.errors import ConfigError
from ppgan.utils.logger import get_logger, setup_logging

logger = get_logger("ppgan.engine")


def build_parser(prog, evaluate):
    """The argument parser; `evaluate` adds --evaluate-only (tools/main.py)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=("Train a motion model (the First Order Motion Model or the Thin-Plate Spline Motion Model) from a "
                     "config (configs/*.yaml or an original repository's config)%s. Several GPUs: python -m "
                     "paddle.distributed.launch --devices 0,1 %s -c ..."
                     % (", or evaluate it (--evaluate-only)" if evaluate else "", prog)))
    parser.add_argument("-c", "--config-file", required=True,
                        help="the YAML config, e.g. configs/firstorder_vox_256.yaml")
    parser.add_argument("-o", "--opt", nargs="+", action="append", default=[], metavar="KEY=VALUE",
                        help="override config keys, e.g. -o dataset.root_dir=data/synthetic train.num_epochs=5 "
                             "(values are YAML; may be repeated)")
    parser.add_argument("--output-dir", default=None,
                        help="run folder for checkpoints/, visuals/, train.log, config.yaml and evaluation results "
                             "(default: output/<config name>)")
    parser.add_argument("--resume", default=None, metavar="CHECKPOINT",
                        help="continue a run: its output folder or checkpoints/checkpoint.pdparams (weights, "
                             "optimizer and scheduler state, epoch and iteration are restored)")
    parser.add_argument("--load", default=None, metavar="WEIGHTS",
                        help="start from these weights only (a .pdparams from training or from "
                             "tools/convert_torch_weights.py, or a PyTorch .pth.tar); optimizers start fresh")
    parser.add_argument("--stage", default=None, metavar="STAGE",
                        help="training stage: 'train' (default: the motion model); for a First Order Motion Model, "
                             "PaddleGAN's staged distillation of a small model from a full one (its model.mode; the "
                             "distill section, e.g. configs/firstorder_vox_mobile_256.yaml): 'kp_detector' (the "
                             "config's keypoint detector against the full model's frozen generator), 'generator' "
                             "(its generator with the full model's frozen keypoint detector), 'both' (both, from "
                             "those stages' checkpoints); for a Thin-Plate Spline Motion "
                             "Model, 'avd': train its AVD network on a trained model, e.g. --stage avd --load "
                             "output/<run>/checkpoints/checkpoint.pdparams (the other nets frozen; the train_avd "
                             "section; checkpoints hold every net). A stage other than 'train' writes "
                             "output/<config name>_<stage> by default; resume it with the same --stage and --resume")
    if evaluate:
        parser.add_argument("--evaluate-only", action="store_true",
                            help="do not train: reconstruct the test videos from their frame 0 (prints "
                                 "'reconstruction L1: <value>' last) and animate test pairs, using --load or "
                                 "--resume weights")
        parser.add_argument("--metrics", nargs="+", default=None, metavar="METRIC",
                            help="with --evaluate-only, the paper's keypoint and identity metrics to compute on the "
                                 "reconstructions besides L1: akd, mkr, aed (face or body landmarks by offline "
                                 "detectors, as reconstruction.kind says; pip install 'ppgan-fomm[eval]'); "
                                 "replaces reconstruction.metrics")
    parser.add_argument("--seed", type=int, default=0, help="random seed (each process adds its rank; default 0)")
    parser.add_argument("--amp", action="store_true",
                        help="float16 automatic mixed precision (GPU only)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def output_folder(args):
    """--output-dir, else the folder of the run being resumed, else output/<config name> (with '_<stage>' for a
    stage other than the default one)."""
    if args.output_dir:
        return args.output_dir
    if args.resume:
        path = os.path.abspath(args.resume)
        return path if os.path.isdir(path) else os.path.dirname(os.path.dirname(path))
    name = os.path.splitext(os.path.basename(args.config_file))[0]
    if args.stage not in (None, DEFAULT_STAGE):
        name += "_" + args.stage
    return os.path.join("output", name)


def main(argv, prog, evaluate):
    """Parse `argv` and train (or evaluate); returns the process exit code."""
    from ppgan.engine.trainer import Trainer, checkpoint_path, world
    from ppgan.utils.config import is_paddlegan_format, load_config, read_config_file

    args = build_parser(prog, evaluate).parse_args(argv)
    overrides = [item for group in args.opt for item in group]
    if is_paddlegan_format(read_config_file(args.config_file)):
        raise ConfigError("'%s' is a PaddleGAN config: it animates (the demo, FirstOrderPredictor) but its training "
                          "sections follow PaddleGAN's trainer; train with the project's config of the same model "
                          "(configs/firstorder_vox_256.yaml, configs/firstorder_vox_mobile_256.yaml, "
                          "configs/firstorder_fashion_256.yaml; docs/en_US/paddlegan.md)" % args.config_file)
    config = load_config(args.config_file, overrides)
    out = output_folder(args)
    rank, _ = world()
    if evaluate and args.metrics is not None:
        if not args.evaluate_only:
            raise ConfigError("--metrics applies to --evaluate-only; add it, or drop --metrics")
        config["reconstruction"]["metrics"] = list(args.metrics)
    if evaluate and args.evaluate_only:
        if args.stage is not None:
            raise ConfigError("--stage chooses what to train; --evaluate-only evaluates the weights of --load or "
                              "--resume, whatever stage wrote them: drop --stage")
        evaluation = evaluation_nets(config, args.resume or args.load, bool(args.resume and args.load))
        if rank != 0:
            return 0
        os.makedirs(out, exist_ok=True)
        setup_logging(logging.INFO, os.path.join(out, "evaluate.log"))
        return evaluate_run(evaluation, config, out, not args.no_progress)
    if args.resume is None and os.path.exists(checkpoint_path(out)):
        raise ConfigError("'%s' already holds a training run; continue it with --resume %s, or pick another "
                          "--output-dir" % (out, out))
    trainer = Trainer(config, out, resume=args.resume, load=args.load, seed=args.seed, amp=args.amp,
                      progress=not args.no_progress, stage=args.stage or DEFAULT_STAGE)
    if rank == 0:  # only once everything is known to be valid
        os.makedirs(out, exist_ok=True)
        setup_logging(logging.INFO, os.path.join(out, "train.log"))
    trainer.train()
    return 0


def evaluation_nets(config, weights, both):
    """What evaluation needs, with weights from --load or --resume (no training state is needed): a dict with
    the model family's keypoint detector and frame generator (`kp_detector`, `generator`), the background
    predictor the reconstruction applies (`bg_predictor`, None for none), its keypoint `normalizer` for
    animation (from the `animate` section) and the `visualizer`."""
    from ppgan.engine.trainer import checkpoint_path
    from ppgan.models.builder import build_nets, model_family
    from ppgan.models.training import check_frame_size
    from ppgan.utils.checkpoint import load_weights, read_weights
    from ppgan.utils.visual import Visualizer

    if weights is None or both:
        raise ConfigError("--evaluate-only needs weights: --load <weights.pdparams> or --resume <run folder> "
                          "(one of them)")
    if os.path.isdir(weights):
        weights = checkpoint_path(weights)
    family = model_family(config["model"])
    nets = build_nets(config["model"], family.evaluation_sections(config["animate"]))
    state = read_weights(weights)
    load_weights(nets, state, "the weights in '%s'" % weights)
    loaded = {k: v for k, v in nets.items() if k in state}
    normalizer = family.keypoint_normalizer(config["animate"], loaded)
    kp_detector, generator = family.animation_nets(nets)
    check_frame_size(kp_detector, generator, config["dataset"]["frame_shape"])
    return {"kp_detector": kp_detector, "generator": generator,
            "bg_predictor": family.background_predictor(nets, loaded), "normalizer": normalizer,
            "visualizer": Visualizer(**config["visualizer"])}


def baseline_warnings(result):
    """What a reconstruction result says against the model: sentences for each baseline it does not beat
    (frame 0 copied; frame 0 warped by the predicted motion, without the decoder)."""
    l1, copied, warped = result["l1"], result["baseline_l1"], result["deformed_l1"]
    if not (l1 > 0 and copied > 0):
        return []
    out = []
    if l1 >= copied:
        out.append("the model reconstructs %.2fx WORSE than copying frame 0 unchanged (L1 %.6f vs %.6f): it has not "
                   "learned to animate this data yet (train longer, or check that the config fits the data; "
                   "docs/en_US/training_study.md shows what training reaches)" % (l1 / copied, l1, copied))
    if warped == warped and 0 < warped < l1:  # NaN: the model has no warped output
        out.append("frame 0 warped by the predicted motion alone is closer to the real frames than the model's output "
                   "(L1 %.6f vs %.6f): the motion is learned better than the decoder (the generator needs more "
                   "training, width or resolution; docs/en_US/training_study.md)" % (warped, l1))
    return out


def reconstruction_metrics(rec):
    """A :class:`ppgan.metrics.comparison.Comparison` of the reconstructions for `reconstruction.metrics` (akd, mkr,
    aed; l1 is always computed by the reconstruction itself), with the detectors of `reconstruction.kind` and
    `reconstruction.detectors`; None when no such metric is asked for."""
    from ppgan.metrics.comparison import Comparison

    names = rec["metrics"] if isinstance(rec["metrics"], (list, tuple)) else [rec["metrics"]]
    names = [str(n).lower() for n in names if str(n).lower() != "l1"]
    if not names:
        return None
    detectors = rec["detectors"] or {}
    if not isinstance(detectors, dict):
        raise ConfigError("must be a mapping of face_detector / face_embedder / pose_estimator to a detector name "
                          "or config, or null, got %r" % (detectors,), "reconstruction.detectors")
    allowed = ("face_detector", "face_embedder", "pose_estimator")
    for key in detectors:
        if key not in allowed:
            raise ConfigError("unknown key; accepted keys: %s" % ", ".join(allowed), "reconstruction.detectors.%s" % key)
    try:
        return Comparison(names, rec["kind"], **detectors)
    except ConfigError as e:
        raise e.with_prefix("reconstruction") from None


def report_metrics(comparison, names, folder):
    """Log the reconstructions' metric table, write it with the per-frame features into `folder` (metrics.csv,
    summary.json, <video>.npz, as tools/evaluate_videos.py does) and print one '<METRIC>: <value>' line each."""
    from ppgan.engine.video_metrics import format_table, write_results

    comparison.finish_all()
    for failed in set(comparison.videos) - set(names):  # a video that broke off midway counts nowhere
        del comparison.videos[failed]
        if os.path.exists(os.path.join(folder, failed + ".npz")):
            os.remove(os.path.join(folder, failed + ".npz"))
    names = [n for n in names if n in comparison.videos]
    write_results(folder, comparison, names)
    logger.info("keypoint and identity metrics of the reconstructions (per-frame features in %s):\n%s", folder,
                format_table(comparison, names))
    for key, value in comparison.summary().items():
        print("%s: %.6f" % (comparison.metrics[key].label, value), flush=True)


def evaluate_run(evaluation, config, out, progress):
    """Animation of the test pairs, then reconstruction of the test videos; prints the mean L1 as the last line.
    `evaluation` is :func:`evaluation_nets`'s."""
    from ppgan.datasets import build_dataset, build_paired_dataset
    from ppgan.engine.evaluator import animate_pairs, reconstruct

    from ppgan.engine.video_metrics import write_arrays

    test = build_dataset(config["dataset"], "test")
    rec, anim = config["reconstruction"], config["animate"]
    comparison = reconstruction_metrics(rec)  # detectors are checked before any video is read
    if comparison is not None:  # each video's per-frame features are written as soon as it is reconstructed
        comparison.on_video_done = functools.partial(write_arrays, os.path.join(out, "reconstruction"))
    kp_detector, generator, visualizer = evaluation["kp_detector"], evaluation["generator"], evaluation["visualizer"]
    batch = max(1, int(config["train"]["batch_size"]))
    if config["dataset"]["pairs_list"] is None and len(test) < 2:
        logger.warning("animation skipped: random (source, driving) pairs need at least 2 test videos")
    else:
        pairs = build_paired_dataset(config["dataset"], test, anim["num_pairs"])
        animate_pairs(kp_detector, generator, test, pairs.pairs(), os.path.join(out, "animation"), visualizer,
                      evaluation["normalizer"], anim["format"], batch, progress)
    result = reconstruct(kp_detector, generator, test, os.path.join(out, "reconstruction"), visualizer,
                         rec["num_videos"], rec["format"], batch, progress, bg_predictor=evaluation["bg_predictor"],
                         on_chunk=comparison.add_reconstruction if comparison is not None else None)
    if result["failed"]:
        logger.warning("%d test video(s) could not be read: %s", len(result["failed"]), ", ".join(result["failed"]))
    logger.info("results in %s; for comparison, L1 of frame 0 copied: %.6f, of frame 0 warped by the predicted "
                "motion (no decoder): %.6f", out, result["baseline_l1"], result["deformed_l1"])
    for warning in baseline_warnings(result):
        logger.warning(warning)
    if comparison is not None and result["per_video"]:
        report_metrics(comparison, sorted(result["per_video"]), os.path.join(out, "reconstruction"))
    print("reconstruction L1: %.6f" % result["l1"], flush=True)
    return 0
