"""Real against generated videos, frame by frame: detector features of each frame (ppgan.detectors) and the
paper's per-frame metrics (:mod:`ppgan.metrics.keypoints`), pooled over every frame of every video.

The features kept per video (keypoints, embeddings, face boxes, per-frame metric values) are what
`tools/evaluate_videos.py` writes, so that anyone can recompute the figures with the authors' averaging.
"""
import numpy as np

from ppgan.detectors import (MISSING, NUM_FACE_LANDMARKS, build_face_detector, build_face_embedder,
                             build_pose_estimator, missing_points)
from ppgan.utils.errors import ConfigError
from ppgan.utils.video import as_uint8_rgb, nchw_to_uint8

from .keypoints import METRICS, mean_over_frames

KINDS = ("face", "body")
DEFAULT_DETECTORS = {
    "face": {"face_detector": {"name": "dlib", "method": "hog_then_cnn"}, "face_embedder": {"name": "dlib"}},
    "body": {"pose_estimator": {"name": "blazepose"}},
}


def build_metrics(names):
    """Metric objects for names such as ['l1', 'akd', 'mkr', 'aed'] (registered in METRICS)."""
    if isinstance(names, str):
        names = [names]
    if not names:
        raise ConfigError("no metric asked for; choose from: %s" % ", ".join(METRICS.names()), "metrics")
    metrics = {}
    for name in names:
        metrics[str(name).lower()] = METRICS.get(str(name).lower())()
    return metrics


class FeatureExtractor:
    """The detector features of a frame that some metrics need: 'keypoints' ((K, 2), missing = -1) and
    'embedding' ((D,), NaN when missing), with 'box' ((4,) x, y, w, h of the face, -1 when none) for faces.

    kind: 'face' (the largest face's 68 landmarks, its identity embedding) or 'body' (the pose estimator's 18
    keypoints). The detectors are built from names or config dicts (defaults: :data:`DEFAULT_DETECTORS`) only
    for what `needs` asks.
    """

    def __init__(self, kind, needs, face_detector=None, face_embedder=None, pose_estimator=None):
        if kind not in KINDS:
            raise ConfigError("must be face or body, got %r" % (kind,), "kind")
        self.kind, self.needs = kind, set(needs)
        defaults = DEFAULT_DETECTORS[kind]
        self.face_detector = self.face_embedder = self.pose_estimator = None
        if kind == "face" and self.needs & {"keypoints", "embedding"}:
            self.face_detector = build_face_detector(face_detector or defaults["face_detector"])
            if "keypoints" in self.needs and not self.face_detector.has_landmarks:
                raise ConfigError("keypoint metrics need face landmarks, and this face detector finds boxes only; "
                                  "choose one with landmarks (e.g. dlib)", "face_detector")
        if kind == "face" and "embedding" in self.needs:
            self.face_embedder = build_face_embedder(face_embedder or defaults["face_embedder"])
        if kind == "body" and "keypoints" in self.needs:
            self.pose_estimator = build_pose_estimator(pose_estimator or defaults["pose_estimator"])
        if kind == "body" and "embedding" in self.needs:
            raise ConfigError("AED on bodies needs a person re-identification network (the authors use "
                              "Person_reID_baseline_pytorch) and none is registered; measure l1, akd and mkr",
                              "metrics")

    def __call__(self, image):
        """Features of one uint8 RGB frame."""
        out = {}
        if self.kind == "face" and self.face_detector is not None:
            faces = self.face_detector.detect(image)
            face = faces[0] if faces else None
            out["box"] = np.asarray(face.box if face else (MISSING,) * 4, np.float64)
            if "keypoints" in self.needs:
                out["keypoints"] = (face.landmarks if face is not None and face.landmarks is not None
                                    else missing_points(NUM_FACE_LANDMARKS))
            if "embedding" in self.needs:
                vector = self.face_embedder.embed(image, face) if (face is not None
                                                                   or self.face_embedder.detector is None) else None
                out["embedding"] = (np.full(self.face_embedder.dimension, np.nan) if vector is None
                                    else np.asarray(vector, np.float64))
        if self.pose_estimator is not None:
            out["keypoints"] = np.asarray(self.pose_estimator.estimate(image), np.float64)
        return out


def _found(value, key):
    return value[:, 0] != MISSING if key == "keypoints" else ~np.isnan(value)


class Comparison:
    """Per-frame metric values and features of (real, generated) videos, added frame by frame and pooled over all
    videos.

    metrics: names ('l1', 'akd', 'mkr', 'aed'); the detectors (for what they need) are built from `kind` and the
    detector arguments (:class:`FeatureExtractor`). A video's features (keypoints, embeddings, boxes) are kept
    until :meth:`finish` hands them to `on_video_done(name, arrays)` (e.g. to write them) and drops them, so that
    memory grows with the frames by a few numbers each (the per-frame values and detection flags), not by their
    features.
    """

    def __init__(self, metrics, kind="face", face_detector=None, face_embedder=None, pose_estimator=None):
        self.metrics = build_metrics(metrics)
        needs = {n for m in self.metrics.values() for n in m.needs} - {"image"}
        self.extractor = FeatureExtractor(kind, needs, face_detector, face_embedder, pose_estimator) if needs \
            else None
        self.on_video_done = None
        # name -> {'real': {feature: [per frame]}, 'generated': ..., 'values': {metric: [...]},
        #          'found': {side: [bool per frame]}, 'finished': bool}
        self.videos = {}
        self._current = None

    def _video(self, name):
        return self.videos.setdefault(name, {"real": {}, "generated": {}, "values": {m: [] for m in self.metrics},
                                             "found": {"real": [], "generated": []}, "finished": False})

    def add_frame(self, name, real, generated):
        """Compare one uint8 RGB frame pair of video `name` (frames must be added in order)."""
        real, generated = as_uint8_rgb(real, "real frame"), as_uint8_rgb(generated, "generated frame")
        if real.shape != generated.shape:
            raise ValueError("frame sizes differ: real %dx%d, generated %dx%d"
                             % (real.shape[1], real.shape[0], generated.shape[1], generated.shape[0]))
        video = self._video(name)
        if video["finished"]:
            raise ValueError("video %r was finished; its frames cannot be added to" % name)
        features = {}
        for side, frame in (("real", real), ("generated", generated)):
            features[side] = self.extractor(frame) if self.extractor is not None else {}
            for key, value in features[side].items():
                video[side].setdefault(key, []).append(value)
            if features[side]:
                key = "keypoints" if "keypoints" in features[side] else "embedding"
                video["found"][side].append(bool(np.any(_found(features[side][key], key))))
            features[side]["image"] = frame
        for key, metric in self.metrics.items():
            need = metric.needs[0]
            video["values"][key].append(metric.frame_value(features["real"][need], features["generated"][need]))

    def add_reconstruction(self, name, driving, out):
        """`on_chunk` of the evaluator's `reconstruct`: the real (driving) frames (N, 3, H, W) against the generator's
        `out['prediction']`, both tensors in [0, 1], rounded to uint8 as the evaluator's PNG strips are. The first
        chunk of another video finishes the previous one."""
        if self._current is not None and name != self._current and self._current in self.videos:
            self.finish(self._current)
        self._current = name
        for real, generated in zip(nchw_to_uint8(driving), nchw_to_uint8(out["prediction"])):
            self.add_frame(name, real, generated)

    def add_frames(self, name, real_frames, generated_frames):
        """Compare frame pairs of video `name` from two iterables of frames."""
        for real, generated in zip(real_frames, generated_frames):
            self.add_frame(name, real, generated)

    def finish(self, name):
        """Video `name` is complete: hand its arrays to `on_video_done` and drop its features."""
        video = self.videos[name]
        if video["finished"]:
            return
        if self.on_video_done is not None:
            self.on_video_done(name, self.arrays(name))
        video["real"], video["generated"], video["finished"] = {}, {}, True

    def finish_all(self):
        """Finish every video not finished yet."""
        for name in list(self.videos):
            self.finish(name)

    def frames(self, name):
        """Number of frame pairs compared for video `name`."""
        values = self.videos[name]["values"]
        return len(next(iter(values.values())))

    def detection_rates(self, names=None):
        """{'real': r, 'generated': g}: the fraction of frames of videos `names` (default all) in which the detector
        found the subject (a face; any body keypoint); empty when no detector runs."""
        names = list(self.videos) if names is None else list(names)
        if self.extractor is None or not names:
            return {}
        return {side: float(np.mean([f for n in names for f in self.videos[n]["found"][side]]))
                for side in ("real", "generated")}

    def video_result(self, name):
        """{metric: mean over the frames of video `name`}."""
        return {m: mean_over_frames(v) for m, v in self.videos[name]["values"].items()}

    def summary(self):
        """{metric: mean over every frame of every video} (the paper's figures)."""
        return {m: mean_over_frames(np.concatenate([np.asarray(v["values"][m], np.float64)
                                                    for v in self.videos.values()]) if self.videos else [])
                for m in self.metrics}

    def arrays(self, name):
        """The features and per-frame values of video `name` as arrays: `real_<feature>`, `generated_<feature>`
        ((T, ...); until the video is finished) and `<metric>` ((T,), NaN for frames without a value)."""
        video, out = self.videos[name], {}
        for side in ("real", "generated"):
            for key, values in video[side].items():
                out["%s_%s" % (side, key)] = np.stack(values)
        for key, values in video["values"].items():
            out[key] = np.asarray(values, np.float64)
        return out
