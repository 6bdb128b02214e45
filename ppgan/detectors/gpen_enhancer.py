"""Face enhancement by GPEN (Yang et al., "GAN Prior Embedded Network for Blind Face Restoration in the Wild", CVPR
2021), as PaddleGAN's FOMM applies it to animated faces (`face_enhancement=True`), on PaddleGAN's GPEN-512 weights.

Each square face crop is resized to the network's side (512 for the release), restored, resized back and blended
into the crop with PaddleGAN's soft rectangle mask (1 inside a frame of 26/512 of the side, Gaussian-blurred), so
that the crop's border, where it meets the rest of the picture, stays as it was. Unlike PaddleGAN, the blend
happens at the crop's own size with the crop itself (pixels outside the mask are returned unchanged, not resized
twice) and the restored face is not rounded down to 8 bits.

Weights are read from a path (``ppgan.utils.safe_pickle``: nothing in the file is run); :func:`gpen_weights` finds
PaddleGAN's released file on this machine or, when its caller asks, downloads it.
"""
import functools

import cv2
import numpy as np
import paddle

from ppgan.modules.gpen import GPEN, randomize_gpen
from ppgan.utils.checkpoint import read_paddle_file
from ppgan.utils.download import release_path
from ppgan.utils.errors import CheckpointError, ConfigError, InputError
from ppgan.utils.logger import get_logger

from .base import FaceEnhancer
from .builder import FACE_ENHANCERS

logger = get_logger("ppgan.detectors")

RELEASE = "GPEN-512"                 # ppgan.utils.download's name of PaddleGAN's file
RELEASE_ARCH = dict(size=512, style_dim=512, n_mlp=8, channel_multiplier=2, narrow=1.0)
# PaddleGAN's blending mask, defined at 512x512: a filled anti-aliased rectangle from (26, 26) to (486, 486),
# blurred twice by a 101x101 Gaussian of sigma 11.
MASK_SIDE, MASK_CORNERS, MASK_BLUR, MASK_SIGMA = 512, ((26, 26), (486, 486)), 101, 11


def gpen_weights(download=False, flag="gpen_weight_path"):
    """The path of PaddleGAN's GPEN-512 weights: a copy on this machine (the project's cache or PaddleGAN's), else,
    with `download`, a fresh download (checked by loading it). Without a copy, offline (PPGAN_OFFLINE) or without
    `download`, one CheckpointError naming the URL and `flag` (how the caller's user passes a path)."""
    return release_path(RELEASE, flag=flag, download=download, check=check_gpen_file)


def check_gpen_file(path):
    """Raise CheckpointError unless `path` holds weights of PaddleGAN's GPEN-512 architecture."""
    load_gpen_weights(GPEN(**RELEASE_ARCH), path)


def _is_fir_constant(name):
    # resampling filters: fixed by the architecture, saved by some exporters (PyTorch keeps every buffer)
    return name.endswith(".kernel")


def load_gpen_weights(net, path):
    """Copy a GPEN state dict file (PaddleGAN's layout, as its GPEN-512.pdparams) into `net`.

    Every parameter must be in the file with its shape; buffers (StyleGAN2's fixed noise maps, the upsampling
    filters) are taken from the file when it has them. Keys the net does not have are an error, except resampling
    filters. One CheckpointError lists every mismatch.
    """
    state = read_paddle_file(path, "GPEN weights")
    if not isinstance(state, dict):
        raise CheckpointError("GPEN weights '%s' hold a %s, not a state dict" % (path, type(state).__name__))
    expected = net.state_dict()
    parameters = {name for name, _ in net.named_parameters()}
    missing = sorted(parameters - set(state))
    unexpected = sorted(k for k in state if k not in expected and not _is_fir_constant(k))
    shapes = ["%s: file %s vs model %s" % (k, tuple(np.shape(state[k])), tuple(v.shape))
              for k, v in expected.items() if k in state and tuple(np.shape(state[k])) != tuple(v.shape)]
    problems = []
    for what, items in (("missing", missing), ("unexpected", unexpected), ("of another shape", shapes)):
        if items:
            problems.append("%d %s (%s%s)" % (len(items), what, ", ".join(items[:5]),
                                              " ..." if len(items) > 5 else ""))
    if problems:
        raise CheckpointError("GPEN weights '%s' do not fit GPEN(size=%d) (%s expected; is it PaddleGAN's "
                              "GPEN-512.pdparams, and are size/style_dim/n_mlp/channel_multiplier right?): %s"
                              % (path, net.size, "%d parameters" % len(parameters), "; ".join(problems)))
    net.set_state_dict({k: np.asarray(state[k], np.float32) if k in state else v.numpy()
                        for k, v in expected.items()})


@functools.lru_cache(maxsize=None)
def _paddlegan_mask():
    mask = np.zeros((MASK_SIDE, MASK_SIDE), np.float32)
    cv2.rectangle(mask, MASK_CORNERS[0], MASK_CORNERS[1], (1, 1, 1), -1, cv2.LINE_AA)
    for _ in range(2):
        mask = cv2.GaussianBlur(mask, (MASK_BLUR, MASK_BLUR), MASK_SIGMA)
    mask.setflags(write=False)
    return mask


@functools.lru_cache(maxsize=16)
def blend_mask(side):
    """The (side, side) float32 weight of the restored face in the blend: PaddleGAN's mask scaled to `side`."""
    mask = _paddlegan_mask()
    if side != MASK_SIDE:
        mask = resize_square(mask[None, :, :, None], side)[0, :, :, 0]
        mask.setflags(write=False)
    return mask


def resize_square(images, side):
    """(N, S, S, C) float images resized to (N, side, side, C): area averaging to shrink, bilinear to enlarge."""
    if images.shape[1] == side:
        return images
    method = cv2.INTER_AREA if side < images.shape[1] else cv2.INTER_LINEAR
    out = np.stack([cv2.resize(image, (side, side), interpolation=method) for image in images])
    return out.reshape(out.shape[:3] + (images.shape[3],))


@FACE_ENHANCERS.register("gpen")
class GPENEnhancer(FaceEnhancer):
    """GPEN face restoration with PaddleGAN's blending: `enhance(faces)` on (N, H, W, 3) float32 RGB in [0, 1].

    weight_path: a GPEN state dict file (PaddleGAN's GPEN-512.pdparams for the default architecture); None takes
      PaddleGAN's release from this machine (see :func:`gpen_weights`; nothing is downloaded here) and fails with
      one line naming its URL when there is none.
    size, style_dim, n_mlp, channel_multiplier, narrow: the architecture (the release's by default; `narrow`
      scales every width, for small test networks).
    batch_size: faces per network call (memory grows with it: about 1 GB per face at size 512).
    num_threads: CPU threads of the network (Paddle's default is 1); None: every core this process may use, as the
      animation predictors (FLAGS_paddle_num_threads if set). The process's setting is restored after each call.
    seed: instead of weights, seeded random values (tests and timing only; the output is not a face).
    """

    def __init__(self, weight_path=None, size=512, style_dim=512, n_mlp=8, channel_multiplier=2, narrow=1.0,
                 batch_size=1, num_threads=None, seed=None):
        if weight_path is not None and seed is not None:
            raise ConfigError("give the GPEN enhancer weight_path or seed (random weights), not both")
        if int(batch_size) < 1:
            raise ConfigError("the GPEN enhancer's batch_size must be at least 1, got %r" % (batch_size,))
        if num_threads is not None and int(num_threads) < 1:
            raise ConfigError("the GPEN enhancer's num_threads must be at least 1, got %r" % (num_threads,))
        self.net = GPEN(size, style_dim, n_mlp, channel_multiplier=channel_multiplier, narrow=narrow)
        if seed is not None:
            randomize_gpen(self.net, seed)
        else:
            if weight_path is None:
                weight_path = gpen_weights(download=False, flag="weight_path")
            load_gpen_weights(self.net, weight_path)
            logger.info("GPEN face enhancer: weights %s", weight_path)
        self.net.eval()
        self.weight_path = weight_path
        self.size = int(size)
        self.batch_size = int(batch_size)
        self.num_threads = None if num_threads is None else int(num_threads)

    def restore(self, faces):
        """GPEN's output for (N, S, S, 3) float32 faces in [0, 1], at their size, without blending."""
        # the animation predictors' thread switch (imported here: ppgan.apps imports this package)
        from ppgan.apps.predictor import cpu_threads, default_num_threads

        side = faces.shape[1]
        x = resize_square(faces, self.size).transpose(0, 3, 1, 2) * 2.0 - 1.0
        threads = default_num_threads() if self.num_threads is None else self.num_threads
        with cpu_threads(threads), paddle.no_grad():
            y = self.net(paddle.to_tensor(np.ascontiguousarray(x, np.float32))).numpy()
        y = np.clip(y * 0.5 + 0.5, 0.0, 1.0).transpose(0, 2, 3, 1)
        return np.clip(resize_square(np.ascontiguousarray(y), side), 0.0, 1.0)

    def enhance(self, faces):
        """Restored faces blended into the given ones with PaddleGAN's soft rectangle mask: same shape, in [0, 1]."""
        faces = check_faces(faces)
        out = np.empty_like(faces)
        mask = blend_mask(faces.shape[1])[None, :, :, None]
        for start in range(0, len(faces), self.batch_size):
            batch = faces[start:start + self.batch_size]
            out[start:start + len(batch)] = mask * self.restore(batch) + (1.0 - mask) * batch
        return np.clip(out, 0.0, 1.0, out=out)


def check_faces(faces):
    """`faces` as a float32 (N, S, S, 3) array, or an InputError saying what is wrong."""
    faces = np.asarray(faces)
    if faces.ndim != 4 or faces.shape[3] != 3 or faces.shape[1] != faces.shape[2] or faces.shape[1] < 1:
        raise InputError("face enhancement takes a batch of square RGB faces (N, S, S, 3), got shape %s"
                         % (faces.shape,))
    if faces.dtype.kind != "f":
        raise InputError("face enhancement takes float faces in [0, 1], got %s values (divide uint8 images by 255)"
                         % faces.dtype)
    return np.ascontiguousarray(faces, np.float32)
