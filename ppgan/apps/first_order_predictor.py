"""Animate a source image with a driving video: the Python API of the First Order Motion Model."""
import numpy as np
import paddle

from ppgan.models.builder import build_nets
from ppgan.modules.geometry import movement_scale, normalize_kp
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

    def iter_animate(self, source, driving, return_keypoints=False):
        """Yield animated frames (HxWx3 float32 in [0, 1]) as the driving frames are consumed.

        With `return_keypoints`, yield (frame, {'value': (K, 2), 'jacobian': (K, 2, 2)}) pairs where
        the keypoints are the normalised driving keypoints the generator used.
        """
        src_img = self._prepare(source, self.image_size, "source image")
        size = src_img.shape[:2]
        with paddle.no_grad():
            src = _to_tensor([src_img])
            kp_source = self.kp_detector(src)
            features = self.generator.encode(src)
            state = {}
            batch = []
            for i, frame in enumerate(driving):
                batch.append(self._prepare(frame, size, "driving frame %d" % i))
                if len(batch) == self.batch_size:
                    yield from self._animate_batch(src, features, kp_source, batch, state, return_keypoints)
                    batch = []
            if batch:
                yield from self._animate_batch(src, features, kp_source, batch, state, return_keypoints)
            if not state:
                raise InputError("the driving video has no frames")

    def _animate_batch(self, src, features, kp_source, frames, state, return_keypoints):
        n = len(frames)
        kp_driving = self.kp_detector(_to_tensor(frames))
        if not state:
            state["initial"] = {k: v[:1] for k, v in kp_driving.items()}
            state["scale"] = (movement_scale(kp_source["value"].numpy(), state["initial"]["value"].numpy())
                              if self.adapt_scale and self.relative else 1.0)
        kp_src = _expand(kp_source, n)
        kp_norm = normalize_kp(kp_src, kp_driving, _expand(state["initial"], n),
                               use_relative_movement=self.relative, use_relative_jacobian=self.relative,
                               scale=state["scale"])
        warped, _ = self.generator.warp_features(features.expand([n] + list(features.shape[1:])),
                                                 src.expand([n] + list(src.shape[1:])), kp_norm, kp_src)
        prediction = self.generator.decode(warped).numpy().transpose(0, 2, 3, 1)
        kp_np = {k: v.numpy() for k, v in kp_norm.items()}
        for j in range(n):
            if return_keypoints:
                yield prediction[j], {k: v[j] for k, v in kp_np.items()}
            else:
                yield prediction[j]

    def animate(self, source, driving, return_keypoints=False):
        """Animate `source` (HxWx3) by `driving` (TxHxWx3 array or iterable of frames).

        Returns a TxHxWx3 float32 array in [0, 1] (and the normalised keypoints, stacked, with
        `return_keypoints`).
        """
        results = list(self.iter_animate(source, driving, return_keypoints))
        if not return_keypoints:
            return np.stack(results)
        frames = np.stack([r[0] for r in results])
        kps = {k: np.stack([r[1][k] for r in results]) for k in results[0][1]}
        return frames, kps
