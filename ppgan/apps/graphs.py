"""Animation as graphs with plain tensor inputs and outputs: what every backend runs.

- ``kp_detector``: images (B, 3, H, W) -> the detector's keypoint tensors, in the order of its
  ``keypoint_names`` (FOMM: ``value`` (B, K, 2) [and ``jacobian`` (B, K, 2, 2)]; TPSMM: ``fg_kp`` (B, K*5, 2)).
- ``source_encoder``: the source (1, 3, H, W) -> its features before warping (run once per source: FOMM's
  encoder output; TPSMM's encoder maps, flattened into one tensor).
- ``frame_generator``: the source, its features and keypoints (batch 1) and the *normalised* driving
  keypoints (batch B) -> predicted frames (B, 3, H, W): dense motion, warping and occlusion, decoding.
- ``avd_network`` (TPSMM, when the weights have one): source and driving keypoints -> the driving pose
  carried over to the source's identity (animation via disentanglement).

Keypoint normalisation (relative or absolute motion) runs between ``kp_detector`` and ``frame_generator``
on the host, so it stays a run-time choice for exported models too. The dygraph backend calls these same
layers, so exported and dygraph results are the same computation.
"""
import paddle
import paddle.nn as nn

GRAPH_NAMES = ("kp_detector", "source_encoder", "frame_generator")


def _tile(x, batch):
    """Repeat a batch-1 tensor `batch` times along axis 0 (`batch` may be a run-time tensor)."""
    return paddle.expand(x, [batch] + list(x.shape[1:]))


class KeypointGraph(nn.Layer):
    """kp_detector with tuple output, in the order of its `keypoint_names`."""

    def __init__(self, kp_detector):
        super().__init__()
        self.kp_detector = kp_detector
        self.keypoint_names = tuple(kp_detector.keypoint_names)

    def forward(self, image):
        kp = self.kp_detector(image)
        return tuple(kp[name] for name in self.keypoint_names)


class SourceEncoder(nn.Layer):
    """The generator's encoder: source image -> features (depend on the source only)."""

    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def forward(self, source_image):
        return self.generator.encode(source_image)


class FrameGenerator(nn.Layer):
    """Source (batch 1) + normalised driving keypoints (batch B) -> B predicted frames.

    Keypoint tensors come in pairs (source, driving) per name of `keypoint_names`; the second pair
    (FOMM's jacobians) is optional.
    """

    def __init__(self, generator, keypoint_names):
        super().__init__()
        self.generator = generator
        self.keypoint_names = tuple(keypoint_names)

    def forward(self, source_image, source_features, kp_source_0, kp_driving_0, kp_source_1=None,
                kp_driving_1=None):
        batch = paddle.shape(kp_driving_0)[0]
        pairs = [(kp_source_0, kp_driving_0), (kp_source_1, kp_driving_1)]
        kp_source, kp_driving = {}, {}
        for name, (source, driving) in zip(self.keypoint_names, pairs):
            kp_source[name] = _tile(source, batch)
            kp_driving[name] = driving
        return self.generator.animate(_tile(source_features, batch), _tile(source_image, batch), kp_driving,
                                      kp_source)


class AVDGraph(nn.Layer):
    """The AVD network with the source's keypoints (batch 1) broadcast to the driving batch."""

    def __init__(self, avd_network):
        super().__init__()
        self.avd_network = avd_network

    def forward(self, kp_source_fg_kp, kp_driving_fg_kp):
        batch = paddle.shape(kp_driving_fg_kp)[0]
        return self.avd_network({"fg_kp": _tile(kp_source_fg_kp, batch)}, {"fg_kp": kp_driving_fg_kp})["fg_kp"]


def build_graphs(kp_detector, generator, avd_network=None):
    """The graphs around loaded nets (put in eval mode), as {name: layer}."""
    nets = [kp_detector, generator] + ([avd_network] if avd_network is not None else [])
    for net in nets:
        net.eval()
    keypoints = KeypointGraph(kp_detector)
    graphs = {"kp_detector": keypoints, "source_encoder": SourceEncoder(generator),
              "frame_generator": FrameGenerator(generator, keypoints.keypoint_names)}
    if avd_network is not None:
        graphs["avd_network"] = AVDGraph(avd_network)
    return graphs


def keypoint_input_names(keypoint_names):
    """The frame generator's keypoint inputs: kp_source_<name>, kp_driving_<name> per keypoint tensor."""
    return [prefix + name for name in keypoint_names for prefix in ("kp_source_", "kp_driving_")]


def input_specs(keypoint_shapes, image_size, feature_shape, with_avd=False):
    """Input specs of the graphs at a fixed frame size with a dynamic batch dimension.

    keypoint_shapes: {name: shape without the batch axis}, in the detector's order.
    """
    from paddle.static import InputSpec
    h, w = image_size
    frame = [InputSpec([1, 3, h, w], "float32", "source_image"),
             InputSpec([1] + list(feature_shape), "float32", "source_features")]
    for name, shape in keypoint_shapes.items():
        frame += [InputSpec([1] + list(shape), "float32", "kp_source_" + name),
                  InputSpec([None] + list(shape), "float32", "kp_driving_" + name)]
    specs = {"kp_detector": [InputSpec([None, 3, h, w], "float32", "image")],
             "source_encoder": [InputSpec([1, 3, h, w], "float32", "source_image")],
             "frame_generator": frame}
    if with_avd:
        shape = list(keypoint_shapes["fg_kp"])
        specs["avd_network"] = [InputSpec([1] + shape, "float32", "kp_source_fg_kp"),
                                InputSpec([None] + shape, "float32", "kp_driving_fg_kp")]
    return specs
