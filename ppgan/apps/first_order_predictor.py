"""Animate a source image with a driving video: the Python API of the First Order Motion Model."""
import numpy as np
import paddle

from ppgan.models.builder import build_nets
from ppgan.modules.geometry import movement_scale, normalize_kp, shape_distance
from ppgan.utils.checkpoint import load_weights, read_weights
from ppgan.utils.config import load_config, read_config_file
from ppgan.utils.errors import CheckpointError, InputError
from ppgan.utils.image import fit_to_size, to_rgb_float


def _to_tensor(frames):
    """List of HxWx3 float32 arrays -> (N, 3, H, W) tensor."""
    return paddle.to_tensor(np.stack(frames).transpose(0, 3, 1, 2).copy())


def _expand(kp, batch):
    return {k: v.expand([batch] + list(v.shape[1:])) for k, v in kp.items()}


class FirstOrderPredictor:
    """Source image + driving frames -> animated frames, with the original's normalisation modes.

    config: a config path (native or original format) or a loaded config dict.
    weight_path: a .pdparams file from tools/convert_torch_weights.py or training, or a PyTorch
      checkpoint (converted in memory).
    relative: transfer relative motion (keypoints and jacobians) instead of absolute positions.
    adapt_scale: scale the relative movement by the ratio of keypoint convex hull areas.
    align_corners: grid sampling convention; None keeps the config's value.
    image_size: the size frames are animated at; None uses the config's `dataset.frame_shape`
      when the config sets one, else the source image's own size.
    batch_size: driving frames per forward pass (results do not depend on it).
    """

    def __init__(self, config=None, weight_path=None, relative=True, adapt_scale=True, align_corners=None,
                 image_size=None, batch_size=1):
        if config is None:
            raise InputError("no config given: pass config=<path to a configs/*.yaml or an original FOMM config>")
        if weight_path is None:
            raise CheckpointError("no weights given: convert a released checkpoint (e.g. vox-cpk.pth.tar) with "
                                  "'python tools/convert_torch_weights.py --input vox-cpk.pth.tar --output "
                                  "vox.pdparams' and pass weight_path='vox.pdparams'")
        self.cfg = load_config(config)
        if align_corners is not None:
            self.cfg["model"]["common"]["align_corners"] = bool(align_corners)
        nets = build_nets(self.cfg["model"], ("kp_detector", "generator"))
        load_weights(nets, read_weights(weight_path), "the weights in '%s'" % weight_path)
        self.kp_detector, self.generator = nets["kp_detector"], nets["generator"]
        self.kp_detector.eval()
        self.generator.eval()
        self.relative = relative
        self.adapt_scale = adapt_scale
        self.image_size = self._resolve_size(image_size, config)
        if int(batch_size) < 1:
            raise InputError("batch_size must be at least 1, got %r" % (batch_size,))
        self.batch_size = int(batch_size)

    def _resolve_size(self, image_size, config):
        if image_size is not None:
            return (int(image_size), int(image_size)) if np.isscalar(image_size) else tuple(image_size)[:2]
        raw = config if isinstance(config, dict) else read_config_file(config)
        if "dataset" in raw or "dataset_params" in raw:
            return tuple(self.cfg["dataset"]["frame_shape"][:2])
        return None

    def _prepare(self, image, size, what):
        image = to_rgb_float(image, what)
        return fit_to_size(image, size) if size is not None else image

    def _batches(self, frames, size):
        """Driving frames, prepared and stacked `batch_size` at a time, streamed."""
        batch = []
        for i, frame in enumerate(frames):
            batch.append(self._prepare(frame, size, "driving frame %d" % i))
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def find_best_frame(self, source, driving):
        """Index of the driving frame whose keypoint shape is closest to the source's (pose-free).

        With relative motion, animation starts from the pose of the initial driving frame; starting
        from the frame that looks most like the source avoids carrying a pose mismatch into every
        frame. Keypoints of each frame are centred and scaled by their convex hull's area before
        comparing, as the original does with face landmarks; this works for any category.
        """
        src_img = self._prepare(source, self.image_size, "source image")
        best, best_distance, count = None, None, 0
        with paddle.no_grad():
            kp_source = self.kp_detector(_to_tensor([src_img]))["value"].numpy()[0]
            for batch in self._batches(driving, src_img.shape[:2]):
                values = self.kp_detector(_to_tensor(batch))["value"].numpy()
                for value in values:
                    distance = shape_distance(kp_source, value)
                    if best_distance is None or distance < best_distance:
                        best, best_distance = count, distance
                    count += 1
        if best is None:
            raise InputError("the driving video has no frames")
        return best

    def iter_animate(self, source, driving, return_keypoints=False, initial_frame=None):
        """Yield animated frames (HxWx3 float32 in [0, 1]) as the driving frames are consumed.

        initial_frame: the driving frame whose keypoints are the reference of relative motion
          (`kp_driving_initial`); None uses the first driving frame. Animating every frame against
          the best frame gives exactly the original demo's forward + backward passes from it.
        With `return_keypoints`, yield (frame, {'value': (K, 2), 'jacobian': (K, 2, 2)}) pairs where
        the keypoints are the normalised driving keypoints the generator used.
        """
        src_img = self._prepare(source, self.image_size, "source image")
        size = src_img.shape[:2]
        # no_grad is a global switch: it must not stay on while this generator is suspended at a yield
        with paddle.no_grad():
            src = _to_tensor([src_img])
            kp_source = self.kp_detector(src)
            features = self.generator.encode(src)
            state = {}
            if initial_frame is not None:
                initial = self.kp_detector(_to_tensor([self._prepare(initial_frame, size, "initial driving frame")]))
                self._set_initial(state, kp_source, initial)
        for batch in self._batches(driving, size):
            with paddle.no_grad():
                results = self._animate_batch(src, features, kp_source, batch, state, return_keypoints)
            yield from results
        if "frames" not in state:
            raise InputError("the driving video has no frames")

    def _set_initial(self, state, kp_source, kp_initial):
        state["initial"] = kp_initial
        state["scale"] = (movement_scale(kp_source["value"].numpy(), kp_initial["value"].numpy())
                          if self.adapt_scale and self.relative else 1.0)

    def _animate_batch(self, src, features, kp_source, frames, state, return_keypoints):
        """The animated frames (and normalised keypoints) of one batch of driving frames, as a list."""
        n = len(frames)
        kp_driving = self.kp_detector(_to_tensor(frames))
        if "initial" not in state:
            self._set_initial(state, kp_source, {k: v[:1] for k, v in kp_driving.items()})
        state["frames"] = state.get("frames", 0) + n
        kp_src = _expand(kp_source, n)
        kp_norm = normalize_kp(kp_src, kp_driving, _expand(state["initial"], n),
                               use_relative_movement=self.relative, use_relative_jacobian=self.relative,
                               scale=state["scale"])
        warped, _ = self.generator.warp_features(features.expand([n] + list(features.shape[1:])),
                                                 src.expand([n] + list(src.shape[1:])), kp_norm, kp_src)
        prediction = self.generator.decode(warped).numpy().transpose(0, 2, 3, 1)
        if not return_keypoints:
            return list(prediction)
        kp_np = {k: v.numpy() for k, v in kp_norm.items()}
        return [(prediction[j], {k: v[j] for k, v in kp_np.items()}) for j in range(n)]

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
