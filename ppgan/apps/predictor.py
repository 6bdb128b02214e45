"""What every animation predictor shares: loading a model (config + weights, or an export), the backend
that runs its graphs, CPU threads, frame preparation and batching, the best reference frame, and streaming
animation. A model family's predictor says how driving keypoints are normalised."""
import contextlib
import copy
import ctypes
import functools
import os

import numpy as np
import paddle

from ppgan.models.builder import build_inference_nets, model_family
from ppgan.models.firstorder_model import check_frame_size
from ppgan.modules.geometry import shape_distance
from ppgan.utils.checkpoint import load_weights, read_weights
from ppgan.utils.config import load_config, read_config_file
from ppgan.utils.errors import CheckpointError, ConfigError, InputError
from ppgan.utils.image import fit_to_size, to_rgb_float
from ppgan.utils.logger import get_logger
from ppgan.utils.registry import Registry

from .backends import BACKENDS, DygraphBackend, InferenceBackend, OnnxBackend, auto_backend, check_device
from .export import OnnxConversionError, add_onnx, cache_folder, cached_export, is_export, read_manifest
from .graphs import build_graphs

logger = get_logger("ppgan.apps")

# Predictor classes by the name of the model family they animate (a config's `model.name`).
PREDICTORS = Registry("predictor")


def _nchw(frames):
    """List of HxWx3 float32 arrays -> one (N, 3, H, W) float32 array."""
    return np.ascontiguousarray(np.stack(frames).transpose(0, 3, 1, 2), dtype=np.float32)


def default_num_threads():
    """Inference's CPU threads unless told: FLAGS_paddle_num_threads if set, else every core the process may use."""
    flag = os.environ.get("FLAGS_paddle_num_threads")
    if flag:
        return int(flag)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@functools.lru_cache(maxsize=None)
def _intel_openmp():
    """The Intel OpenMP runtime under Paddle's MKL, if this Paddle build has loaded it, else None."""
    try:
        return ctypes.CDLL("libiomp5.so", mode=os.RTLD_NOLOAD)
    except (OSError, AttributeError):  # an OpenBLAS / GNU OpenMP build, or no RTLD_NOLOAD (Windows)
        return None


@contextlib.contextmanager
def cpu_threads(num_threads):
    """Run the block with `num_threads` MKL/OpenMP threads, then restore the process's previous setting.

    Paddle runs its CPU math on one thread by default; with 2 threads the vox-256 model animates 35-50%
    faster on a 2-core machine (benchmarks/animate.py). The setting is per process, hence restored, so
    training in the same process keeps its own. Idle OpenMP threads sleep at once instead of spinning
    for 200 ms: spinning took the core the next small op needed and made the 64x64 model 15-30% slower.
    """
    set_threads = getattr(paddle.base.core, "set_num_threads", None)
    if set_threads is None:  # a Paddle without the switch: its own setting stays
        yield
        return
    omp = _intel_openmp()
    previous = (omp.omp_get_max_threads() if omp else
                paddle.get_flags("FLAGS_paddle_num_threads")["FLAGS_paddle_num_threads"])
    blocktime = omp.kmp_get_blocktime() if omp and num_threads > 1 else None
    set_threads(num_threads)
    if blocktime is not None:
        omp.kmp_set_blocktime(0)
    try:
        yield
    finally:
        set_threads(previous)
        if blocktime is not None:
            omp.kmp_set_blocktime(blocktime)


def predictor_class(config=None, model_dir=None):
    """The predictor class for a config (path or dict, native or original format) or an export folder."""
    if model_dir is not None:
        family = read_manifest(model_dir).get("model", "FirstOrderModel")
    else:
        family = model_family(load_config(config)["model"]).__name__
    return PREDICTORS.get(family)


class AnimationPredictor:
    """Source image + driving frames -> animated frames; subclasses normalise the driving keypoints.

    config: a config path (native or original format) or a loaded config dict.
    weight_path: a .pdparams file from tools/convert_torch_weights.py or training, or a PyTorch
      checkpoint (converted in memory).
    model_dir: instead of config and weights, a folder written by tools/export_model.py (backends
      'inference' and 'onnx'; frames are animated at the size it was exported at).
    image_size: the size frames are animated at; None uses the config's `dataset.frame_shape`
      when the config sets one, else the source image's own size.
    batch_size: driving frames per forward pass (results do not depend on it); None picks the fastest
      measured for the backend and family (`BATCH_SIZES`, docs/en_US/deployment.md).
    num_threads: CPU threads of inference (Paddle's own default is 1); None uses
      `default_num_threads()`: FLAGS_paddle_num_threads if set, else every core the process may use.
    backend: 'dygraph' (the Paddle layers as trained), 'inference' (Paddle Inference: oneDNN on CPU),
      'onnx' (ONNX Runtime; the `onnx` extra) or 'auto' (the fastest installed for the device). The
      static backends run the model exported once per frame size and cached (`ppgan.utils.io.cache_root()`);
      their frames equal the dygraph ones within 1e-4.
    device: 'cpu' or 'gpu'; None follows Paddle's current device.
    use_trt: with backend 'inference' on GPU, build TensorRT engines.

    The keyword-only arguments are PaddleGAN's, read by :meth:`run` (files in, a file out) only:
    output, filename: the result is written to output/filename (.mp4, .gif, or a folder of PNGs).
    find_best_frame, best_frame: the driving frame relative motion starts from (searched, or frame N, 0-based).
    ratio: the pasted face's radius as a fraction of the crop's side (face_crop.soft_mask; PaddleGAN's default 1.0
      pastes nearly the whole square, 0.4-0.5 its demo's).
    face_detector: 'auto', 'dlib', 'haar', or PaddleGAN's 'sfd' / 'blazeface' (face_crop.face_detector).
    multi_person: animate every face of the source, not only the largest.
    face_enhancement: restore each animated face with GPEN (`gpen_weight_path`, else PaddleGAN's GPEN-512 where
      this machine has it, downloaded once when it does not); or a face enhancer's name / {name, args}
      (ppgan.detectors.FACE_ENHANCERS).
    slice_size: PaddleGAN's bound on the driving frames held in memory; accepted and not needed here: frames
      stream through the model and memory does not grow with the video's length.
    crop: 'auto' (a face when the source has one, else the whole image), 'face' or 'none'.
    progress: show a progress bar.
    """

    family = None          # the model family (registered in ppgan.models.MODELS) this predictor animates
    optional_nets = ()     # nets loaded when the config and the weights have them
    # batch_size=None: the fastest batch per CPU backend (benchmarks/animate.py at vox-256, 2 cores); on GPU 8
    BATCH_SIZES = {"dygraph": 1, "inference": 1, "onnx": 1}
    points_per_transform = 1  # keypoints of `shape_points` that describe one local transform

    def __init__(self, config=None, weight_path=None, image_size=None, batch_size=None, num_threads=None,
                 backend="auto", device=None, use_trt=False, model_dir=None, **run_options):
        self.run_options = self._run_options(**run_options)
        if backend not in BACKENDS:
            raise InputError("backend must be one of %s, got %r" % (", ".join(BACKENDS), backend))
        if device is None:
            device = "gpu" if paddle.device.get_device().startswith("gpu") else "cpu"
        self.device = check_device(device)
        self.auto = backend == "auto"  # a failed ONNX conversion then falls back to Paddle Inference
        self.backend = auto_backend(self.device, model_dir) if self.auto else backend
        self.use_trt = bool(use_trt)
        if batch_size is not None and (isinstance(batch_size, bool) or int(batch_size) < 1):
            raise InputError("batch_size must be at least 1, got %r" % (batch_size,))
        self.auto_batch = batch_size is None
        self.batch_size = self.default_batch_size() if self.auto_batch else int(batch_size)
        self.num_threads = default_num_threads() if num_threads is None else num_threads
        if isinstance(self.num_threads, bool) or not isinstance(self.num_threads, (int, np.integer)) \
                or self.num_threads < 1:
            raise InputError("num_threads must be an integer of at least 1, got %r" % (num_threads,))
        self.num_threads = int(self.num_threads)
        self._backends = {}
        self._checked_sizes = set()
        self.model_dir = model_dir
        if model_dir is not None:
            self._open_export(model_dir, config, weight_path, image_size)
        else:
            self._load_nets(config, weight_path, image_size)

    def default_batch_size(self):
        """The batch size of batch_size=None: the fastest measured for this family on this backend."""
        return 8 if self.device == "gpu" else self.BATCH_SIZES[self.backend]

    @classmethod
    def motion_options(cls, args):
        """Constructor options of this family from the command line's motion flags (--relative,
        --adapt_scale, --mode); flags of another family are an InputError."""
        raise NotImplementedError

    # --- loading ---------------------------------------------------------------------------------
    def _open_export(self, model_dir, config, weight_path, image_size):
        if config is not None or weight_path is not None:
            raise InputError("give either model_dir (an exported model) or config and weight_path, not both")
        if self.backend == "dygraph":
            raise InputError("an exported model runs with backend 'inference' or 'onnx', not 'dygraph'")
        family = read_manifest(model_dir).get("model", "FirstOrderModel")
        if family != self.family:
            raise InputError("'%s' holds a %s export; animate it with %s" % (
                model_dir, family, PREDICTORS.get(family).__name__ if family in PREDICTORS else "its predictor"))
        backend = self._static_backend(model_dir)
        self.image_size = backend.image_size
        if image_size is not None and tuple(self._size_pair(image_size)) != self.image_size:
            raise InputError("'%s' was exported for %dx%d frames, not %s; export it again with --image_size"
                             % (model_dir, self.image_size[1], self.image_size[0], image_size))
        self._backends[self.image_size] = backend
        self._configure_export(backend.manifest)
        self._check_graphs(set(backend.manifest["graphs"]))

    def _configure(self, cfg):
        """Adjust a loaded config before the nets are built (e.g. a run-time option that is a config key)."""

    def _configure_export(self, manifest):
        """Read what the manifest of an exported model records beyond its graphs (e.g. the model's own defaults)."""

    def animation_defaults(self):
        """The model's own animation defaults (from its config), recorded in the manifest of its exports."""
        return {}

    def _load_nets(self, config, weight_path, image_size):
        if config is None:
            raise InputError("no config given: pass config=<path to a configs/*.yaml or an original config>")
        if weight_path is None:
            raise CheckpointError("no weights given: convert a released checkpoint with 'python "
                                  "tools/convert_torch_weights.py --input X.pth.tar --output X.pdparams' and pass "
                                  "weight_path='X.pdparams'")
        self.cfg = load_config(config)
        family = model_family(self.cfg["model"]).__name__
        if family != self.family:
            raise InputError("the config describes a %s; animate it with %s, not %s" % (
                family, PREDICTORS.get(family).__name__ if family in PREDICTORS else "its predictor",
                type(self).__name__))
        self._configure(self.cfg)
        weights = read_weights(weight_path)
        optional = [name for name in self.optional_nets if name in weights]
        nets = build_inference_nets(self.cfg["model"], optional)
        load_weights(nets, weights, "the weights in '%s'" % weight_path)
        self.weight_path = weight_path
        kp_detector, generator = model_family(self.cfg["model"]).animation_nets(nets)
        self.graphs = build_graphs(kp_detector, generator, nets.get("avd_network"))
        self.image_size = self._resolve_size(image_size, config)
        self._check_graphs(set(self.graphs))

    def _check_graphs(self, names):
        """Refuse options the loaded model's graphs (`names`) cannot serve (e.g. AVD without an AVD network),
        before any work."""

    @staticmethod
    def _size_pair(image_size):
        return (int(image_size), int(image_size)) if np.isscalar(image_size) else tuple(image_size)[:2]

    def _resolve_size(self, image_size, config):
        if image_size is not None:
            return self._size_pair(image_size)
        raw = config if isinstance(config, dict) else read_config_file(config)
        if "dataset" in raw or "dataset_params" in raw:
            return tuple(self.cfg["dataset"]["frame_shape"][:2])
        return None

    def _static_backend(self, model_dir):
        if self.backend == "onnx":
            return OnnxBackend(model_dir, self.device, self.num_threads)
        return InferenceBackend(model_dir, self.device, self.num_threads, self.use_trt, self.batch_size)

    def _backend_for(self, size):
        """The backend that animates frames of `size` (static backends: exported at that size, cached)."""
        key = None if self.backend == "dygraph" else tuple(size)
        if self.backend == "dygraph" and tuple(size) not in self._checked_sizes:
            self._check_size(size)
        if key not in self._backends:
            if self.backend == "dygraph":
                self._backends[key] = DygraphBackend(self.graphs, lambda: cpu_threads(self.num_threads))
            else:
                if self.model_dir is not None:
                    raise InputError("'%s' animates %dx%d frames, not %dx%d" % (
                        self.model_dir, self.image_size[1], self.image_size[0], size[1], size[0]))
                folder = cache_folder(self.cfg["model"], self.weight_path, key)
                if not is_export(folder):
                    self._check_size(size)
                folder = self._export(folder, key)
                self._backends[key] = self._static_backend(folder)
                if self.image_size is not None:  # every frame has this size: the layers are not needed again
                    self.graphs = None
        return self._backends[key]

    def _export(self, folder, size):
        """The export folder for frames of `size` (made once, cached), with ONNX graphs for backend 'onnx'.
        With backend 'auto', an ONNX conversion that fails (e.g. a paddle2onnx release that does not read
        this Paddle's programs) is reported and Paddle Inference animates instead."""
        avd = self.graphs.get("avd_network")
        cached_export(self.graphs["kp_detector"].kp_detector, self.graphs["source_encoder"].generator, folder, size,
                      weight_path=self.weight_path, avd_network=avd.avd_network if avd is not None else None,
                      model=self.family, animate=self.animation_defaults())
        if self.backend == "onnx":
            try:
                add_onnx(folder)
            except OnnxConversionError as error:
                if not self.auto:
                    raise
                logger.warning("%s; animating with Paddle Inference instead (backend 'inference')", error)
                self.backend = "inference"
                if self.auto_batch:
                    self.batch_size = self.default_batch_size()
        return folder

    def prepare_backend(self, size=None):
        """Make ready what animating frames of `size` (H, W) needs (default: the model's image size): for a
        static backend, its first export at that size (minutes; cached on disk). Animating does this itself;
        calling it first keeps that one-off wait out of a progress bar. Returns the backend."""
        size = self.image_size if size is None else size
        if size is None:
            raise InputError("prepare_backend needs a size: this predictor takes frames of any size")
        return self._backend_for(tuple(int(n) for n in size))

    def _check_size(self, size):
        """A frame size the nets cannot process is one InputError (not a framework traceback)."""
        try:
            check_frame_size(self.graphs["kp_detector"].kp_detector, self.graphs["source_encoder"].generator,
                             (size[0], size[1], 3))
        except ConfigError as e:
            raise InputError("cannot animate at %dx%d: %s; choose another image_size (--image_size)"
                             % (size[1], size[0], e.detail)) from None
        self._checked_sizes.add(tuple(size))

    # --- frames ----------------------------------------------------------------------------------
    def _prepare(self, image, size, what):
        image = to_rgb_float(image, what)
        return fit_to_size(image, size) if size is not None else image

    def _batches(self, frames, size):
        """Driving frames, prepared and stacked `batch_size` at a time, streamed."""
        batch = []
        for i, frame in enumerate(frames):
            batch.append(self._prepare(frame, size, "driving frame %d" % i))
            if len(batch) == self.batch_size:
                yield _nchw(batch)
                batch = []
        if batch:
            yield _nchw(batch)

    @staticmethod
    def shape_points(kp):
        """The (B, N, 2) points of a keypoint dict whose shape find_best_frame compares."""
        raise NotImplementedError

    def detect_keypoints(self, image):
        """The (N, 2) keypoints (x, y) in [-1, 1] of one image (HxWx3) as the model sees it: `shape_points` of
        the keypoint detector's output; consecutive runs of `points_per_transform` belong to one transform."""
        img = self._prepare(image, self.image_size, "image")
        backend = self._backend_for(img.shape[:2])
        return np.asarray(self.shape_points(backend.keypoints(_nchw([img])))[0])

    def find_best_frame(self, source, driving):
        """Index of the driving frame whose keypoint shape is closest to the source's (pose-free).

        With relative motion, animation starts from the pose of the initial driving frame; starting
        from the frame that looks most like the source avoids carrying a pose mismatch into every
        frame. Keypoints of each frame are centred and scaled by their convex hull's area before
        comparing, as the originals do with face landmarks; this works for any category.
        """
        src_img = self._prepare(source, self.image_size, "source image")
        backend = self._backend_for(src_img.shape[:2])
        kp_source = self.shape_points(backend.keypoints(_nchw([src_img])))[0]
        best, best_distance, count = None, None, 0
        for batch in self._batches(driving, src_img.shape[:2]):
            for points in self.shape_points(backend.keypoints(batch)):
                distance = shape_distance(kp_source, points)
                if best_distance is None or distance < best_distance:
                    best, best_distance = count, distance
                count += 1
        if best is None:
            raise InputError("the driving video has no frames")
        return best

    # --- animation -------------------------------------------------------------------------------
    def _reference(self, kp_source, kp_initial):
        """The state relative motion needs from the reference driving frame's keypoints (batch 1)."""
        return {"initial": kp_initial}

    def _normalize(self, backend, kp_source, kp_driving, reference):
        """The driving keypoints the generator is given (numpy dicts; source and reference have batch 1)."""
        raise NotImplementedError

    def prepare_source(self, source):
        """`source` (HxWx3) ready to be animated frame by frame (:class:`PreparedSource`): its keypoints and
        features are computed once here."""
        return PreparedSource(self, source)

    def iter_animate(self, source, driving, return_keypoints=False, initial_frame=None):
        """Yield animated frames (HxWx3 float32 in [0, 1]) as the driving frames are consumed.

        initial_frame: the driving frame whose keypoints are the reference of relative motion
          (`kp_driving_initial`); None uses the first driving frame. Animating every frame against
          the best frame gives exactly the original demo's forward + backward passes from it.
        With `return_keypoints`, yield (frame, keypoints) pairs where the keypoints (a dict of arrays
        without the batch axis) are the normalised driving keypoints the generator used.
        """
        prepared = self.prepare_source(source)
        if initial_frame is not None:
            prepared.set_reference(initial_frame)
        count = 0
        for batch in self._batches(driving, prepared.size):
            count += len(batch)
            yield from prepared.animate(batch, return_keypoints=return_keypoints)
        if not count:
            raise InputError("the driving video has no frames")

    def animate(self, source, driving, return_keypoints=False, initial_frame=None):
        """Animate `source` (HxWx3) by `driving` (TxHxWx3 array or iterable of frames).

        Returns a TxHxWx3 float32 array in [0, 1] (and the normalised keypoints, stacked, with
        `return_keypoints`).
        """
        results = list(self.iter_animate(source, driving, return_keypoints, initial_frame))
        if not return_keypoints:
            return np.stack(results)
        frames = np.stack([r[0] for r in results])
        kps = {k: np.stack([r[1][k] for r in results]) for k in results[0][1]}
        return frames, kps

    # --- PaddleGAN's call: files in, a file out ----------------------------------------------------
    @staticmethod
    def _run_options(output="output", filename="result.mp4", find_best_frame=False, best_frame=None, ratio=1.0,
                     face_detector="auto", multi_person=False, face_enhancement=False, gpen_weight_path=None,
                     slice_size=0, crop="auto", progress=True):
        """PaddleGAN's constructor arguments that only :meth:`run` reads, checked (an unknown one is a TypeError, as
        for any keyword)."""
        from .face_crop import FACE_DETECTOR_CHOICES, check_ratio

        if best_frame is not None and (isinstance(best_frame, bool) or int(best_frame) < 0):
            raise InputError("best_frame must be a frame index >= 0 (0-based), got %r" % (best_frame,))
        if best_frame is not None and find_best_frame:
            raise InputError("give either find_best_frame=True or best_frame=N, not both")
        if face_detector not in FACE_DETECTOR_CHOICES:
            raise InputError("face_detector must be one of %s, got %r" % (", ".join(FACE_DETECTOR_CHOICES),
                                                                           face_detector))
        if isinstance(slice_size, bool) or not isinstance(slice_size, (int, np.integer)) or slice_size < 0:
            raise InputError("slice_size must be an integer >= 0, got %r" % (slice_size,))
        if crop not in ("auto", "face", "none"):
            raise InputError("crop must be auto, face or none, got %r" % (crop,))
        if not isinstance(face_enhancement, (bool, str, dict)) and face_enhancement is not None:
            raise InputError("face_enhancement must be True/False, a face enhancer's name or {name, args}, got %r"
                             % (face_enhancement,))
        if gpen_weight_path is not None and face_enhancement is not True:
            raise InputError("gpen_weight_path is read with face_enhancement=True only")
        return {"output": os.fspath(output), "filename": os.fspath(filename), "find_best_frame": bool(find_best_frame),
                "best_frame": None if best_frame is None else int(best_frame), "ratio": check_ratio(ratio),
                "face_detector": face_detector, "multi_person": bool(multi_person),
                "face_enhancement": face_enhancement, "gpen_weight_path": gpen_weight_path,
                "slice_size": int(slice_size), "crop": crop, "progress": bool(progress)}

    def _run_view(self):
        """This predictor as :meth:`run` animates with it: PaddleGAN's defaults for the options the caller left
        unset (a shallow copy: nets, backends and cached exports are shared)."""
        view = copy.copy(self)
        if view.image_size is None:
            view.image_size = (256, 256)  # PaddleGAN's image_size
        return view

    def face_enhancer(self):
        """The face enhancer :meth:`run` and the demo apply, or None. face_enhancement=True is PaddleGAN's GPEN-512
        with `gpen_weight_path`, else PaddleGAN's GPEN-512.pdparams from this machine, downloaded once when it has
        none; a name or {name, args} builds that face enhancer plug-in (ppgan.detectors.FACE_ENHANCERS)."""
        spec = self.run_options["face_enhancement"]
        if spec is False or spec is None:
            return None
        from ppgan.detectors import build_face_enhancer

        if spec is True:
            from ppgan.detectors.gpen_enhancer import gpen_weights

            path = self.run_options["gpen_weight_path"]
            return build_face_enhancer({"name": "gpen", "weight_path": gpen_weights(download=True)
                                        if path is None else path})
        return build_face_enhancer(spec)

    def run(self, source_image, driving_video, filename=None):
        """PaddleGAN's call: animate the image file `source_image` by the video `driving_video` and write
        output/filename (the constructor's `output` and `filename`, or `filename` given here). Faces are cropped,
        animated and pasted back as the demo does (applications/tools/first-order-demo.py), with the constructor's
        run options. Returns the result's path."""
        from .animation import Animation, output_path

        opts = self.run_options
        path = output_path(opts["output"], opts["filename"] if filename is None else os.fspath(filename), "output")
        view = self._run_view()
        enhancer = self.face_enhancer()
        with Animation(view, source_image, driving_video, crop=opts["crop"], ratio=opts["ratio"],
                       multi_person=opts["multi_person"], progress=opts["progress"],
                       face_detector=opts["face_detector"], enhancer=enhancer) as animation:
            if opts["best_frame"] is not None:
                total = animation.video.count()
                if opts["best_frame"] >= total:
                    raise InputError("best_frame %d is past the end of the driving video (%d frames)"
                                     % (opts["best_frame"], total))
            animation.write(path, best_frame=opts["best_frame"], find_best_frame=opts["find_best_frame"])
        return path


class PreparedSource:
    """One source image on a predictor's backend, animated by driving frames one batch at a time.

    The source's keypoints and features are computed once. The reference of relative motion
    (`kp_driving_initial` of FOMM's eq. (9), TPSMM's relative keypoints) is the keypoints of one driving frame:
    set by :meth:`set_reference` / :meth:`set_reference_keypoints`, else taken from the first frame animated.
    Live animation replaces it while frames stream (calibration).
    """

    def __init__(self, predictor, source):
        self.predictor = predictor
        self.image = predictor._prepare(source, predictor.image_size, "source image")
        self.size = self.image.shape[:2]
        self.backend = predictor._backend_for(self.size)
        src = _nchw([self.image])
        self.kp_source = self.backend.keypoints(src)
        self.state = self.backend.prepare_source(src)
        self.reference = None  # the predictor's `_reference` state, from the reference driving keypoints
        self.kp_reference = None  # those keypoints (batch 1)

    def driving_input(self, frame, what="driving frame"):
        """A driving frame (HxWx3) as the backend takes it: (1, 3, H, W) float32 at this source's size."""
        return _nchw([self.predictor._prepare(frame, self.size, what)])

    def keypoints(self, frames):
        """The keypoint detector's output for a (B, 3, H, W) batch of driving frames (numpy dict)."""
        return self.backend.keypoints(frames)

    def set_reference(self, frame):
        """Make the driving frame `frame` (HxWx3) the reference of relative motion."""
        self.set_reference_keypoints(self.keypoints(self.driving_input(frame, "initial driving frame")))

    def set_reference_keypoints(self, kp_reference):
        """Make the driving keypoints `kp_reference` (a keypoint detector's output; its first item) the reference."""
        self.kp_reference = {k: v[:1] for k, v in kp_reference.items()}
        self.reference = self.predictor._reference(self.kp_source, self.kp_reference)

    def animate(self, frames, kp_driving=None, return_keypoints=False):
        """The animated frames (HxWx3 float32 arrays, a list) of a (B, 3, H, W) batch of driving frames, whose
        keypoints are `kp_driving` when already detected; with `return_keypoints`, (frame, normalised driving
        keypoints) pairs."""
        if kp_driving is None:
            kp_driving = self.keypoints(frames)
        if self.reference is None:
            self.set_reference_keypoints(kp_driving)
        kp_norm = self.predictor._normalize(self.backend, self.kp_source, kp_driving, self.reference)
        prediction = self.backend.generate(self.state, self.kp_source, kp_norm).transpose(0, 2, 3, 1)
        if not return_keypoints:
            return list(prediction)
        return [(prediction[j], {k: v[j] for k, v in kp_norm.items()}) for j in range(len(frames))]
