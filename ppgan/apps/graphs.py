"""Animation as three graphs with plain tensor inputs and outputs: what every backend runs.

- ``kp_detector``: images (B, 3, H, W) -> keypoint ``value`` (B, K, 2) [and ``jacobian`` (B, K, 2, 2)].
- ``source_encoder``: the source (1, 3, H, W) -> its features before warping (run once per source:
  about a tenth of the generator's work at 256x256).
- ``frame_generator``: the source, its features and keypoints (batch 1) and the *normalised*
  driving keypoints (batch B) -> predicted frames (B, 3, H, W): dense motion (eqs. 4-6), warping
  and occlusion (eq. 8), decoding.

Keypoint normalisation (relative or absolute motion, ``geometry.normalize_kp``) runs between
``kp_detector`` and ``frame_generator`` on the host, so it stays a run-time choice for exported
models too. The dygraph backend calls these same layers, so exported and dygraph results are
the same computation.
"""
import paddle
import paddle.nn as nn

KEYPOINT_NAMES = ("value", "jacobian")
GRAPH_NAMES = ("kp_detector", "source_encoder", "frame_generator")


def _tile(x, batch):
    """Repeat a batch-1 tensor `batch` times along axis 0 (`batch` may be a run-time tensor)."""
    return paddle.expand(x, [batch] + list(x.shape[1:]))


class KeypointGraph(nn.Layer):
    """kp_detector with tuple output: (value,) or (value, jacobian)."""

    def __init__(self, kp_detector):
        super().__init__()
        self.kp_detector = kp_detector

    def forward(self, image):
        kp = self.kp_detector(image)
        return tuple(kp[name] for name in KEYPOINT_NAMES if name in kp)


class SourceEncoder(nn.Layer):
    """The generator's encoder: source image -> features (depend on the source only)."""

    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def forward(self, source_image):
        return self.generator.encode(source_image)


class FrameGenerator(nn.Layer):
    """Source (batch 1) + normalised driving keypoints (batch B) -> B predicted frames."""

    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def forward(self, source_image, source_features, kp_source_value, kp_driving_value,
                kp_source_jacobian=None, kp_driving_jacobian=None):
        batch = paddle.shape(kp_driving_value)[0]
        kp_source = {"value": _tile(kp_source_value, batch)}
        kp_driving = {"value": kp_driving_value}
        if kp_source_jacobian is not None:
            kp_source["jacobian"] = _tile(kp_source_jacobian, batch)
            kp_driving["jacobian"] = kp_driving_jacobian
        features = self.generator.animate_features(_tile(source_features, batch), _tile(source_image, batch),
                                                   kp_driving, kp_source)
        return self.generator.decode(features)


def build_graphs(kp_detector, generator):
    """The three graphs around loaded nets (put in eval mode), as {name: layer}."""
    kp_detector.eval()
    generator.eval()
    return {"kp_detector": KeypointGraph(kp_detector), "source_encoder": SourceEncoder(generator),
            "frame_generator": FrameGenerator(generator)}


def input_specs(num_kp, has_jacobian, image_size, feature_shape):
    """Input specs of the three graphs at a fixed frame size with a dynamic batch dimension."""
    from paddle.static import InputSpec
    h, w = image_size
    image = [None, 3, h, w]
    kp_value, kp_jacobian = [None, num_kp, 2], [None, num_kp, 2, 2]
    frame = [InputSpec([1, 3, h, w], "float32", "source_image"),
             InputSpec([1] + list(feature_shape), "float32", "source_features"),
             InputSpec([1, num_kp, 2], "float32", "kp_source_value"),
             InputSpec(kp_value, "float32", "kp_driving_value")]
    if has_jacobian:
        frame += [InputSpec([1, num_kp, 2, 2], "float32", "kp_source_jacobian"),
                  InputSpec(kp_jacobian, "float32", "kp_driving_jacobian")]
    return {"kp_detector": [InputSpec(image, "float32", "image")],
            "source_encoder": [InputSpec([1, 3, h, w], "float32", "source_image")],
            "frame_generator": frame}
