"""Exported models: the animation graphs as Paddle static models (and ONNX), and their cache.

An export folder holds, per graph of :mod:`ppgan.apps.graphs`, ``<name>.json`` (``.pdmodel`` on
Paddle 2.x) and ``<name>.pdiparams``, optionally ``<name>.onnx``, and ``manifest.json`` describing
them (model family, frame size, keypoints, inputs). Folders appear complete or not at all: everything
is written to a temporary folder that is renamed into place.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import warnings

from ppgan.utils.errors import InputError, PPGanError
from ppgan.utils.io import cache_root, temp_dir_next_to  # noqa: F401 (cache_root: the exports live under it)
from ppgan.utils.logger import drop_native_messages, get_logger

from .graphs import build_graphs, input_specs

logger = get_logger("ppgan.apps")

FORMAT = "ppgan-fomm-export"
VERSION = 1
# Paddle 3.3 warns on every traced tensor addition (paddle.add's new `out=` argument), Paddle 2.6 says that it runs
# its new executor: neither is about our graphs
TRACING_NOISE = (re.compile(r"static graph\(PIR\) not support input out tensor"),
                 re.compile(r"^I\d{4} .*New Executor is Running"))
MANIFEST = "manifest.json"
ONNX_OPSET = 16  # GridSample entered ONNX in opset 16
ONNX_HELP = ("paddle2onnx and onnxruntime are requirements of the install: pip install paddle2onnx onnxruntime "
             "(with Paddle 2.6: pip install \"paddle2onnx<2\" onnxruntime)")


class ExportError(PPGanError):
    """A model cannot be exported, or an export folder is missing, incomplete or of another version."""


class OnnxConversionError(ExportError):
    """paddle2onnx is missing or could not convert an exported model."""


def _sha256(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _model_file(folder, name):
    """The program file paddle.jit.save wrote: PIR json on Paddle 3, a protobuf .pdmodel on Paddle 2."""
    for ext in (".json", ".pdmodel"):
        if os.path.isfile(os.path.join(folder, name + ext)):
            return name + ext
    raise ExportError("paddle.jit.save wrote no program file for '%s' in %s" % (name, folder))


def is_export(folder):
    """True if `folder` holds a finished export (its manifest is written last)."""
    return os.path.isfile(os.path.join(folder, MANIFEST))


def check_output_dir(output_dir):
    """Refuse a target that is a file or a non-empty folder other than an earlier export (never overwritten)."""
    if os.path.isfile(output_dir):
        raise InputError("--output_dir '%s' is a file; give a folder" % output_dir)
    if os.path.isdir(output_dir) and os.listdir(output_dir) and not is_export(output_dir):
        raise InputError("--output_dir '%s' is a non-empty folder that holds no exported model; give a new or "
                         "empty folder (an earlier export there is replaced)" % output_dir)


def _move_into_place(tmp, output_dir):
    """Rename the finished `tmp` folder to `output_dir`, replacing an empty folder or an earlier export."""
    old = None
    if os.path.isdir(output_dir):
        if os.listdir(output_dir):
            old = temp_dir_next_to(output_dir, suffix=".old")
            os.rmdir(old)
            os.replace(output_dir, old)
        else:
            os.rmdir(output_dir)
    os.replace(tmp, output_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export_model(kp_detector, generator, output_dir, image_size, onnx=False, source=None, avd_network=None,
                 model="FirstOrderModel", animate=None):
    """Export loaded nets as static graphs at frame size `image_size` (H, W) into `output_dir`: the keypoint
    detector, source encoder and frame generator, and the AVD network when given.

    The batch dimension stays dynamic. With `onnx`, each graph is also converted to ONNX. `source`
    (a dict, e.g. config and weights paths), `model` (the model family) and `animate` (the model's own animation
    defaults, e.g. TPSMM's {"mode": ...}) are recorded in the manifest.
    Returns the manifest.
    """
    import paddle

    check_output_dir(output_dir)
    h, w = (int(n) for n in image_size)
    graphs = build_graphs(kp_detector, generator, avd_network)
    with paddle.no_grad():
        blank = paddle.zeros([1, 3, h, w])
        keypoints = graphs["kp_detector"](blank)
        features = graphs["source_encoder"](blank)
    names = graphs["kp_detector"].keypoint_names
    shapes = {name: [int(n) for n in kp.shape[1:]] for name, kp in zip(names, keypoints)}
    specs = input_specs(shapes, (h, w), features.shape[1:], with_avd=avd_network is not None)
    tmp = temp_dir_next_to(output_dir)
    try:
        entries = {}
        for name in graphs:
            with warnings.catch_warnings(), drop_native_messages(*TRACING_NOISE):
                # zeros_like asks its input for a device, which a graph being traced does not have yet
                warnings.filterwarnings("ignore", message=".*do not have 'place'.*")
                # Paddle 2.6 deprecates an attribute its own fill_constant op sets (a warning per traced constant)
                warnings.filterwarnings("ignore", message=r"The Attr\(force_cpu\) of Op\(fill_constant\)",
                                        category=UserWarning)
                paddle.jit.save(graphs[name], os.path.join(tmp, name), input_spec=specs[name])
            entries[name] = {"model": _model_file(tmp, name), "params": name + ".pdiparams",
                             "inputs": [spec.name for spec in specs[name]]}
        manifest = {"format": FORMAT, "version": VERSION, "model": model, "image_size": [h, w],
                    "num_kp": int(keypoints[0].shape[1]), "has_jacobian": "jacobian" in names,
                    "keypoint_names": list(names), "keypoint_shapes": shapes,
                    "feature_shape": [int(n) for n in features.shape[1:]],
                    "align_corners": bool(generator.align_corners), "paddle_version": paddle.__version__,
                    "graphs": entries, "source": source or {}, "animate": dict(animate or {})}
        if onnx:
            convert_to_onnx(tmp, manifest)
        _write_manifest(tmp, manifest)
        _move_into_place(tmp, output_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _write_manifest(folder, manifest):
    with open(os.path.join(folder, MANIFEST), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)


# paddle2onnx 2.x folds constants with polygraphy and turns on polygraphy's automatic installation of missing
# packages (POLYGRAPHY_AUTOINSTALL_DEPS=1: `pip install onnx_graphsurgeon` from an extra index, at run time). Its
# setting is read once, when polygraphy.config is first imported: importing it first, and switching it off, keeps
# any installer from running. onnx-graphsurgeon is a requirement instead; without it the folding is skipped.
_ONNX_SCRIPT = """
import json, sys
try:
    import polygraphy.config
    polygraphy.config.AUTOINSTALL_DEPS = False
except ImportError:
    pass
import paddle2onnx
folder, opset = sys.argv[1], int(sys.argv[2])
for name, entry in json.loads(sys.argv[3]).items():
    paddle2onnx.export(folder + "/" + entry["model"], folder + "/" + entry["params"],
                       save_file=folder + "/" + name + ".onnx", opset_version=opset, verbose=False)
"""


def onnx_available():
    """True when both halves of the ONNX path are installed (paddle2onnx to convert, onnxruntime to run)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("paddle2onnx", "onnxruntime"))


def _major(version):
    """The major number of a version string ('2.6.2' -> 2); a development build ('0.0.0') counts as the newest."""
    major = int(re.match(r"\d+", version).group())
    return major if major > 0 else 99


def converter_mismatch():
    """Why the installed paddle2onnx cannot read the programs this Paddle writes, or None if it can.

    paddle2onnx 2.x reads Paddle 3's programs and refuses to run with Paddle 2; 1.x reads Paddle 2's
    (.pdmodel) only. Which one is installed is chosen at install time (docs/en_US/install.md, the
    `paddle26` extra), and checked here, before a conversion starts."""
    import importlib.metadata

    import paddle

    try:
        converter = importlib.metadata.version("paddle2onnx")
    except importlib.metadata.PackageNotFoundError:
        return None
    if _major(paddle.__version__) < 3 and _major(converter) >= 2:
        return ("paddle2onnx %s converts Paddle 3's programs only, and this is Paddle %s: install the release "
                "that reads Paddle 2.6's, pip install \"paddle2onnx<2\"" % (converter, paddle.__version__))
    if _major(converter) < 2 and _major(paddle.__version__) >= 3:
        return ("paddle2onnx %s reads Paddle 2's programs only, and this is Paddle %s: pip install "
                "\"paddle2onnx>=2\"" % (converter, paddle.__version__))
    return None


def convert_to_onnx(folder, manifest):
    """Add `<name>.onnx` for every graph of the export in `folder` (paddle2onnx, opset 16); updates `manifest`.

    paddle2onnx aborts the whole process on an unsupported operator, so it runs in a child process
    whose failure becomes one error message.
    """
    import importlib.util

    if importlib.util.find_spec("paddle2onnx") is None:
        raise OnnxConversionError("ONNX export needs paddle2onnx: " + ONNX_HELP)
    mismatch = converter_mismatch()
    if mismatch:
        raise OnnxConversionError(mismatch)
    graphs = manifest["graphs"]
    proc = subprocess.run([sys.executable, "-c", _ONNX_SCRIPT, folder, str(ONNX_OPSET), json.dumps(graphs)],
                          capture_output=True, text=True)
    missing = [name for name in graphs if not os.path.isfile(os.path.join(folder, name + ".onnx"))]
    if proc.returncode != 0 or missing:
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if "ERROR" in ln or "Error" in ln]
        # paddle2onnx 1.x names the operators it cannot convert on a line of its own, then aborts
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if "not supported" in ln] or lines
        raise OnnxConversionError("paddle2onnx could not convert the exported model (exit %d): %s"
                          % (proc.returncode, (lines[-1] if lines else "no message").strip()))
    for name in graphs:
        graphs[name]["onnx"] = name + ".onnx"


def has_onnx(manifest):
    """Whether every graph of an export's manifest has its ONNX file."""
    return all("onnx" in entry for entry in manifest["graphs"].values())


def add_onnx(folder):
    """Convert an existing export to ONNX in place (each file renamed into place); returns the manifest."""
    manifest = read_manifest(folder)
    if has_onnx(manifest):
        return manifest
    tmp = temp_dir_next_to(folder)
    try:
        for entry in manifest["graphs"].values():
            for key in ("model", "params"):
                os.symlink(os.path.abspath(os.path.join(folder, entry[key])), os.path.join(tmp, entry[key]))
        convert_to_onnx(tmp, manifest)
        for name in manifest["graphs"]:
            os.replace(os.path.join(tmp, name + ".onnx"), os.path.join(folder, name + ".onnx"))
        _write_manifest(tmp, manifest)
        os.replace(os.path.join(tmp, MANIFEST), os.path.join(folder, MANIFEST))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def read_manifest(folder):
    """The manifest of an export folder, checked for format, version and files."""
    path = os.path.join(folder, MANIFEST)
    if not os.path.isdir(folder):
        raise ExportError("exported model folder '%s' does not exist; create one with tools/export_model.py" % folder)
    if not os.path.isfile(path):
        raise ExportError("'%s' holds no %s: it is not an exported model; create one with tools/export_model.py"
                          % (folder, MANIFEST))
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise ExportError("cannot read '%s' (%s); export the model again" % (path, e)) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ExportError("'%s' is not a ppgan-fomm export manifest; export the model again" % path)
    if manifest.get("version") != VERSION:
        raise ExportError("'%s' was written by another version of the exporter (version %s, this one reads %d); "
                          "export the model again" % (folder, manifest.get("version"), VERSION))
    for entry in manifest["graphs"].values():
        for key in ("model", "params", "onnx"):
            if key in entry and not os.path.isfile(os.path.join(folder, entry[key])):
                raise ExportError("'%s' misses %s; export the model again" % (folder, entry[key]))
    return manifest


def _code_digest():
    """A digest of the code that defines the graphs, so that an export made by other code is not reused."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digest = hashlib.sha256()
    for folder in ("modules", os.path.join("models", "generators"), "apps"):
        path = os.path.join(root, folder)
        for name in sorted(os.listdir(path)):
            if name.endswith(".py") and (folder != "apps" or name in ("graphs.py", "export.py")):
                with open(os.path.join(path, name), "rb") as f:
                    digest.update(name.encode() + f.read())
    return digest.hexdigest()


def cache_folder(model_config, weight_path, image_size):
    """The cache folder of this model exported at `image_size` (it may not exist yet)."""
    import paddle

    key = json.dumps({"model": model_config, "weights": _sha256(weight_path), "image_size": list(image_size),
                      "paddle": paddle.__version__, "code": _code_digest(), "version": VERSION},
                     sort_keys=True, default=str)
    return os.path.join(cache_root(), "exports", hashlib.sha256(key.encode()).hexdigest()[:20])


def cached_export(kp_detector, generator, folder, image_size, onnx=False, weight_path=None, avd_network=None,
                  model="FirstOrderModel", animate=None):
    """Export into the cache `folder` (from cache_folder) unless it is there already; returns `folder`."""
    from . import cache

    if is_export(folder):
        cache.touch(folder)
        if onnx:
            if not has_onnx(read_manifest(folder)):  # the ONNX graphs hold the weights once more
                cache.check_free_space(folder, cache.folder_bytes(folder))
            add_onnx(folder)
        return folder
    cache.check_free_space(folder, cache.export_bytes(kp_detector, generator, avd_network))
    logger.info("exporting the model at %dx%d for faster inference (once; cached in %s)",
                image_size[1], image_size[0], folder)
    try:
        export_model(kp_detector, generator, folder, image_size, onnx=onnx,
                     source={"weights": os.path.abspath(weight_path)} if weight_path else None,
                     avd_network=avd_network, model=model, animate=animate)
    except OSError as e:
        raise ExportError("cannot write the export cache %s (%s): set PPGAN_CACHE_DIR to a writable folder, or "
                          "use the dygraph backend (--backend dygraph)" % (folder, e.strerror or e)) from None
    cache.prune(keep=[folder])
    return folder
