import numpy as np
import paddle
import paddle.nn as nn

from ppgan.modules.builder import BACKBONES, KP_DETECTORS


def _build(**kw):
    cfg = {"name": "KPDetector", "temperature": 0.1, "scale_factor": 0.5,
           "backbone": {"name": "Hourglass", "block_expansion": 4, "max_features": 16, "num_blocks": 3}}
    cfg.update(kw)
    return KP_DETECTORS.build(cfg, num_kp=5, num_channels=3, estimate_jacobian=True)


def test_outputs_shapes_ranges_and_identity_jacobian_init():
    det = _build()
    det.eval()
    out = det(paddle.rand([2, 3, 64, 64]))
    assert out["value"].shape == [2, 5, 2]
    assert np.abs(out["value"].numpy()).max() <= 1
    # The jacobian head starts at zero weight and bias [1, 0, 0, 1]; heatmaps sum to one => J = I.
    np.testing.assert_allclose(out["jacobian"].numpy(), np.broadcast_to(np.eye(2), (2, 5, 2, 2)), atol=1e-5)


def test_single_jacobian_map_and_pad():
    det = _build(single_jacobian_map=True, pad=3)
    assert det.jacobian.weight.shape[0] == 4
    assert det.kp.weight.shape[0] == 5
    assert det(paddle.rand([1, 3, 32, 32]))["jacobian"].shape == [1, 5, 2, 2]


def test_no_jacobian():
    det = KP_DETECTORS.build({"name": "KPDetector", "backbone": {"name": "Hourglass", "block_expansion": 4,
                                                                 "max_features": 8, "num_blocks": 2}},
                             num_kp=3, num_channels=3, estimate_jacobian=False)
    assert set(det(paddle.rand([1, 3, 16, 16]))) == {"value"}


if "TinyConvBackbone" not in BACKBONES:
    @BACKBONES.register()
    class TinyConvBackbone(nn.Layer):
        """A stand-in lighter backbone: any registered image -> feature map net plugs in."""

        def __init__(self, in_features, width=6):
            super().__init__()
            self.conv = nn.Conv2D(in_features, width, 3, padding=1)
            self.out_filters = width

        def forward(self, x):
            return self.conv(x)


def test_any_registered_backbone_plugs_in():
    det = _build(backbone={"name": "TinyConvBackbone", "width": 7})
    assert det.predictor.out_filters == 7
    assert det(paddle.rand([1, 3, 32, 32]))["value"].shape == [1, 5, 2]
