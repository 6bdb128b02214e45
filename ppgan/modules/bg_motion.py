"""TPSMM's background motion predictor: one affine transform of the whole frame (TPSMM paper, Sec. 3.2)."""
import paddle
import paddle.nn as nn

from .builder import BACKBONES, BG_PREDICTORS


@BG_PREDICTORS.register()
class BGMotionPredictor(nn.Layer):
    """Source and driving frames, concatenated, -> the background's affine transform as a 3x3 matrix
    (B, 3, 3) whose last row is [0, 0, 1]. The backbone's output layer starts at the identity (zero
    weights, bias [1, 0, 0, 0, 1, 0]); its attribute is the original's `bg_encoder`.
    """

    config_children = {"backbone": (BACKBONES, ("in_features", "num_outputs"))}

    def __init__(self, backbone, num_channels=3):
        super().__init__()
        self.bg_encoder = BACKBONES.build(backbone, in_features=2 * num_channels, num_outputs=6)
        fc = self.bg_encoder.fc
        fc.weight.set_value(paddle.zeros_like(fc.weight))
        fc.bias.set_value(paddle.to_tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], dtype=fc.bias.dtype))

    def forward(self, source_image, driving_image):
        """(B, C, H, W) twice -> (B, 3, 3)."""
        prediction = self.bg_encoder(paddle.concat([source_image, driving_image], axis=1)).reshape([0, 2, 3])
        last_row = paddle.zeros_like(prediction[:, :1, :]) + paddle.to_tensor([0.0, 0.0, 1.0], dtype=prediction.dtype)
        return paddle.concat([prediction, last_row], axis=1)
