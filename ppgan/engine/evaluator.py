"""Evaluation as in the original: reconstruction of test videos and animation of (source, driving) pairs.

Frames are streamed from the dataset in chunks of `batch_size`, so memory does not grow with the
length of a video (except the PNG strip of predictions, kept as uint8).
"""
import contextlib
import os

import numpy as np
import paddle
from tqdm import tqdm

from ppgan.metrics import RunningMean, l1_distance
from ppgan.utils.errors import ConfigError, InputError
from ppgan.utils.logger import get_logger
from ppgan.utils.video import VideoWriter, nchw_to_uint8, save_image

logger = get_logger("ppgan.engine")


def _chunks(frames, size):
    chunk = []
    for frame in frames:
        chunk.append(frame)
        if len(chunk) == size:
            yield np.stack(chunk)
            chunk = []
    if chunk:
        yield np.stack(chunk)


def _expand(kp, batch):
    return {k: v.expand([batch] + list(v.shape[1:])) for k, v in kp.items()}


def _item(out, i):
    """Item `i` of a batch of outputs (tensors, keypoint dicts, lists of tensors such as multi-resolution masks),
    kept as a batch of one."""
    sliced = {}
    for key, value in out.items():
        if isinstance(value, dict):
            sliced[key] = {k: v[i:i + 1] for k, v in value.items()}
        elif isinstance(value, (list, tuple)):
            sliced[key] = [v[i:i + 1] for v in value]
        else:
            sliced[key] = value[i:i + 1]
    return sliced


def _video_extension(fmt):
    fmt = fmt if fmt.startswith(".") else "." + fmt
    if fmt not in (".mp4", ".gif"):
        raise ConfigError("must be .mp4 or .gif, got %r" % fmt, "reconstruction.format")
    return fmt


@paddle.no_grad()
def reconstruct(kp_detector, generator, dataset, out_dir, visualizer, num_videos=None, fmt=".mp4", batch_size=8,
                progress=True, on_chunk=None, bg_predictor=None):
    """Reconstruct every frame of each test video from its frame 0 (paper, Sec. 4: "video reconstruction").

    Writes `out_dir/png/<name>.png` (strip of predictions) and `out_dir/<name><fmt>` (visualisation); with
    `out_dir` None nothing is written (and `visualizer` is not used). `on_chunk(name, driving, out)`, if given,
    is called for each chunk of a video: its driving frames (N, 3, H, W) and the generator's outputs for them
    (`out['prediction']`, ...), e.g. to measure the predictions further. `bg_predictor`: the model's background
    predictor if the reconstruction applies one (:func:`reconstruction_chunks`; `evaluation_nets` gives it).
    Returns {'l1': mean over all frames, 'baseline_l1': the same for copying frame 0 unchanged,
    'deformed_l1': the same for frame 0 warped by the predicted motion alone (no occlusion, no decoder),
    'per_video': {name: l1}, 'failed': {name: reason}}.
    """
    ext = _video_extension(fmt)
    for net in (kp_detector, generator, bg_predictor):
        if net is not None:
            net.eval()
    if out_dir is not None:
        os.makedirs(os.path.join(out_dir, "png"), exist_ok=True)
    total, baseline, deformed, per_video, failed = RunningMean(), RunningMean(), RunningMean(), {}, {}
    count = len(dataset) if num_videos is None else min(int(num_videos), len(dataset))
    for index in tqdm(range(count), desc="reconstruction", unit="video", disable=not progress):
        name = os.path.splitext(dataset.video_name(index))[0]
        try:
            per_video[name] = _reconstruct_video(kp_detector, generator, bg_predictor, dataset, index, name, out_dir,
                                                 ext, visualizer, batch_size, (total, baseline, deformed), on_chunk)
        except InputError as e:
            failed[name] = str(e)
            logger.warning("reconstruction: skipped %s: %s", name, e)
    return {"l1": total.value, "baseline_l1": baseline.value, "deformed_l1": deformed.value, "per_video": per_video,
            "failed": failed}


@paddle.no_grad()
def reconstruction_chunks(kp_detector, generator, frames, batch_size=8, bg_predictor=None):
    """Reconstruct frames (float32 (3, H, W) in [0, 1], e.g. `dataset.iter_frames(i)`) from the first one: the
    driving keypoints of each frame as they are (no normalisation), the source is frame 0.

    `bg_predictor`, if given, is a net (source, driving) -> the background's motion, which the generator takes as
    `bg_param` (the thin-plate spline model's BGMotionPredictor): each frame is then generated with the
    background motion from frame 0 to it, as the original TPSMM's reconstruction does.
    Yields (source (1, 3, H, W), driving (N, 3, H, W), out) per chunk of `batch_size` frames; `out` is the
    generator's output dict (`prediction`, ...) with `kp_source` and `kp_driving` added. The nets should be in
    eval mode.
    """
    source, kp_source = None, None
    for chunk in _chunks(frames, batch_size):
        driving = paddle.to_tensor(chunk)
        if source is None:
            source = driving[:1]
            kp_source = kp_detector(source)
        n = driving.shape[0]
        sources = source.expand([n, -1, -1, -1])
        kp_driving = kp_detector(driving)
        background = {} if bg_predictor is None else {"bg_param": bg_predictor(sources, driving)}
        out = generator(sources, kp_source=_expand(kp_source, n), kp_driving=kp_driving, **background)
        out.update(kp_source=_expand(kp_source, n), kp_driving=kp_driving)
        yield source, driving, out


def _reconstruct_video(kp_detector, generator, bg_predictor, dataset, index, name, out_dir, ext, visualizer,
                       batch_size, means, on_chunk):
    video_mean, strip, source = RunningMean(), [], None
    total, baseline, deformed = means
    writer = VideoWriter(os.path.join(out_dir, name + ext)) if out_dir is not None else contextlib.nullcontext()
    with writer:
        for source, driving, out in reconstruction_chunks(kp_detector, generator, dataset.iter_frames(index),
                                                          batch_size, bg_predictor):
            n = driving.shape[0]
            l1 = l1_distance(out["prediction"], driving)
            video_mean.add(l1, n)
            total.add(l1, n)
            baseline.add(l1_distance(source.expand([n, -1, -1, -1]), driving), n)
            if "deformed" in out:
                deformed.add(l1_distance(out["deformed"], driving), n)
            if on_chunk is not None:
                on_chunk(name, driving, out)
            if out_dir is None:
                continue
            strip.append(nchw_to_uint8(out["prediction"]))
            for i in range(n):
                writer.write(visualizer.visualize(source, driving[i:i + 1], _item(out, i)))
    if source is None:
        raise InputError("video %s has no frames" % name)
    if out_dir is not None:
        strip = np.concatenate(strip)
        save_image(os.path.join(out_dir, "png", name + ".png"), np.concatenate(list(strip), axis=1))
    return video_mean.value


@paddle.no_grad()
def animate_pairs(kp_detector, generator, dataset, pairs, out_dir, visualizer, normalizer, fmt=".mp4",
                  batch_size=8, progress=True):
    """Animate frame 0 of each source video by each driving video (paper, Sec. 4: "image animation").

    `normalizer` is the model family's keypoint normalisation (`keypoint_normalizer(animate_cfg, nets)`):
    `normalizer.scale(kp_source, kp_initial)` once per pair, then `normalizer(kp_source, kp_driving, kp_initial,
    scale)` per frame. Writes `out_dir/<source>-<driving><fmt>`; returns the list of files.
    """
    ext = _video_extension(fmt)
    kp_detector.eval()
    generator.eval()
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for source_index, driving_index in tqdm(pairs, desc="animation", unit="pair", disable=not progress):
        name = "%s-%s" % tuple(os.path.splitext(dataset.video_name(i))[0] for i in (source_index, driving_index))
        path = os.path.join(out_dir, name + ext)
        try:
            _animate_pair(kp_detector, generator, dataset, source_index, driving_index, path, visualizer,
                          normalizer, batch_size)
        except InputError as e:
            logger.warning("animation: skipped %s: %s", name, e)
            continue
        written.append(path)
    return written


def _animate_pair(kp_detector, generator, dataset, source_index, driving_index, path, visualizer, normalizer,
                  batch_size):
    source_frame = next(iter(dataset.iter_frames(source_index)), None)
    if source_frame is None:
        raise InputError("the source video has no frames")
    source = paddle.to_tensor(source_frame[None])
    kp_source = kp_detector(source)
    kp_initial = None
    with VideoWriter(path) as writer:
        for chunk in _chunks(dataset.iter_frames(driving_index), batch_size):
            driving = paddle.to_tensor(chunk)
            n = driving.shape[0]
            kp_driving = kp_detector(driving)
            if kp_initial is None:
                kp_initial = {k: v[:1] for k, v in kp_driving.items()}
                scale = normalizer.scale(kp_source, kp_initial)
            kp_norm = normalizer(_expand(kp_source, n), kp_driving, _expand(kp_initial, n), scale)
            out = generator(source.expand([n, -1, -1, -1]), kp_source=_expand(kp_source, n), kp_driving=kp_norm)
            out.update(kp_source=_expand(kp_source, n), kp_driving=kp_driving, kp_norm=kp_norm)
            for i in range(n):
                writer.write(visualizer.visualize(source, driving[i:i + 1], _item(out, i)))
