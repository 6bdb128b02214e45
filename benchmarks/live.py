#!/usr/bin/env python
"""Print the latency, frame rate and dropped frames of live animation, a video played as a camera.

    python benchmarks/live.py                                        # shipped TPSMM and FOMM (64x64), onnx, 10 s
    python benchmarks/live.py --repeat 3 --workdir /tmp/bench/live   # each configuration 3 times, files kept
    python benchmarks/live.py --models tpsmm-vox256 fomm-vox256 --backend onnx inference --seconds 20
    python benchmarks/live.py --models tpsmm --backend onnx inference dygraph --record   # + encoding an .mp4
    python benchmarks/live.py --models configs/tpsmm_mgif_256.yaml   # any config, random weights

The camera is a generated clip (WORKDIR/camera-640x480-25fps-250.mp4 by default, H.264): the project's
procedural cartoon face (ppgan.datasets.synthetic, a square of 3/4 of the frame's height with its own
patterned background) in front of a plain wall, moving, talking and blinking. It is played by
`ppgan.apps.live.VideoCamera` at its own frame rate, as `live_demo.py --driving_video` plays it: its thread
decodes each frame and offers it at start + i / fps, keeping only the newest one, so the frames the
session cannot keep up with are dropped, as with a real camera. Before anything is measured, the face
tracker's detector is run on every frame of the clip (on the tracker's reduced copy, as in a session)
and on the avatar, and what it found is printed.

Each configuration (model x backend x repeat) runs in a fresh process, built as `live_demo.py` builds
its session (its argument parser's defaults, `make_predictor` with batch 1, `LiveSession` with the
default 512x512 output, a face detector every 5 frames). Setup (loading or exporting the model,
preparing the avatar, the first call) comes before the camera starts and is not in the figures. The
output goes to a callback that keeps nothing (no encoding); `--record` also records it to an .mp4 file
(in-process H.264, deleted afterwards), whose cost shows in the `output` column.

Models: `tpsmm` (ppgan/apps/default_model_tpsmm, the project's default) and `fomm`
(ppgan/apps/default_model), both 64x64 and shipped with their weights; `tpsmm-vox256` and `fomm-vox256`
(configs/tpsmm_vox_256.yaml, configs/firstorder_vox_256.yaml) or any config file, with random weights
written once into the work folder as benchmarks/animate.py writes them (speed does not depend on their
values). Static backends export into $PPGAN_CACHE_DIR if set, else WORKDIR/export-cache.

Columns (one row per run, markdown): frames out / camera = frames animated / frames the camera
delivered; dropped = the camera's frames never animated; frames/s = output frames per second, first to
last output; latency = from a frame's capture (its due time in the clip) to its output reaching the
sinks, p50 / p95 / max over every output frame; then mean milliseconds per output frame of each part:
decode (in the camera's thread, in parallel with the rest: over its last 250 frames), wait (the frame
waiting in the camera's slot for the session to finish the previous one), detect (face tracking: the
detector on one frame in 5, the square's update on all), model (cutting the face square, keypoints,
generator), composite (pasting into the avatar at the output size), output (the sinks). latency =
wait + detect + model + composite + output. faces = frames on which the detector ran / found a face;
load = the 1-minute load average before and after the run; run = the session's seconds, from starting
the camera to the last output (about the clip's length, unless the camera's thread was held back);
setup = seconds from building the model to the camera's start; peak = the process's peak RSS.

The camera's thread needs Python's interpreter lock between frames. ONNX Runtime and Paddle's dygraph
release it while they compute; Paddle Inference holds it for its whole call (a thread waking every
millisecond is held for a whole model call), so with `--backend inference` the camera falls behind the
clip's clock while the model runs: `decode` then includes the time it was held, `run s` grows past the
clip's length and the latency includes the delay (a note after the table says so), as a real camera
would hand over stale buffered frames.
"""
import argparse
import json
import os
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

SEED = 7
CAMERA_IDENTITY, AVATAR_IDENTITY = 2, 1
FACE_FRACTION = 0.75  # side of the face's square, as a fraction of the camera frame's height
AVATAR_SIDE = 512
# name: (config, weights, label); weights None: random ones
MODELS = {
    "tpsmm": ("ppgan/apps/default_model_tpsmm/config.yaml", "ppgan/apps/default_model_tpsmm/weights.pdparams",
              "TPSMM shipped"),
    "fomm": ("ppgan/apps/default_model/config.yaml", "ppgan/apps/default_model/weights.pdparams", "FOMM shipped"),
    "tpsmm-vox256": ("configs/tpsmm_vox_256.yaml", None, "TPSMM vox-256"),
    "fomm-vox256": ("configs/firstorder_vox_256.yaml", None, "FOMM vox-256"),
}
COLUMNS = ("model", "size", "backend", "frames out / camera", "dropped", "frames/s", "latency p50 / p95 / max ms",
           "decode", "wait", "detect", "model ms", "composite", "output", "faces", "load", "run s", "setup s",
           "peak MB")

# The parent process uses the standard library only: Paddle, numpy and ppgan are imported by the children.


def _model(name):
    """(config path, weights path or None, label) of a --models item: a name of MODELS or a config file."""
    if name in MODELS:
        config, weights, label = MODELS[name]
        return os.path.join(REPO, config), weights and os.path.join(REPO, weights), label
    path = os.path.abspath(name)
    if not (name.endswith((".yaml", ".yml")) and os.path.isfile(path)):
        raise SystemExit("live.py: error: --models takes %s, or a config file; '%s' is neither"
                         % (", ".join(MODELS), name))
    return path, None, os.path.splitext(os.path.basename(path))[0]


# ---------------------------------------------------------------------------------------------------------------
# child processes


def _camera_frames(num_frames, width, height):
    """The camera's frames (uint8 RGB, height x width), rendered one at a time: the cartoon face's square,
    with its patterned background, centred on a plain wall."""
    import numpy as np

    from ppgan.datasets import synthetic

    identity = synthetic.random_identity(np.random.RandomState([SEED, CAMERA_IDENTITY]))
    motion = synthetic.random_motion(np.random.RandomState([SEED, CAMERA_IDENTITY, 1]), num_frames)
    side = int(round(FACE_FRACTION * height)) // 2 * 2
    background = synthetic.render_background(identity, side * synthetic.SUPERSAMPLE)
    wall = np.empty((height, width, 3), np.uint8)
    wall[...] = np.linspace(200, 150, height)[:, None, None].astype(np.uint8) * np.array([1.0, 0.97, 0.9])
    top, left = (height - side) // 2, (width - side) // 2
    for i in range(num_frames):
        frame = wall.copy()
        frame[top:top + side, left:left + side] = synthetic.render_face(identity, motion, i, side, background)
        yield frame


def prepare(spec):
    """The camera clip and the avatar in spec['work'] (kept if already there), random weights of the configs that
    have none, and what the face detector finds in the clip and the avatar."""
    import numpy as np

    from ppgan.apps import face_crop
    from ppgan.apps.live import FaceTracker, detection_copy
    from ppgan.datasets import synthetic
    from ppgan.utils.video import count_frames, iter_frames, save_image, write_video

    width, height, fps, seconds = spec["width"], spec["height"], spec["fps"], spec["seconds"]
    num_frames = max(2, int(round(seconds * fps)))
    made = {"camera": os.path.join(spec["work"], "camera-%dx%d-%gfps-%d.mp4" % (width, height, fps, num_frames)),
            "avatar": os.path.join(spec["work"], "avatar-%d.png" % AVATAR_SIDE), "weights": {}}
    if not os.path.exists(made["camera"]):
        start = time.perf_counter()
        write_video(made["camera"], _camera_frames(num_frames, width, height), fps=fps)
        print("generated the camera clip %s (%dx%d, %g fps, %d frames) in %.1f s"
              % (made["camera"], width, height, fps, num_frames, time.perf_counter() - start), flush=True)
    made["frames"] = count_frames(made["camera"])
    if not os.path.exists(made["avatar"]):
        identity = synthetic.random_identity(np.random.RandomState([SEED, AVATAR_IDENTITY]))
        motion = synthetic.random_motion(np.random.RandomState([SEED, AVATAR_IDENTITY, 1]), 1)
        save_image(made["avatar"], synthetic.render_face(identity, motion, 0, AVATAR_SIDE))

    # the tracker's own detection path (reduced copy, the detector the session picks), on every frame
    detector = face_crop.face_detector(spec["face_detector"])
    tracker = FaceTracker(detector, detect_every=1)
    found = 0
    for frame in iter_frames(made["camera"]):
        tracker.update(frame)
        found += bool(tracker.face_visible)
    copy = detection_copy(np.zeros((height, width, 3), np.uint8))[0]
    made["face_check"] = {"detector": type(detector).__name__, "found": found, "frames": made["frames"],
                          "copy": "%dx%d" % (copy.shape[1], copy.shape[0]),
                          "avatar": bool(face_crop.detect_faces(_avatar_image(made["avatar"]), detector))}

    from animate import prepare as prepare_model  # random weights, written as benchmarks/animate.py writes them

    for config, weights in spec["models"]:
        if weights is None:
            made["weights"][config] = prepare_model({"config": config, "weight_path": None, "work": spec["work"],
                                                     "image_size": None, "video_size": None, "videos": [],
                                                     "paddlegan": False})["weights"]
    return made


def _avatar_image(path):
    """The avatar image as the session reads it (float RGB in [0, 1])."""
    from ppgan.utils.image import to_rgb_float
    from ppgan.utils.video import read_image

    return to_rgb_float(read_image(path), "avatar '%s'" % path)


class CountingDetector:
    """A face detector that counts its runs and the runs that found a face (everything else is the detector's)."""

    def __init__(self, detector):
        self.detector = detector
        self.runs = 0
        self.found = 0

    def detect(self, image):
        faces = self.detector.detect(image)
        self.runs += 1
        self.found += bool(len(faces))
        return faces

    def __getattr__(self, name):
        return getattr(self.detector, name)


def _peak_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def measure(spec):
    """One live session on the camera clip, in this fresh process; returns its figures."""
    import numpy as np

    import ppgan  # noqa: F401
    from ppgan.apps import live
    from ppgan.apps.demo import _set_device, make_predictor
    from ppgan.apps.live_demo import build_parser, check_args

    argv = ["--driving_video", spec["camera"], "--source_image", spec["avatar"], "--config", spec["config"],
            "--weight_path", spec["weights"], "--backend", spec["backend"], "--no-window", "--cpu",
            "--face_detector", spec["face_detector"], "--detect_every", str(spec["detect_every"])]
    if spec["threads"] is not None:
        argv += ["--threads", str(spec["threads"])]
    args = build_parser().parse_args(argv)
    check_args(args)
    start = time.perf_counter()
    _set_device(args.cpu)
    args.batch_size = 1  # as live_demo.py: live frames come one at a time
    predictor = make_predictor(args.config, args.weight_path, args)
    session = live.LiveSession(predictor, [args.source_image], crop=args.crop, view=args.view,
                               output_size=args.output_size, ratio=args.ratio, face_detector=args.face_detector,
                               detect_every=args.detect_every, mirror=args.mirror, zoom=args.zoom,
                               find_keyframe=args.find_keyframe)
    session.prepare()
    setup = time.perf_counter() - start
    detector = session.tracker.detector = CountingDetector(session.tracker.detector)
    camera = live.VideoCamera(args.driving_video).open()
    sinks = [live.CallbackSink(lambda frame, session: None)]
    recording = None
    if spec["record"]:
        recording = live.VideoSink(os.path.join(spec["out_dir"], "live-recording.mp4"), camera.fps)
        sinks.append(recording)
    load_before = os.getloadavg()[0]
    began = time.perf_counter()
    report = session.run(camera, sinks)
    elapsed = time.perf_counter() - began
    load_after = os.getloadavg()[0]
    if recording is not None and os.path.exists(recording.path):
        os.unlink(recording.path)
    if report.error:
        raise SystemExit("the session ended early: %s" % report.error)
    latency = report.latency_ms()
    figures = {"frames": report.frames, "captured": report.captured, "dropped": report.dropped,
               "fps": report.fps, "latency_p50": float(np.percentile(latency, 50)),
               "latency_p95": float(np.percentile(latency, 95)), "latency_max": float(latency.max()),
               "latency_mean": float(latency.mean()),
               "decode": 1000.0 * float(np.mean(camera.decode_seconds)) if camera.decode_seconds else None,
               "detector_runs": detector.runs, "detector_found": detector.found,
               "recorded": recording.frames if recording is not None else None,
               "size": session.size[0], "threads": getattr(predictor, "num_threads", None),
               "backend": getattr(predictor, "backend", spec["backend"]), "camera_fps": camera.fps,
               "load": [load_before, load_after], "setup": setup, "run": elapsed, "peak_mb": _peak_mb()}
    for stage in ("wait", "detect", "model", "composite", "output"):
        figures[stage] = float(np.mean(report.stage_ms(stage)))
    return figures


def child(task, spec_json):
    from ppgan.utils.cli import quiet_warnings
    from ppgan.utils.cpu import configure_math_library

    quiet_warnings()
    configure_math_library()  # as live_demo.py (ppgan.utils.cli.run_program), before the first MKL call
    spec = json.loads(spec_json)
    figures = {"prepare": prepare, "measure": measure}[task](spec)
    with open(spec["result"], "w") as f:
        json.dump(figures, f)


# ---------------------------------------------------------------------------------------------------------------
# the parent: runs the children and prints


def _run(task, spec):
    from animate import run_child  # a fresh process per configuration, as benchmarks/animate.py runs its own

    return run_child(__file__, task, spec)


def _ms(value):
    return "-" if value is None else "%.1f" % value


def row(label, backend, r):
    """One markdown row of a run's figures."""
    dropped = 100.0 * r["dropped"] / max(r["captured"], 1)
    return "| " + " | ".join([
        label, "%d" % r["size"], backend, "%d / %d" % (r["frames"], r["captured"]),
        "%d (%.1f%%)" % (r["dropped"], dropped), "-" if r["fps"] is None else "%.1f" % r["fps"],
        "%.0f / %.0f / %.0f" % (r["latency_p50"], r["latency_p95"], r["latency_max"]),
        _ms(r["decode"]), _ms(r["wait"]), _ms(r["detect"]), _ms(r["model"]), _ms(r["composite"]), _ms(r["output"]),
        "%d / %d" % (r["detector_found"], r["detector_runs"]), "%.1f -> %.1f" % tuple(r["load"]),
        "%.1f" % r["run"], "%.1f" % r["setup"], "%.0f" % r["peak_mb"]]) + " |"


def _size(text):
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError("expected WxH such as 640x480, got %r" % text) from None
    if width < 64 or height < 64 or width % 2 or height % 2:
        raise argparse.ArgumentTypeError("width and height must be even and at least 64, got %r" % text)
    return width, height


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["tpsmm", "fomm"], metavar="MODEL",
                        help="%s, or a config file (random weights) (default: tpsmm fomm)" % ", ".join(MODELS))
    parser.add_argument("--backend", nargs="+", default=["onnx"], choices=("onnx", "inference", "dygraph", "auto"),
                        help="where the model runs (default: onnx, what auto picks on CPU)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the camera clip (default: 10)")
    parser.add_argument("--fps", type=float, default=25.0, help="the camera's frame rate (default: 25)")
    parser.add_argument("--camera-size", type=_size, default=(640, 480), metavar="WxH",
                        help="the camera's frame size (default: 640x480)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each configuration (default: 1)")
    parser.add_argument("--record", action="store_true",
                        help="also record the output to an .mp4 file (H.264 in process), as live_demo.py --output")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads of the model (default: the demo's, every core this process may use)")
    parser.add_argument("--detect-every", type=int, default=5, metavar="N",
                        help="run the face detector on one camera frame in N (default: 5, the demo's)")
    parser.add_argument("--face-detector", default="auto", choices=("auto", "dlib", "haar"),
                        help="the tracker's face detector (default: auto, the demo's: dlib when installed)")
    parser.add_argument("--workdir", default=None,
                        help="keep the clip, the avatar, random weights and exports here and reuse them (default: a "
                             "temporary folder, deleted at the end)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write every run's figures to FILE")
    parser.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return
    for flag, value, low in (("--seconds", args.seconds, 0.2), ("--fps", args.fps, 1), ("--repeat", args.repeat, 1),
                             ("--detect-every", args.detect_every, 1), ("--threads", args.threads or 1, 1)):
        if value < low:
            parser.error("%s must be at least %g, got %g" % (flag, low, value))
    models = [_model(name) for name in args.models]

    with tempfile.TemporaryDirectory(prefix="ppgan-live-bench-") as tmp:
        work = os.path.abspath(args.workdir or tmp)
        os.makedirs(work, exist_ok=True)
        result = os.path.join(tmp, "figures.json")
        width, height = args.camera_size
        made = _run("prepare", {"work": work, "width": width, "height": height, "fps": args.fps,
                                "seconds": args.seconds, "face_detector": args.face_detector, "result": result,
                                "models": [[config, weights] for config, weights, _ in models]})
        check = made["face_check"]
        print("camera: %s played at %g fps (%d frames of %dx%d)"
              % (os.path.basename(made["camera"]), args.fps, made["frames"], width, height))
        print("face check: %s found the face in %d of %d camera frames (on the tracker's %s copy); in the avatar: %s"
              % (check["detector"], check["found"], check["frames"], check["copy"], "yes" if check["avatar"]
                 else "NO (it is animated whole)"))
        print("output: %s; load: the 1-minute load average of %d cores before -> after the run"
              % ("a callback and an .mp4 recording (H.264)" if args.record else "a callback (no encoding)",
                 len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()), flush=True)
        os.environ.setdefault("PPGAN_CACHE_DIR", os.path.join(work, "export-cache"))
        header_printed = False
        runs, held = [], []
        for config, weights, label in models:
            weights = weights or made["weights"][config]
            for backend in args.backend:
                for _ in range(args.repeat):
                    spec = {"camera": made["camera"], "avatar": made["avatar"], "config": config,
                            "weights": weights, "backend": backend, "threads": args.threads,
                            "face_detector": args.face_detector, "detect_every": args.detect_every,
                            "record": args.record, "out_dir": tmp, "result": result}
                    r = _run("measure", spec)
                    if not header_printed:
                        print("threads: %s; ms columns: mean per output frame" % r["threads"])
                        print("| " + " | ".join(COLUMNS) + " |")
                        print("|" + "---|" * len(COLUMNS), flush=True)
                        header_printed = True
                    shown = backend if backend != "auto" else "auto (%s)" % r["backend"]
                    print(row(label, shown, r), flush=True)
                    runs.append(dict(r, label=label, config=config, requested_backend=backend))
                    if r["run"] > 1.2 * made["frames"] / args.fps + 2.0:  # + one slow frame at the end
                        held.append("%s on %s: %.1f s" % (label, shown, r["run"]))
        if held:
            print("note: the camera fell behind the clip's clock (%.1f s) in %s: its thread was held back (see "
                  "--help), so those latencies include the delay" % (made["frames"] / args.fps, "; ".join(held)))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(runs, f, indent=1)


if __name__ == "__main__":
    main()
