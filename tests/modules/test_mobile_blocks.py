"""ppgan/modules/mobile.py: the mobile blocks, hourglass and heads (PaddleGAN parity: tests/models/test_mobile.py)."""
import numpy as np
import paddle

from ppgan.modules.antialias import gaussian_kernel
from ppgan.modules.builder import BACKBONES, DENSE_MOTIONS, KP_DETECTORS
from ppgan.modules.mobile import MobileDownBlock2d, MobileResBlock2d, MobileUpBlock2d

BACKBONE = {"name": "MobileHourglass", "block_expansion": 8, "max_features": 32, "num_blocks": 3}


def test_blocks_keep_the_full_blocks_shapes_with_separable_convs():
    x = paddle.rand([2, 6, 16, 16])
    down, up, res = MobileDownBlock2d(6, 12), MobileUpBlock2d(6, 4), MobileResBlock2d(6)
    assert down(x).shape == [2, 12, 8, 8] and up(x).shape == [2, 4, 32, 32] and res(x).shape == [2, 6, 16, 16]
    assert down.conv.weight.shape == [6, 1, 3, 3] and down.conv1.weight.shape == [12, 6, 1, 1]
    assert down.conv.bias is None and down.conv1.bias is None
    assert res.conv_pw.weight.shape == [12, 6, 1, 1] and res.conv_dw.weight.shape == [12, 1, 3, 3]


def test_mobile_hourglass_has_the_hourglass_widths():
    full = BACKBONES.build(dict(BACKBONE, name="Hourglass"), in_features=3)
    mobile = BACKBONES.build(BACKBONE, in_features=3)
    assert mobile.out_filters == full.out_filters and mobile.out_channels == full.out_channels
    assert mobile(paddle.rand([1, 3, 16, 16])).shape == full(paddle.rand([1, 3, 16, 16])).shape
    assert sum(p.size for p in mobile.parameters()) < sum(p.size for p in full.parameters()) / 3


def test_detector_starts_with_identity_jacobians_that_every_head_conv_can_train():
    paddle.seed(0)
    detector = KP_DETECTORS.build({"name": "MobileKPDetector", "backbone": BACKBONE, "scale_factor": 0.5},
                                  num_kp=4, num_channels=3, estimate_jacobian=True)
    assert detector.down.weight.shape == [3, 1, 3, 3]
    np.testing.assert_allclose(detector.down.weight.numpy()[0, 0], gaussian_kernel(0.5, 0.25), atol=1e-7)
    frames = paddle.rand([2, 3, 32, 32])
    kp = detector(frames)
    np.testing.assert_allclose(kp["jacobian"].numpy(), np.tile(np.eye(2), (2, 4, 1, 1)), atol=1e-6)
    head = detector.jacobian
    assert [type(layer).__name__ for layer in head] == ["Conv2D"] * 3
    # the last conv (zero weights) has gradients at once; after one step of it, so have the first two (with
    # PaddleGAN's all-zero start no weight of the head would ever get one)
    kp["jacobian"].pow(2).sum().backward()
    assert float(head[2].weight.grad.abs().sum()) > 0
    with paddle.no_grad():
        head[2].weight.set_value(head[2].weight - 0.1 * head[2].weight.grad)
    detector.clear_gradients()
    detector(frames)["jacobian"].pow(2).sum().backward()
    for layer in head:
        assert float(layer.weight.grad.abs().sum()) > 0


def test_dense_motion_heads_have_relus_between_their_convs():
    net = DENSE_MOTIONS.build({"name": "MobileDenseMotionNetwork", "backbone": BACKBONE, "scale_factor": 0.5},
                              num_kp=4, num_channels=3, estimate_occlusion_map=True)
    assert [type(layer).__name__ for layer in net.mask] == ["Conv2D", "ReLU", "Conv2D", "ReLU", "Conv2D"]
    assert net.occlusion[4].weight.shape[0] == 1 and net.mask[4].weight.shape[0] == 5
    kp = {"value": paddle.rand([1, 4, 2]) - 0.5, "jacobian": paddle.eye(2).expand([1, 4, 2, 2])}
    out = net(paddle.rand([1, 3, 32, 32]), kp, kp)
    assert out["deformation"].shape == [1, 16, 16, 2] and out["occlusion_map"].shape == [1, 1, 16, 16]
