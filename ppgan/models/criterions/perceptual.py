"""Reconstruction losses over an image pyramid: VGG19 perceptual (paper, eq. 9), plain L1, and L1 of the image
gradients (finite differences)."""
import os

import numpy as np
import paddle
import paddle.nn as nn

from ppgan.utils.errors import CheckpointError, ConfigError

# torchvision's vgg19 `features`: conv widths, 'M' = 2x2 max pooling.
VGG19_LAYOUT = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
# Indices in `features` after which relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 are taken.
VGG19_OUTPUTS = (1, 6, 11, 20, 29)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

VGG19_HELP = ("set train.vgg19_weights to a VGG19 file: torchvision's vgg19 state dict "
              "(vgg19-dcbb9e9d.pth from https://download.pytorch.org/models/) or Paddle's vgg19.pdparams "
              "(paddle.vision.models.vgg19(pretrained=True) caches it under ~/.cache/paddle/hapi/weights); "
              "or train without a pretrained network: loss_weights.perceptual: [0, 0, 0, 0, 0] and "
              "loss_weights.pixel: 10")


class Vgg19(nn.Layer):
    """The first 30 layers of VGG19 `features` (frozen); returns relu1_1 ... relu5_1 of an ImageNet-normalised input.

    Parameter names are `features.<index>.weight|bias`, as in torchvision and Paddle's vgg19.
    """

    def __init__(self):
        super().__init__()
        layers, channels = [], 3
        for width in VGG19_LAYOUT:
            if width == "M":
                layers.append(nn.MaxPool2D(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2D(channels, width, 3, padding=1), nn.ReLU()]
                channels = width
        self.features = nn.Sequential(*layers[:VGG19_OUTPUTS[-1] + 1])
        self.register_buffer("mean", paddle.to_tensor(np.array(IMAGENET_MEAN, "float32").reshape(1, 3, 1, 1)),
                             persistable=False)
        self.register_buffer("std", paddle.to_tensor(np.array(IMAGENET_STD, "float32").reshape(1, 3, 1, 1)),
                             persistable=False)
        for p in self.parameters():
            p.stop_gradient = True
        self.eval()

    def forward(self, x):
        out = (x - self.mean) / self.std
        features = []
        for i, layer in enumerate(self.features):
            out = layer(out)
            if i in VGG19_OUTPUTS:
                features.append(out)
        return features

    def set_weights(self, state):
        """Load `features.N.*` arrays (numpy or tensors); other keys (the classifier) are ignored."""
        own = self.state_dict()
        wanted = [k for k in own if k.startswith("features.")]
        missing = [k for k in wanted if k not in state]
        bad = [k for k in wanted if k in state and tuple(np.shape(state[k])) != tuple(own[k].shape)]
        if missing or bad:
            detail = ("missing %s" % ", ".join(missing[:4])) if missing else (
                "%s has shape %s, expected %s" % (bad[0], tuple(np.shape(state[bad[0]])), tuple(own[bad[0]].shape)))
            raise CheckpointError("not VGG19 weights (%s); %s" % (detail, VGG19_HELP))
        self.set_state_dict({k: np.asarray(state[k], dtype="float32") for k in wanted})


def load_vgg19_weights(path):
    """Read VGG19 weights from a torchvision .pth or a Paddle .pdparams file -> {name: numpy array}."""
    if path is None:
        raise ConfigError("the perceptual loss needs VGG19 weights; " + VGG19_HELP, "train.vgg19_weights")
    if not os.path.isfile(path):
        raise CheckpointError("VGG19 weights file '%s' does not exist; %s" % (path, VGG19_HELP))
    from ppgan.utils.checkpoint import is_torch_checkpoint, read_paddle_file
    if is_torch_checkpoint(path):
        from ppgan.convert.torch_reader import load_torch_checkpoint
        state = load_torch_checkpoint(path)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
    else:
        try:
            state = read_paddle_file(path, "VGG19 weights")
        except CheckpointError as e:
            raise CheckpointError("%s; %s" % (e, VGG19_HELP)) from None
    if not isinstance(state, dict):
        raise CheckpointError("'%s' does not hold a state dict; %s" % (path, VGG19_HELP))
    return {k[len("module."):] if k.startswith("module.") else k: np.asarray(v) for k, v in state.items()}


class PerceptualPyramidLoss(nn.Layer):
    """sum_s sum_i w_i mean|VGG_i(D_s(x)) - VGG_i(D_s(y))| over pyramid scales s (paper, eq. 9)."""

    def __init__(self, scales, weights, vgg=None):
        super().__init__()
        self.scales = list(scales)
        self.weights = list(weights)
        self.vgg = vgg if vgg is not None else Vgg19()

    def forward(self, prediction_pyramid, target_pyramid):
        total = 0.0
        for scale in self.scales:
            key = "prediction_%s" % scale
            x_vgg = self.vgg(prediction_pyramid[key])
            y_vgg = self.vgg(target_pyramid[key])
            for weight, x, y in zip(self.weights, x_vgg, y_vgg):
                total = total + weight * paddle.abs(x - y.detach()).mean()
        return total


class PixelPyramidLoss(nn.Layer):
    """sum_s w mean|D_s(x) - D_s(y)|: a reconstruction loss that needs no pretrained network.

    Subclasses compare other maps of each level instead of its pixels (`maps`)."""

    def __init__(self, scales, weight):
        super().__init__()
        self.scales = list(scales)
        self.weight = weight

    @staticmethod
    def maps(image):
        """The maps of one pyramid level that the L1 compares: the image itself."""
        return (image,)

    def forward(self, prediction_pyramid, target_pyramid):
        total = 0.0
        for scale in self.scales:
            key = "prediction_%s" % scale
            for x, y in zip(self.maps(prediction_pyramid[key]), self.maps(target_pyramid[key])):
                total = total + self.weight * paddle.abs(x - y.detach()).mean()
        return total


def image_gradients(x):
    """(d/dx, d/dy) of (B, C, H, W) images as forward differences: (B, C, H, W-1) and (B, C, H-1, W)."""
    return x[:, :, :, 1:] - x[:, :, :, :-1], x[:, :, 1:, :] - x[:, :, :-1, :]


class GradientPyramidLoss(PixelPyramidLoss):
    """sum_s w (mean|dx D_s(x) - dx D_s(y)| + mean|dy D_s(x) - dy D_s(y)|): L1 between the images' finite
    differences at each pyramid scale. Not in either paper. Where an edge's place is known it charges for the
    contrast a blurred output loses (thin features at 64x64, an iris, an eyelid, a lip line, are a pixel or two
    wide); where the place is uncertain its optimum is no edge at all (a misplaced edge costs twice a missing one),
    as the pixel L1's is the median of the candidates."""

    maps = staticmethod(image_gradients)


class RegionPyramidLoss(PixelPyramidLoss):
    """sum_s w sum_p m_s(p) mean_c|D_s(x) - D_s(y)|(p) / sum_p m_s(p): the pixel pyramid L1 inside weighted regions
    m (the driving frame's region map, e.g. its eyes and mouth, downsampled as the images are). Not in either paper.
    A blink or a mouth opening alters a few percent of a face's pixels, so the whole-frame L1 barely sees whether it
    was reproduced; this term is the L1 of those pixels alone, as large as the whole frame's when they are wrong.
    Batches without region pixels add nothing."""

    def forward(self, prediction_pyramid, target_pyramid, region_pyramid):
        total = 0.0
        for scale in self.scales:
            key = "prediction_%s" % scale
            x, y, m = prediction_pyramid[key], target_pyramid[key], region_pyramid[key].detach()
            diff = paddle.abs(x - y.detach()).mean(axis=1, keepdim=True)
            total = total + self.weight * (diff * m).sum() / (m.sum() + 1e-6)
        return total
