"""ppgan/modules/bg_motion.py: the background predictor starts at the identity."""
import numpy as np
import paddle

from ppgan.modules.bg_motion import BGMotionPredictor


def test_starts_at_the_identity_and_keeps_the_last_row():
    net = BGMotionPredictor({"name": "ResNet18"})
    net.eval()
    out = net(paddle.rand([2, 3, 64, 64]), paddle.rand([2, 3, 64, 64])).numpy()
    np.testing.assert_allclose(out, np.tile(np.eye(3, dtype=np.float32), (2, 1, 1)), atol=1e-7)
    assert tuple(net.bg_encoder.conv1.weight.shape) == (64, 6, 7, 7)
