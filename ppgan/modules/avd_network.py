"""Animation via disentanglement (TPSMM paper, Sec. 3.4): source identity + driving pose -> keypoints."""
import paddle
import paddle.nn as nn

from .blocks import batch_norm_1d
from .builder import AVD_NETWORKS


def _mlp(widths, final_width):
    """Linear -> BatchNorm1d -> ReLU for each width, then a last Linear (the original's Sequential indices)."""
    layers, previous = [], widths[0]
    for width in widths[1:]:
        layers += [nn.Linear(previous, width), batch_norm_1d(width), nn.ReLU()]
        previous = width
    layers.append(nn.Linear(previous, final_width))
    return nn.Sequential(*layers)


@AVD_NETWORKS.register()
class AVDNetwork(nn.Layer):
    """Encodes the source keypoints into an identity code and the driving keypoints into a pose code,
    and decodes both into keypoints with the source's shape in the driving pose.

    Trained after the motion model (tools/main.py --stage avd), on driving keypoints randomly rescaled so
    that the identity cannot leak through the pose branch.
    """

    def __init__(self, num_tps=10, id_bottle_size=64, pose_bottle_size=64):
        super().__init__()
        self.num_tps = num_tps
        size = 5 * 2 * num_tps
        self.id_encoder = _mlp([size, 256, 512, 1024], id_bottle_size)
        self.pose_encoder = _mlp([size, 256, 512, 1024], pose_bottle_size)
        self.decoder = _mlp([pose_bottle_size + id_bottle_size, 1024, 512, 256], size)

    def forward(self, kp_source, kp_driving):
        """{'fg_kp': (B, K*5, 2)} twice -> {'fg_kp': (B, K*5, 2)}."""
        pose = self.pose_encoder(kp_driving["fg_kp"].reshape([0, -1]))
        identity = self.id_encoder(kp_source["fg_kp"].reshape([0, -1]))
        out = self.decoder(paddle.concat([pose, identity], axis=1))
        return {"fg_kp": out.reshape([0, self.num_tps * 5, 2])}
