"""Where the animation graphs run: Paddle dygraph, Paddle Inference (exported models) or ONNX Runtime.

Every backend takes and returns numpy arrays (images NCHW float32 in [0, 1]) through the calls
``keypoints(images)``, ``prepare_source(source)`` (once per source: its features),
``generate(source_state, kp_source, kp_driving)`` with normalised driving keypoints, and, for a model
with an AVD network, ``avd(kp_source, kp_driving)``.
"""
import contextlib
import os

import numpy as np
import paddle

from ppgan.utils.errors import InputError

from .export import ONNX_HELP, ExportError, has_onnx, read_manifest

BACKENDS = ("auto", "dygraph", "inference", "onnx")
DEVICES = ("cpu", "gpu")


def auto_backend(device, model_dir=None):
    """The fastest backend installed for `device`: ONNX Runtime on CPU (paddle2onnx and onnxruntime are
    requirements; benchmarks/animate.py --backend), else Paddle Inference (oneDNN on CPU; CUDA, optionally TensorRT, on GPU).
    For an export folder, ONNX Runtime only if the folder holds ONNX graphs."""
    from .export import onnx_available

    if device != "cpu" or not onnx_available():
        return "inference"
    if model_dir is not None:
        return "onnx" if has_onnx(read_manifest(model_dir)) else "inference"
    return "onnx"


def check_device(device):
    """`device` if it can be used here; 'gpu' needs a CUDA build of Paddle."""
    if device not in DEVICES:
        raise InputError("device must be one of %s, got %r" % ("/".join(DEVICES), device))
    if device == "gpu":
        if not paddle.device.is_compiled_with_cuda():
            raise InputError("--device gpu needs a CUDA build of Paddle (pip install paddlepaddle-gpu); "
                             "use --device cpu")
    return device


class DygraphBackend:
    """The graphs as dygraph layers (no export): what training uses, the reference of the others."""

    name = "dygraph"

    def __init__(self, graphs, cpu_threads):
        self.graphs = graphs
        self._threads = cpu_threads  # a context manager factory (per call: global switches are restored)

    @contextlib.contextmanager
    def _scope(self):
        with paddle.no_grad(), self._threads():
            yield

    def keypoints(self, images):
        graph = self.graphs["kp_detector"]
        with self._scope():
            outputs = graph(paddle.to_tensor(images))
            return {name: out.numpy() for name, out in zip(graph.keypoint_names, outputs)}

    def prepare_source(self, source):
        with self._scope():
            image = paddle.to_tensor(source)
            return image, self.graphs["source_encoder"](image)

    def generate(self, source_state, kp_source, kp_driving):
        image, features = source_state
        args = [image, features]
        with self._scope():
            for name in self.graphs["kp_detector"].keypoint_names:
                args += [paddle.to_tensor(kp_source[name]), paddle.to_tensor(kp_driving[name])]
            return self.graphs["frame_generator"](*args).numpy()

    def avd(self, kp_source, kp_driving):
        with self._scope():
            out = self.graphs["avd_network"](paddle.to_tensor(kp_source["fg_kp"]), paddle.to_tensor(kp_driving["fg_kp"]))
            return {"fg_kp": out.numpy()}


class _ExportedBackend:
    """Shared by the backends that run an export folder's graphs by their input names."""

    def __init__(self, model_dir):
        self.model_dir = model_dir
        self.manifest = read_manifest(model_dir)
        self.image_size = tuple(self.manifest["image_size"])
        self.keypoint_names = keypoint_names(self.manifest)

    def _run(self, name, feed):
        raise NotImplementedError

    def keypoints(self, images):
        outputs = self._run("kp_detector", {"image": images})
        return dict(zip(self.keypoint_names, outputs))

    def prepare_source(self, source):
        return source, self._run("source_encoder", {"source_image": source})[0]

    def generate(self, source_state, kp_source, kp_driving):
        image, features = source_state
        feed = {"source_image": image, "source_features": features}
        for name, value in kp_source.items():
            feed["kp_source_" + name] = value
        for name, value in kp_driving.items():
            feed["kp_driving_" + name] = value
        return self._run("frame_generator", feed)[0]

    def avd(self, kp_source, kp_driving):
        feed = {"kp_source_fg_kp": kp_source["fg_kp"], "kp_driving_fg_kp": kp_driving["fg_kp"]}
        return {"fg_kp": self._run("avd_network", feed)[0]}


def keypoint_names(manifest):
    """The keypoint tensors of an export, in the order its kp_detector returns them (manifests written
    before there were two model families name none: FOMM's value and jacobian)."""
    if "keypoint_names" in manifest:
        return list(manifest["keypoint_names"])
    return ["value", "jacobian"] if manifest["has_jacobian"] else ["value"]


class InferenceBackend(_ExportedBackend):
    """An export folder run by Paddle Inference: oneDNN on CPU, CUDA (optionally TensorRT) on GPU."""

    name = "inference"

    def __init__(self, model_dir, device="cpu", num_threads=1, use_trt=False, max_batch_size=8, profile=()):
        """profile: names of graphs whose predictor records Paddle's per-op profile and prints it when it is
        destroyed (benchmarks/inference_profile.py)."""
        super().__init__(model_dir)
        if use_trt and device != "gpu":
            raise InputError("--use_trt needs --device gpu (TensorRT runs on NVIDIA GPUs)")
        self.predictors = {name: self._create(name, device, num_threads, use_trt, max_batch_size, name in profile)
                           for name in self.manifest["graphs"]}

    def _create(self, name, device, num_threads, use_trt, max_batch_size, profile=False):
        from paddle import inference

        entry = self.manifest["graphs"][name]
        config = inference.Config(os.path.join(self.model_dir, entry["model"]),
                                  os.path.join(self.model_dir, entry["params"]))
        if device == "gpu":
            config.enable_use_gpu(256, 0)
            if use_trt:
                self._enable_trt(config, name, max_batch_size)
        else:
            config.disable_gpu()
            config.set_cpu_math_library_num_threads(int(num_threads))
            config.enable_mkldnn()
        if profile:
            config.enable_profile()
        config.disable_glog_info()
        return inference.create_predictor(config)

    def _enable_trt(self, config, name, max_batch_size):
        """TensorRT engines for a batch of 1..max_batch_size frames (float32: results stay within 1e-4)."""
        from paddle import inference

        h, w = self.image_size
        k = self.manifest["num_kp"]
        shapes = self.manifest.get("keypoint_shapes") or {"value": [k, 2], "jacobian": [k, 2, 2]}
        per_item = {"image": [3, h, w], "source_image": [3, h, w],
                    "source_features": list(self.manifest["feature_shape"])}
        for key, shape in shapes.items():
            per_item["kp_source_" + key] = per_item["kp_driving_" + key] = list(shape)
        batch_one = {"source_image", "source_features"} | {"kp_source_" + key for key in shapes}
        low, high, opt = {}, {}, {}
        for inp in self.manifest["graphs"][name]["inputs"]:
            top = 1 if inp in batch_one or name == "source_encoder" else max_batch_size
            low[inp], high[inp], opt[inp] = ([1] + per_item[inp], [top] + per_item[inp], [top] + per_item[inp])
        config.enable_tensorrt_engine(workspace_size=1 << 30, max_batch_size=max_batch_size, min_subgraph_size=3,
                                      precision_mode=inference.PrecisionType.Float32, use_static=False,
                                      use_calib_mode=False)
        config.set_trt_dynamic_shape_info(low, high, opt)

    def _run(self, name, feed):
        predictor = self.predictors[name]
        for inp in predictor.get_input_names():
            predictor.get_input_handle(inp).copy_from_cpu(np.ascontiguousarray(feed[inp], dtype=np.float32))
        predictor.run()
        return [predictor.get_output_handle(out).copy_to_cpu() for out in predictor.get_output_names()]


class OnnxBackend(_ExportedBackend):
    """An export folder's ONNX graphs run by ONNX Runtime (CPU, or CUDA when onnxruntime-gpu is installed)."""

    name = "onnx"

    def __init__(self, model_dir, device="cpu", num_threads=1):
        super().__init__(model_dir)
        if any("onnx" not in entry for entry in self.manifest["graphs"].values()):
            raise ExportError("'%s' holds no ONNX graphs; export with tools/export_model.py --onnx" % model_dir)
        try:
            import onnxruntime
        except ImportError:
            raise ExportError("the ONNX backend needs onnxruntime: " + ONNX_HELP) from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(num_threads)
        options.inter_op_num_threads = 1
        # Idle intra-op threads sleep instead of spinning: each graph's session has a pool of its own, and spinning
        # pools took the cores the next graph and the caller's thread needed. Measured on 2 cores in alternating
        # pairs (model only, ms/frame at batch 1, spinning -> not): shipped TPSMM 17.3 -> 8.6, shipped FOMM
        # 13.0 -> 6.4, vox-256 FOMM 303 -> 261, vox-256 TPSMM unchanged (docs/en_US/deployment.md)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        if device == "gpu":
            if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
                raise InputError("ONNX Runtime here has no CUDA support (pip install onnxruntime-gpu); "
                                 "use --device cpu or --backend inference")
            providers.insert(0, "CUDAExecutionProvider")
        self.sessions = {name: onnxruntime.InferenceSession(os.path.join(model_dir, entry["onnx"]), options,
                                                            providers=providers)
                         for name, entry in self.manifest["graphs"].items()}

    def _run(self, name, feed):
        session = self.sessions[name]
        inputs = {i.name: np.ascontiguousarray(feed[i.name], dtype=np.float32) for i in session.get_inputs()}
        return session.run(None, inputs)
