#!/usr/bin/env python
"""Print the speed (frames/s) and peak memory of animating a generated driving video.

    python benchmarks/animate.py                                    # synthetic 64, 100 frames, batch 8
    python benchmarks/animate.py --frames 100 1000                  # + peak memory of 1000 / 100 frames
    python benchmarks/animate.py -c configs/firstorder_vox_256.yaml --frames 50 --batch-size 1 4 8
    python benchmarks/animate.py --model-only                       # predictor.iter_animate alone
    python benchmarks/animate.py --threads 1 2                      # CPU threads (default: every core)
    python benchmarks/animate.py --backend dygraph inference onnx   # each backend (default: auto)
    python benchmarks/animate.py -c configs/firstorder_vox_256.yaml --model-only --frames 32 \
        --batch-size 1 8 --backend dygraph inference onnx --torch-original ~/first-order-model

End to end is the command line's path (`ppgan.apps.demo.main` with --crop none --cpu): decode the
driving .mp4, animate in batches, encode H.264 into a temporary .mp4. `--model-only` times just
the predictor's `iter_animate` (FirstOrderPredictor or TPSMMPredictor, as the config says) on driving
frames already in memory (a cycle of 32 distinct
frames), so the cost of decoding and encoding is the difference between the two. Model-only runs
animate one batch before the clock starts (oneDNN and ONNX Runtime prepare their kernels on the
first call) and count it as setup.

`--torch-original DIR` (a checkout of https://github.com/AliaksandrSiarohin/first-order-model, never
part of this project; needs torch) also times the original's own animation loop, `make_animation`
of DIR/demo.py with `normalize_kp` of DIR/animate.py (taken from those files; their other imports,
datasets and video I/O, are not needed), on the same weights, source and driving frames, in a
process with the same thread count, after one warm-up frame. The original computes grid sampling
with align_corners=False (PyTorch >= 1.3), so with --torch-original every backend runs with
align_corners=False too, and the largest difference between its frames and the original's is
printed ("max |diff|").

`--paddlegan DIR` (a checkout of https://github.com/PaddlePaddle/PaddleGAN, never part of this project) also
times PaddleGAN's own animation loop: its FirstOrderPredictor built as its users build it (the generator with
inference=True) and its make_animation called unchanged (benchmarks/paddlegan_animate.py), in PaddleGAN's own
environment, `--paddlegan-python PY` (e.g. a venv with paddlepaddle==2.6.2, 'numpy<2', scipy, opencv-python,
imageio, tqdm, pyyaml, requests; default: this Python), on the same weights (the random ones are written by this
project in PaddleGAN's {'generator', 'kp_detector'} layout), source and driving frames, at batch 1 (PaddleGAN's
default), relative motion with adapted scale, after one warm-up frame; frames are in memory, so no decoding or
encoding is timed. PaddleGAN always applies its border correction, so with --paddlegan every run of the project
does too (model.generator.border_correction: 5), and the largest difference between its frames and PaddleGAN's
is printed. PaddleGAN's mobile nets (configs/firstorder_vox_mobile_256.yaml) are built with its mobile_net flag.

The driving video shows a procedural cartoon face (ppgan.datasets.synthetic) at the model's size;
it is rendered once per frame count, streamed into the file. Weights are random unless --weight_path
is given: speed does not depend on their values. Columns: setup = building the model, loading the
weights (static backends: exporting it, once per cache folder, and loading the export) and (end to
end) opening and probing the video; stream = the frames flowing through; frames/s = frames /
stream; base = peak RSS after importing paddle and ppgan; peak = peak RSS of the whole run (end to end
this includes decoding and the H.264 encoder: PyAV runs both inside the process, there is no ffmpeg process).
"""
import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

POOL = 32  # distinct in-memory driving frames of --model-only, cycled
SEED = 7

# Linux carries a process's peak RSS across fork + exec, so a measurement started by a big process
# would report the starter's size: this process stays small (standard library only) and every import
# of paddle, numpy or ppgan happens in the child processes it starts.


def _face_frames(identity_index, num_frames, size):
    """Stream the uint8 frames of a generated video: the frames are rendered one at a time, never held."""
    import numpy as np

    from ppgan.datasets import synthetic

    identity = synthetic.random_identity(np.random.RandomState([SEED, identity_index]))
    motion = synthetic.random_motion(np.random.RandomState([SEED, identity_index, 1]), num_frames)
    background = synthetic.render_background(identity, size * synthetic.SUPERSAMPLE)
    for i in range(num_frames):
        yield synthetic.render_face(identity, motion, i, size, background)


def _peak_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


# ---------------------------------------------------------------------------------------------------------------
# child processes: preparation and measurements


def prepare(spec):
    """Random weights, a source image and the driving videos in spec['work'] (kept if already there)."""
    from ppgan.utils.config import load_config
    from ppgan.utils.video import save_image, write_video

    config = load_config(spec["config"])
    size = spec["video_size"] or spec["image_size"] or config["dataset"]["frame_shape"][0]
    weights = spec["weight_path"]
    if weights is None:
        name = os.path.splitext(os.path.basename(spec["config"]))[0]
        weights = os.path.join(spec["work"], "random-%s.pdparams" % name)
        if not os.path.exists(weights):
            import paddle

            from ppgan.models import build_inference_nets
            from ppgan.utils.checkpoint import save_weights

            paddle.seed(0)
            nets = build_inference_nets(config["model"], ["avd_network"])
            save_weights({k: {n: v.numpy() for n, v in net.state_dict().items()} for k, net in nets.items()},
                         weights)
    source = os.path.join(spec["work"], "source-%d.png" % size)
    if not os.path.exists(source):
        save_image(source, next(_face_frames(1, 1, size)))
    videos = {}
    for n in spec["videos"]:
        videos[n] = os.path.join(spec["work"], "driving-%d-%d.mp4" % (size, n))
        if not os.path.exists(videos[n]):
            start = time.perf_counter()
            write_video(videos[n], _face_frames(2, n, size), fps=25)
            print("generated %s (%d frames, %dx%d) in %.1f s"
                  % (videos[n], n, size, size, time.perf_counter() - start), flush=True)
    made = {"weights": os.path.abspath(weights), "source": source, "videos": videos, "size": size}
    if spec.get("paddlegan"):
        made.update(_paddlegan_inputs(spec, config, source, size))
    return made


# The classes of PaddleGAN's nets (mobile_net false, true): keypoint detector, its backbone, generator, dense motion
PADDLEGAN_NETS = {False: ("KPDetector", "Hourglass", "OcclusionAwareGenerator", "DenseMotionNetwork", "Hourglass"),
                  True: ("MobileKPDetector", "MobileHourglass", "MobileOcclusionAwareGenerator",
                         "MobileDenseMotionNetwork", "MobileHourglass")}
PADDLEGAN_MOBILE_SIGMA = 0.25  # PaddleGAN's mobile nets always blur with it before downsampling


def paddlegan_config(model_cfg):
    """PaddleGAN's FirstOrderPredictor config ({'model': {'common_params', 'generator': {'kp_detector_cfg',
    'generator_cfg'}}}) of a first order model config, or a one-line SystemExit for what PaddleGAN cannot build.
    The keypoint detector and the generator may each be the full net or PaddleGAN's mobile one (`mobile_net`)."""
    if model_cfg.get("name", "FirstOrderModel") != "FirstOrderModel":
        raise SystemExit("--paddlegan times PaddleGAN's First Order Motion Model; the config describes a %s"
                         % model_cfg["name"])
    common, kp, gen = model_cfg["common"], model_cfg["kp_detector"], model_cfg["generator"]
    motion = gen.get("dense_motion")
    mobile_kp, mobile_gen = kp["name"].startswith("Mobile"), gen["name"].startswith("Mobile")
    classes = (kp["name"], kp["backbone"]["name"], gen["name"], motion and motion["name"],
               motion and motion["backbone"]["name"])
    expected = PADDLEGAN_NETS[mobile_kp][:2] + PADDLEGAN_NETS[mobile_gen][2:]
    mobile_nets = [net for net, flag in ((kp, mobile_kp), (motion or {}, mobile_gen)) if flag]
    sigmas = [net.get("antialias_sigma", PADDLEGAN_MOBILE_SIGMA) for net in mobile_nets]
    if not common.get("align_corners", True) or motion is None or classes != expected \
            or any(sigma != PADDLEGAN_MOBILE_SIGMA for sigma in sigmas):
        raise SystemExit("--paddlegan needs a FOMM with align_corners true, a dense motion net and PaddleGAN's nets: "
                         "full (Hourglass backbones) or mobile (Mobile* classes with antialias_sigma 0.25)")

    def hourglass(section):
        return {k: section["backbone"][k] for k in ("block_expansion", "max_features", "num_blocks")}

    def mobile(flag):
        return {"mobile_net": True} if flag else {}

    return {"model": {
        "common_params": {k: common[k] for k in ("num_kp", "num_channels", "estimate_jacobian")},
        "generator": {
            "kp_detector_cfg": dict(hourglass(kp), temperature=kp.get("temperature", 0.1),
                                    scale_factor=kp.get("scale_factor", 1),
                                    single_jacobian_map=kp.get("single_jacobian_map", False), pad=kp.get("pad", 0),
                                    **mobile(mobile_kp)),
            "generator_cfg": dict({k: gen[k] for k in ("block_expansion", "max_features", "num_down_blocks",
                                                       "num_bottleneck_blocks", "estimate_occlusion_map")},
                                  dense_motion_params=dict(hourglass(motion),
                                                           scale_factor=motion.get("scale_factor", 1),
                                                           kp_variance=motion.get("kp_variance", 0.01)),
                                  **mobile(mobile_gen))}}}


def _paddlegan_inputs(spec, config, source, size):
    """What the PaddleGAN run reads (its config, the source and driving frames as .npy) and the project's config
    with PaddleGAN's border correction."""
    import copy

    import numpy as np
    import yaml

    from ppgan.models.generators.occlusion_aware import PADDLEGAN_BORDER
    from ppgan.utils.video import read_image

    pg_config = paddlegan_config(config["model"])
    corrected = copy.deepcopy(config)
    corrected["model"]["generator"]["border_correction"] = PADDLEGAN_BORDER
    name = os.path.splitext(os.path.basename(spec["config"]))[0]
    paths = {"paddlegan_config": pg_config,
             "corrected_config": os.path.join(spec["work"], "%s-border%d.yaml" % (name, PADDLEGAN_BORDER)),
             "source_npy": os.path.join(spec["work"], "source-%d.npy" % size),
             "driving_npy": os.path.join(spec["work"], "driving-pool-%d.npy" % size)}
    with open(paths["corrected_config"], "w") as f:
        yaml.safe_dump(corrected, f, sort_keys=False)
    np.save(paths["source_npy"], np.asarray(read_image(source), np.uint8))
    np.save(paths["driving_npy"], np.stack(list(_face_frames(2, spec["pool"], size))))
    return paths


def _end_to_end(spec):
    from ppgan.apps import demo
    from ppgan.apps.predictor import AnimationPredictor

    marks = {}
    iter_animate = AnimationPredictor.iter_animate

    def timed_iter_animate(self, *args, **kwargs):
        # the first call is where frames start to flow: everything before it is setup
        marks.setdefault("stream", time.perf_counter())
        marks["threads"] = getattr(self, "num_threads", None)
        marks["backend"] = getattr(self, "backend", "dygraph")
        return iter_animate(self, *args, **kwargs)

    AnimationPredictor.iter_animate = timed_iter_animate
    argv = ["--config", spec["config"], "--weight_path", spec["weights"], "--source_image", spec["source"],
            "--driving_video", spec["driving"], "--output", spec["out_dir"], "--filename", spec["out_name"],
            "--batch_size", str(spec["batch_size"]), "--crop", "none", "--cpu", "--no-progress",
            "--backend", spec["backend"]]
    if spec["image_size"]:
        argv += ["--image_size", str(spec["image_size"])]
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # its "wrote ..." line
        demo.main(argv)
    end = time.perf_counter()
    return {"setup": marks["stream"] - start, "stream": end - marks["stream"], "threads": marks["threads"],
            "backend": marks["backend"]}


def _model_only(spec):
    import numpy as np
    import paddle

    from ppgan.apps import predictor_class
    from ppgan.utils.video import read_image

    paddle.set_device("cpu")
    start = time.perf_counter()
    cls = predictor_class(spec["config"])
    # align_corners is a first order model option, set only to compare with its original
    options = {} if spec["align_corners"] is None else {"align_corners": spec["align_corners"]}
    predictor = cls(config=spec["config"], weight_path=spec["weights"], image_size=spec["image_size"],
                    batch_size=spec["batch_size"], backend=spec["backend"], **options)
    size = predictor.image_size[0] if predictor.image_size else 256
    pool = [f.astype(np.float32) / 255.0 for f in _face_frames(2, min(POOL, spec["frames"]), size)]
    source = read_image(spec["source"])
    for _ in predictor.iter_animate(source, pool[:spec["batch_size"]]):  # warm-up
        pass
    driving = (pool[i % len(pool)] for i in range(spec["frames"]))
    setup_end = time.perf_counter()
    kept, count = [], 0
    for frame in predictor.iter_animate(source, driving):
        if count < spec["keep"]:
            kept.append(frame)
        count += 1
    end = time.perf_counter()
    if kept:
        np.save(spec["frames_file"], np.stack(kept))
    return {"setup": setup_end - start, "stream": end - setup_end, "frames": count,
            "threads": getattr(predictor, "num_threads", None), "backend": predictor.backend}


def _original_functions(checkout):
    """make_animation (demo.py) and normalize_kp (animate.py) of the original, compiled from their source alone."""
    import ast

    import numpy as np
    import torch
    from scipy.spatial import ConvexHull
    from tqdm import tqdm

    namespace = {"np": np, "torch": torch, "ConvexHull": ConvexHull, "tqdm": tqdm}
    for filename, name in (("animate.py", "normalize_kp"), ("demo.py", "make_animation")):
        with open(os.path.join(checkout, filename)) as f:
            tree = ast.parse(f.read(), filename)
        found = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == name]
        if not found:
            raise SystemExit("%s has no function %s: is %s a checkout of first-order-model?"
                             % (filename, name, checkout))
        exec(compile(ast.Module(body=found, type_ignores=[]), os.path.join(checkout, filename), "exec"), namespace)
    return namespace["make_animation"]


def _torch_original(spec):
    """The original's make_animation on the same weights and frames (model only, batch 1, CPU)."""
    import numpy as np
    import torch

    from ppgan.convert.converter import to_torch_state_dict
    from ppgan.utils.checkpoint import read_weights
    from ppgan.utils.config import load_config, to_original_model_params
    from ppgan.utils.video import read_image

    checkout = os.path.abspath(os.path.expanduser(spec["torch_original"]))
    sys.path.insert(0, checkout)
    from modules.generator import OcclusionAwareGenerator
    from modules.keypoint_detector import KPDetector

    torch.set_num_threads(spec["torch_threads"])
    make_animation = _original_functions(checkout)
    start = time.perf_counter()
    params = to_original_model_params(load_config(spec["config"])["model"])
    generator = OcclusionAwareGenerator(**params["generator_params"], **params["common_params"])
    kp_detector = KPDetector(**params["kp_detector_params"], **params["common_params"])
    weights = read_weights(spec["weights"])
    for net, name in ((generator, "generator"), (kp_detector, "kp_detector")):
        state = {k: torch.from_numpy(np.asarray(v)) for k, v in to_torch_state_dict(weights[name]).items()}
        net.load_state_dict(state)
        net.eval()
    size = spec["image_size"] or load_config(spec["config"])["dataset"]["frame_shape"][0]
    pool = [f.astype(np.float32) / 255.0 for f in _face_frames(2, min(POOL, spec["frames"]), size)]
    source = read_image(spec["source"]).astype(np.float32) / 255.0
    driving = [pool[i % len(pool)] for i in range(spec["frames"])]
    quiet = {"disable": True}
    import tqdm as tqdm_module

    make_animation.__globals__["tqdm"] = lambda it, **kw: tqdm_module.tqdm(it, **dict(kw, **quiet))
    make_animation(source, driving[:1], generator, kp_detector, relative=True, adapt_movement_scale=True, cpu=True)
    setup_end = time.perf_counter()
    frames = make_animation(source, driving, generator, kp_detector, relative=True, adapt_movement_scale=True,
                            cpu=True)
    end = time.perf_counter()
    if spec["keep"]:
        np.save(spec["frames_file"], np.stack(frames[:spec["keep"]]).astype(np.float32))
    return {"setup": setup_end - start, "stream": end - setup_end, "frames": len(frames),
            "threads": torch.get_num_threads(), "backend": "torch-original"}


def compare(spec):
    """Largest |difference| between the kept frames of each run and those of the original."""
    import numpy as np

    reference = np.load(spec["reference"])
    return {path: float(np.abs(np.load(path) - reference).max()) for path in spec["runs"]}


def measure(spec):
    """One measurement, in a fresh process; returns its figures."""
    import paddle

    import ppgan  # noqa: F401

    base = _peak_mb()
    if spec.get("torch_original"):
        figures = _torch_original(spec)
    else:
        figures = (_model_only if spec["model_only"] else _end_to_end)(spec)
    figures.update(base_mb=base, peak_mb=_peak_mb())
    if figures["threads"] is None:  # a predictor without num_threads runs on Paddle's setting
        figures["threads"] = paddle.get_flags(["FLAGS_paddle_num_threads"])["FLAGS_paddle_num_threads"]
    if not spec["model_only"]:
        from ppgan.utils.video import count_frames

        out = os.path.join(spec["out_dir"], spec["out_name"])
        figures["frames"] = count_frames(out)  # after the peak was read: decoding it is not part of the run
        os.unlink(out)
    return figures


def child(task, spec_json):
    from ppgan.utils.cli import quiet_warnings

    quiet_warnings()
    spec = json.loads(spec_json)
    figures = {"prepare": prepare, "measure": measure, "compare": compare}[task](spec)
    with open(spec["result"], "w") as f:
        json.dump(figures, f)


# ---------------------------------------------------------------------------------------------------------------
# the parent: runs the children and prints


def _run(task, spec, threads=None):
    return run_child(__file__, task, spec, threads)


def run_child(script, task, spec, threads=None):
    """Run `script --child task spec` in a fresh process (with `threads` CPU threads when given), echo what it
    prints, and return the JSON it wrote to spec['result']; a failed child ends the benchmark with its error."""
    env = dict(os.environ)
    if threads is not None:
        # FirstOrderPredictor's default follows FLAGS_paddle_num_threads; Paddle reads both at import
        env["FLAGS_paddle_num_threads"] = str(threads)
        env["OMP_NUM_THREADS"] = str(threads)
    proc = subprocess.run([sys.executable, os.path.abspath(script), "--child", task, json.dumps(spec)], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit("%s: %s failed (exit code %d): %s" % (os.path.basename(script), task, proc.returncode,
                                                                json.dumps(spec)))
    with open(spec["result"]) as f:
        return json.load(f)


def _run_paddlegan(spec, threads, python, checkout):
    """PaddleGAN's make_animation, timed by benchmarks/paddlegan_animate.py in PaddleGAN's Python."""
    env = dict(os.environ)
    if threads is not None:
        env["FLAGS_paddle_num_threads"] = str(threads)
        env["OMP_NUM_THREADS"] = str(threads)
    spec_file = spec["result"] + ".spec.json"
    with open(spec_file, "w") as f:
        json.dump(spec, f)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "paddlegan_animate.py")
    proc = subprocess.run([python, script, "--paddlegan", checkout, spec_file], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit("PaddleGAN's run failed (exit code %d) with %s" % (proc.returncode, python))
    with open(spec["result"]) as f:
        return json.load(f)


def check_paddlegan(args):
    """One line and exit code 2 for --paddlegan options that cannot work, before anything is prepared."""
    problem = None
    predictor = os.path.join("ppgan", "apps", "first_order_predictor.py")
    if args.torch_original is not None:
        problem = "--paddlegan and --torch-original cannot be combined (PaddleGAN samples with align_corners true, " \
                  "the original with false): time them in two runs"
    elif not os.path.isdir(args.paddlegan):
        problem = "--paddlegan: '%s' does not exist; pass the folder of a PaddleGAN checkout" % args.paddlegan
    elif not os.path.isfile(os.path.join(args.paddlegan, predictor)):
        problem = ("--paddlegan: '%s' is not a PaddleGAN checkout (it has no %s)" % (args.paddlegan, predictor))
    elif args.video_size is not None and args.video_size != args.image_size:
        problem = "--paddlegan animates the driving frames at their own size: leave --video-size out"
    elif not (os.path.isfile(args.paddlegan_python) and os.access(args.paddlegan_python, os.X_OK)):
        problem = ("--paddlegan-python: '%s' is not an executable Python (give the python of PaddleGAN's "
                   "environment)" % args.paddlegan_python)
    if problem:
        sys.stderr.write("animate.py: error: %s\n" % problem)
        sys.exit(2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--config", default="configs/firstorder_synthetic_64.yaml", help="the model config")
    parser.add_argument("--weight_path", default=None, help="weights to load (default: random ones)")
    parser.add_argument("--frames", type=int, nargs="+", default=[100],
                        help="driving video lengths; with several, the peak memory ratio largest / smallest")
    parser.add_argument("--batch-size", type=int, nargs="+", default=[8], help="driving frames per forward pass")
    parser.add_argument("--threads", type=int, nargs="+", default=[None],
                        help="CPU threads: sets FLAGS_paddle_num_threads (which FirstOrderPredictor follows) and "
                             "OMP_NUM_THREADS for the measurement; default: the predictor's default (every core)")
    parser.add_argument("--image-size", type=int, default=None, help="model input side (default: the config's)")
    parser.add_argument("--video-size", type=int, default=None, help="driving video side (default: the model's)")
    parser.add_argument("--model-only", action="store_true",
                        help="time predictor.iter_animate on in-memory frames (no decoding or encoding)")
    parser.add_argument("--workdir", default=None,
                        help="keep the generated videos and weights here and reuse them (default: a temporary "
                             "folder, deleted at the end)")
    parser.add_argument("--backend", nargs="+", default=["auto"],
                        choices=("auto", "dygraph", "inference", "onnx"),
                        help="where the model runs (FirstOrderPredictor's backend); static backends export into "
                             "WORKDIR/export-cache once")
    parser.add_argument("--torch-original", default=None, metavar="DIR",
                        help="a checkout of the original PyTorch repository: also time its make_animation on the "
                             "same weights and frames (model only, batch 1) and print each run's largest "
                             "difference from its frames; every run then uses align_corners=False as the original "
                             "does on PyTorch >= 1.3")
    parser.add_argument("--paddlegan", default=None, metavar="DIR",
                        help="a checkout of PaddleGAN: also time its FirstOrderPredictor.make_animation on the same "
                             "weights and frames (model only, batch 1, in --paddlegan-python) and print each run's "
                             "largest difference from its frames; every run then uses PaddleGAN's border correction")
    parser.add_argument("--paddlegan-python", default=sys.executable, metavar="PY",
                        help="the Python of PaddleGAN's environment (default: this one)")
    parser.add_argument("--keep", type=int, default=8,
                        help="with --torch-original or --paddlegan, how many leading frames of each run are compared")
    parser.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return
    if args.paddlegan is not None:
        args.paddlegan = os.path.abspath(os.path.expanduser(args.paddlegan))
        check_paddlegan(args)

    config = os.path.abspath(os.path.join(REPO, args.config) if not os.path.exists(args.config) else args.config)
    name = os.path.splitext(os.path.basename(config))[0]
    with tempfile.TemporaryDirectory(prefix="ppgan-animate-bench-") as tmp:
        work = os.path.abspath(args.workdir or tmp)
        os.makedirs(work, exist_ok=True)
        result = os.path.join(tmp, "figures.json")
        made = _run("prepare", {"config": config, "weight_path": args.weight_path, "work": work,
                                "image_size": args.image_size, "video_size": args.video_size,
                                "videos": [] if args.model_only else sorted(set(args.frames)), "result": result,
                                "paddlegan": args.paddlegan is not None, "pool": min(POOL, max(args.frames))})
        if args.paddlegan is not None:
            config = made["corrected_config"]
        print("%-10s %-15s %-24s %5s %6s %5s %7s %7s %8s %8s %7s %7s"
              % ("mode", "backend", "config", "size", "frames", "batch", "threads", "setup s", "stream s",
                 "frames/s", "base MB", "peak MB"), flush=True)
        os.environ.setdefault("PPGAN_CACHE_DIR", os.path.join(work, "export-cache"))
        compare_with = args.torch_original is not None or args.paddlegan is not None
        rows = []

        def show(mode, backend, threads, batch, r):
            print("%-10s %-15s %-24s %5d %6d %5d %7s %7.2f %8.2f %8.2f %7.0f %7.0f"
                  % (mode, backend, name, args.image_size or made["size"], r["frames"], batch, r["threads"],
                     r["setup"], r["stream"], r["frames"] / r["stream"], r["base_mb"], r["peak_mb"]), flush=True)

        for backend in args.backend:
            for threads in args.threads:
                for batch in args.batch_size:
                    for n in args.frames:
                        spec = {"config": config, "weights": made["weights"], "source": made["source"],
                                "driving": made["videos"].get(str(n)), "out_dir": tmp, "out_name": "result.mp4",
                                "batch_size": batch, "frames": n, "image_size": args.image_size,
                                "model_only": args.model_only, "result": result, "backend": backend,
                                "align_corners": False if args.torch_original is not None else None,
                                "keep": args.keep if compare_with and args.model_only else 0,
                                "frames_file": os.path.join(tmp, "frames-%d.npy" % len(rows))}
                        r = _run("measure", spec, threads)
                        rows.append((threads, batch, n, r, spec, backend))
                        show("model-only" if args.model_only else "end-to-end", "%s (%s)" % (backend, r["backend"])
                             if backend == "auto" else backend, threads, batch, r)
        references = []   # (label, threads, figures, frames file, compared with the rows of its thread count only)
        if args.torch_original is not None:
            threads = args.threads[0]
            spec = dict(rows[0][4], torch_original=args.torch_original, batch_size=1, frames=max(args.frames),
                        keep=args.keep, frames_file=os.path.join(tmp, "frames-original.npy"),
                        torch_threads=threads or len(os.sched_getaffinity(0)))
            original = _run("measure", spec, threads)
            show("model-only", "torch-original", threads, 1, original)
            references.append(("the original", threads, original, spec["frames_file"], False))
        if args.paddlegan is not None:
            for threads in args.threads:
                spec = {"weights": made["weights"], "config": made["paddlegan_config"], "source": made["source_npy"],
                        "driving": made["driving_npy"], "frames": max(args.frames), "keep": args.keep,
                        "frames_file": os.path.join(tmp, "frames-paddlegan-%s.npy" % threads), "result": result}
                paddlegan = _run_paddlegan(spec, threads, args.paddlegan_python, args.paddlegan)
                show("model-only", "paddlegan", threads, 1, paddlegan)
                references.append(("PaddleGAN", threads, paddlegan, spec["frames_file"], True))
            print("paddlegan: PaddleGAN's FirstOrderPredictor.make_animation (Paddle %s) on frames in memory: no "
                  "decoding or encoding; threads: Paddle's FLAGS_paddle_num_threads in its process"
                  % paddlegan["paddle"])
        for label, threads, reference, frames_file, per_thread in references:
            runs = [row[4]["frames_file"] for row in rows
                    if (row[0] == threads or not per_thread) and os.path.exists(row[4]["frames_file"])]
            if not runs:
                continue
            diffs = _run("compare", {"reference": frames_file, "runs": runs, "result": result})
            for threads_, batch, n, r, run_spec, backend in rows:
                if run_spec["frames_file"] in diffs:
                    print("max |diff| vs %s, first %d frames: %-9s batch %d threads %s: %.2e   speed %.2fx"
                          % (label, args.keep, backend, batch, "default" if threads_ is None else threads_,
                             diffs[run_spec["frames_file"]],
                             (r["frames"] / r["stream"]) / (reference["frames"] / reference["stream"])))
        if len(set(args.frames)) > 1:
            small, large = min(args.frames), max(args.frames)
            for threads in args.threads:
                for batch in args.batch_size:
                    peak = {n: r["peak_mb"] for t, b, n, r, _, _ in rows if t == threads and b == batch}
                    print("peak RSS %d / %d frames (batch %d, threads %s): %.3fx"
                          % (large, small, batch, "default" if threads is None else threads,
                             peak[large] / peak[small]))


if __name__ == "__main__":
    main()
