#!/usr/bin/env python
"""Print where Paddle Inference spends its time, operator by operator, in each exported graph.

    python benchmarks/inference_profile.py                                     # FOMM vox-256, batch 1
    python benchmarks/inference_profile.py --batch-size 8 --runs 4
    python benchmarks/inference_profile.py -c configs/tpsmm_vox_256.yaml --graphs frame_generator
    python benchmarks/inference_profile.py --workdir /tmp/bench/vox            # reuse benchmarks/animate.py's

The model is exported once (random weights unless --weight_path; speed does not depend on their
values) into WORKDIR/export-cache, as `--backend inference` does. Every graph is then run by Paddle
Inference on the CPU (oneDNN, --threads threads) with Paddle's own operator profiler switched on
(`Config.enable_profile()`), in a child process whose report is read back. What the first calls
record (they make the graph's inputs, and oneDNN creates its primitives then) is dropped, so the
figures are those of --runs steady-state calls. Columns: ms per call of each operator type (summed
over its instances in the graph), its instances per call, share of the graph's operator time.
`wall` is the measured time of one graph call, profiler overhead included.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

GRAPHS = ("kp_detector", "source_encoder", "frame_generator")
OP_LINE = re.compile(r"^thread\d+::(\S+)\s+(\d+)\s+([0-9.eE+-]+)\s")
MARK = "PROFILE-RESULT "
CONV_OPS = ("conv2d", "fused_conv2d", "depthwise_conv2d", "conv2d_transpose")


def export(spec):
    """The export folder of spec's model at its frame size (made once into the work folder's cache)."""
    import paddle

    from animate import prepare
    from ppgan.apps import predictor_class

    paddle.set_device("cpu")
    spec.update(prepare(dict(spec, videos=[], video_size=None)))
    cls = predictor_class(spec["config"])
    predictor = cls(config=spec["config"], weight_path=spec["weights"], image_size=spec["image_size"],
                    backend="inference", num_threads=spec["threads"])
    return predictor.prepare_backend().model_dir, spec["source"]


def child(spec):
    """Run one graph `spec['graph']` `spec['runs']` times after making its inputs; print the wall time."""
    import numpy as np

    from ppgan.apps.backends import InferenceBackend
    from ppgan.utils.video import read_image

    backend = InferenceBackend(spec["model_dir"], "cpu", spec["threads"], profile=(spec["graph"],))
    source = read_image(spec["source"]).astype(np.float32)[None].transpose(0, 3, 1, 2) / 255.0  # the model's size
    source = np.ascontiguousarray(source)
    rng = np.random.RandomState(0)
    driving = np.clip(source + rng.normal(0, 0.02, (spec["batch_size"],) + source.shape[1:]), 0, 1)
    driving = driving.astype(np.float32)
    kp_source = backend.keypoints(source)
    kp_driving = backend.keypoints(driving)
    state = backend.prepare_source(source)
    call = {"kp_detector": lambda: backend.keypoints(driving),
            "source_encoder": lambda: backend.prepare_source(source),
            "frame_generator": lambda: backend.generate(state, kp_source, kp_driving)}[spec["graph"]]
    call()
    from paddle.base import core

    core.reset_profiler()  # drop what the calls so far recorded (oneDNN's primitive creation among them)
    start = time.perf_counter()
    for _ in range(spec["runs"]):
        call()
    wall = (time.perf_counter() - start) / max(spec["runs"], 1)
    print(MARK + json.dumps({"wall": wall}), flush=True)
    del backend  # the profiled predictor prints its report now


def profile(spec, top):
    """Run a child for spec['graph'], print its operators ranked by time; returns the figures."""
    # the profiler also writes a binary profile.log into the current folder: the work folder's
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)],
                          capture_output=True, text=True, cwd=spec["work"])
    if proc.returncode != 0:
        sys.exit("profiling %s failed:\n%s" % (spec["graph"], proc.stderr[-3000:]))
    ops, wall = defaultdict(lambda: [0.0, 0.0]), None
    for line in (proc.stdout + "\n" + proc.stderr).splitlines():
        if line.startswith(MARK):
            wall = json.loads(line[len(MARK):])["wall"]
        match = OP_LINE.match(line.strip()) if line.startswith("thread") else None
        if match:  # thread<N>::<dialect>.<op>  calls  total ms ...
            name = match.group(1).split(".", 1)[-1]
            ops[name][0] += int(match.group(2)) / spec["runs"]
            ops[name][1] += float(match.group(3)) / spec["runs"]
    if not ops or wall is None:
        sys.exit("Paddle Inference printed no operator profile for %s (Config.enable_profile)" % spec["graph"])
    summed = sum(ms for _, ms in ops.values())
    conv = sum(ms for name, (_, ms) in ops.items() if name in CONV_OPS)
    print("\n%s, batch %d: wall %.1f ms per call, operators %.1f ms, convolutions %.1f ms (%.0f%%)"
          % (spec["graph"], spec["batch_size"], wall * 1000, summed, conv, 100 * conv / summed))
    print("  %-32s %10s %8s %7s" % ("operator", "ms/call", "calls", "share"))
    ranked = sorted(ops.items(), key=lambda item: -item[1][1])
    for name, (calls, ms) in ranked[:top]:
        print("  %-32s %10.2f %8.0f %6.1f%%" % (name, ms, calls, 100 * ms / summed))
    rest = ranked[top:]
    if rest:
        ms = sum(v[1] for _, v in rest)
        print("  %-32s %10.2f %8.0f %6.1f%%" % ("(%d others)" % len(rest), ms, sum(v[0] for _, v in rest),
                                              100 * ms / summed))
    return {"wall_ms": wall * 1000, "ops": {name: {"calls": c, "ms": ms} for name, (c, ms) in ranked}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("-c", "--config", default="configs/firstorder_vox_256.yaml", help="the model config")
    parser.add_argument("--weight_path", default=None, help="weights to export (default: random ones)")
    parser.add_argument("--image-size", type=int, default=None, help="frame side (default: the config's)")
    parser.add_argument("--batch-size", type=int, default=1, help="driving frames per call of kp_detector and "
                                                                  "frame_generator")
    parser.add_argument("--runs", type=int, default=3, help="profiled steady-state calls per graph")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads (oneDNN/MKL)")
    parser.add_argument("--graphs", nargs="+", choices=GRAPHS, default=list(GRAPHS), help="graphs to profile")
    parser.add_argument("--top", type=int, default=12, help="operator types listed per graph (the rest summed)")
    parser.add_argument("--workdir", default=None,
                        help="folder for the random weights and the export (default: a temporary one)")
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the figures to FILE")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(json.loads(args.child))
    if args.runs < 1 or args.batch_size < 1:
        parser.error("--runs and --batch-size must be at least 1")
    import paddle

    if paddle.__version__.split(".")[0] == "2":
        sys.exit("benchmarks/inference_profile.py needs Paddle 3: Paddle %s's Paddle Inference records no operator "
                 "profile (Config.enable_profile prints nothing on its CPU wheel)" % paddle.__version__)
    with tempfile.TemporaryDirectory() as scratch:
        work = os.path.abspath(args.workdir or scratch)
        os.makedirs(work, exist_ok=True)
        os.environ["PPGAN_CACHE_DIR"] = os.path.join(work, "export-cache")
        spec = {"config": args.config, "weight_path": args.weight_path, "image_size": args.image_size,
                "work": work, "threads": args.threads, "batch_size": args.batch_size}
        model_dir, source = export(spec)
        print("%s, Paddle Inference (oneDNN), %d threads, export %s" % (args.config, args.threads, model_dir))
        results = {}
        for graph in args.graphs:
            results[graph] = profile({"model_dir": model_dir, "source": source, "graph": graph, "work": work,
                                     "threads": args.threads, "batch_size": args.batch_size, "runs": args.runs},
                                    args.top)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
