"""Convolutional building blocks shared by the keypoint detector, dense motion net and generator.

Attribute names (`conv`, `norm`, `conv1`, ...) follow the originals so that converted PyTorch
state dicts map one to one. The first order motion model normalises with BatchNorm, the thin-plate
spline motion model with affine InstanceNorm: the blocks take `norm="batch"` or `norm="instance"`.
"""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F


def block_width(block_expansion, max_features, level):
    """Channels at depth `level`: block_expansion * 2^level, capped at max_features."""
    return min(max_features, block_expansion * (2 ** level))


def _unbiased_batch_norm(layer, x, axes, base_forward):
    """Training-mode batch norm whose running variance takes the unbiased batch variance (PyTorch's rule).

    Normalisation uses the biased batch variance in both frameworks; only the running average
    differs (Paddle averages the biased one), and the released checkpoints' statistics were
    accumulated the PyTorch way. `axes` are the reduced axes (all but the channel axis).
    """
    if not layer.training or layer._use_global_stats:
        return base_forward(layer, x)  # explicit: Paddle 2.6 cannot export a bare super()
    # Copies: the backward pass keeps references to the statistics tensors given to the op,
    # so the buffers themselves must not be handed over and then changed in place.
    running_mean, running_var = layer._mean.clone(), layer._variance.clone()
    out = F.batch_norm(x, running_mean, running_var, weight=layer.weight, bias=layer.bias, training=True,
                       momentum=layer._momentum, epsilon=layer._epsilon, data_format=layer._data_format)
    with paddle.no_grad():
        count = 1
        for axis in axes:
            count *= x.shape[axis]
        xd = x.detach().astype("float32")
        centred = xd - xd.mean(axis=axes, keepdim=True)
        var = (centred * centred).sum(axis=axes) / max(count - 1, 1)
        paddle.assign(running_mean, layer._mean)
        paddle.assign(layer._momentum * layer._variance + (1 - layer._momentum) * var.astype(layer._variance.dtype),
                      layer._variance)
    return out


class BatchNorm2d(nn.BatchNorm2D):
    """BatchNorm over (N, C, H, W) with PyTorch's running-variance rule (see _unbiased_batch_norm)."""

    def forward(self, x):
        return _unbiased_batch_norm(self, x, [0, 2, 3], nn.BatchNorm2D.forward)


class BatchNorm1d(nn.BatchNorm1D):
    """BatchNorm over (N, C) with PyTorch's running-variance rule (the AVD network's MLPs)."""

    def forward(self, x):
        return _unbiased_batch_norm(self, x, [0], nn.BatchNorm1D.forward)


def upsample_nearest_2x(x):
    """Nearest-neighbour x2 upsampling (N, C, H, W) -> (N, C, 2H, 2W), each pixel copied into a 2x2 block.

    Equal to F.interpolate(scale_factor=2, mode="nearest"). Exported graphs get two concatenations, so
    they need no interpolation op (Paddle 3.3's oneDNN runtime rejects its attributes and
    paddle2onnx cannot convert its scale); copies are fast everywhere, while ONNX Runtime's Expand
    (a broadcast) took 11% of the vox-256 frame generator.
    """
    n, c, h, w = x.shape
    if paddle.in_dynamic_mode():
        # a broadcast: its backward is one reduction, where the concatenations' split-and-add took a
        # sixth of a CPU training step
        return x.reshape([n, c, h, 1, w, 1]).expand([n, c, h, 2, w, 2]).reshape([n, c, 2 * h, 2 * w])
    columns = paddle.concat([x.unsqueeze(-1), x.unsqueeze(-1)], axis=-1).reshape([0, c, h, 1, 2 * w])
    return paddle.concat([columns, columns], axis=3).reshape([0, c, 2 * h, 2 * w])


def batch_norm(num_features):
    """BatchNorm with PyTorch's defaults (momentum 0.1 there is 0.9 in Paddle's convention)."""
    return BatchNorm2d(num_features, momentum=0.9, epsilon=1e-5)


def batch_norm_1d(num_features):
    """1-D BatchNorm with PyTorch's defaults."""
    return BatchNorm1d(num_features, momentum=0.9, epsilon=1e-5)


def norm_layer(norm, num_features):
    """The normalisation of a block: 'batch' (BatchNorm with running statistics) or 'instance'
    (InstanceNorm with an affine weight and bias, no running statistics: PyTorch's
    InstanceNorm2d(affine=True))."""
    if norm == "batch":
        return batch_norm(num_features)
    if norm == "instance":
        return InstanceNorm2d(num_features)
    raise ValueError("norm must be 'batch' or 'instance', got %r" % (norm,))


class ResBlock2d(nn.Layer):
    """Pre-activation residual block: x + conv(relu(norm(conv(relu(norm(x))))))."""

    def __init__(self, in_features, kernel_size, padding, norm="batch"):
        super().__init__()
        self.conv1 = nn.Conv2D(in_features, in_features, kernel_size, padding=padding)
        self.conv2 = nn.Conv2D(in_features, in_features, kernel_size, padding=padding)
        self.norm1 = norm_layer(norm, in_features)
        self.norm2 = norm_layer(norm, in_features)

    def forward(self, x):
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return out + x


class UpBlock2d(nn.Layer):
    """Nearest-neighbour x2 upsampling, then conv, norm, ReLU."""

    def __init__(self, in_features, out_features, kernel_size=3, padding=1, groups=1, norm="batch"):
        super().__init__()
        self.conv = nn.Conv2D(in_features, out_features, kernel_size, padding=padding, groups=groups)
        self.norm = norm_layer(norm, out_features)

    def forward(self, x):
        out = upsample_nearest_2x(x)
        return F.relu(self.norm(self.conv(out)))


class DownBlock2d(nn.Layer):
    """Conv, norm, ReLU, then 2x2 average pooling."""

    def __init__(self, in_features, out_features, kernel_size=3, padding=1, groups=1, norm="batch"):
        super().__init__()
        self.conv = nn.Conv2D(in_features, out_features, kernel_size, padding=padding, groups=groups)
        self.norm = norm_layer(norm, out_features)

    def forward(self, x):
        out = F.relu(self.norm(self.conv(x)))
        return F.avg_pool2d(out, kernel_size=2, stride=2)


class SameBlock2d(nn.Layer):
    """Conv, norm, ReLU at constant resolution (`bias=False`: a conv without bias, as PaddleGAN's mobile blocks)."""

    def __init__(self, in_features, out_features, kernel_size=3, padding=1, groups=1, norm="batch", bias=True):
        super().__init__()
        self.conv = nn.Conv2D(in_features, out_features, kernel_size, padding=padding, groups=groups,
                              bias_attr=None if bias else False)
        self.norm = norm_layer(norm, out_features)

    def forward(self, x):
        return F.relu(self.norm(self.conv(x)))


class InstanceNorm2d(nn.Layer):
    """Instance normalisation with an affine `weight`/`bias` (PyTorch parameter names)."""

    def __init__(self, num_features, epsilon=1e-5):
        super().__init__()
        self.epsilon = epsilon
        self.weight = self.create_parameter([num_features], default_initializer=nn.initializer.Constant(1.0))
        self.bias = self.create_parameter([num_features], is_bias=True)

    def forward(self, x):
        return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.epsilon)


class SpectralNormConv2d(nn.Layer):
    """Conv2d whose weight is divided by its largest singular value (Miyato et al. 2018).

    Stores `weight_orig`, `weight_u`, `weight_v` as PyTorch's `spectral_norm` does. In training
    mode every call runs one power iteration v = W^T u / |W^T u|, u = W v / |W v| (eps 1e-12) and
    keeps u, v; sigma = u . (W v), with gradients flowing through W only.
    """

    def __init__(self, in_features, out_features, kernel_size, padding=0, eps=1e-12):
        super().__init__()
        self.padding = padding
        self.eps = eps
        conv = nn.Conv2D(in_features, out_features, kernel_size, padding=padding)
        self.weight_orig = self.create_parameter(conv.weight.shape, default_initializer=nn.initializer.Assign(conv.weight))
        self.bias = self.create_parameter([out_features], is_bias=True)
        cols = in_features * conv.weight.shape[2] * conv.weight.shape[3]
        self.register_buffer("weight_u", F.normalize(paddle.randn([out_features]), axis=0, epsilon=eps))
        self.register_buffer("weight_v", F.normalize(paddle.randn([cols]), axis=0, epsilon=eps))

    @property
    def out_channels(self):
        return self.weight_orig.shape[0]

    def spectral_weight(self):
        """The normalised weight W / sigma(W), updating u and v first when training."""
        w_mat = self.weight_orig.reshape([self.weight_orig.shape[0], -1])
        u, v = self.weight_u, self.weight_v
        if self.training:
            with paddle.no_grad():
                v = F.normalize(paddle.mv(w_mat.t(), u), axis=0, epsilon=self.eps)
                u = F.normalize(paddle.mv(w_mat, v), axis=0, epsilon=self.eps)
                paddle.assign(u, self.weight_u)
                paddle.assign(v, self.weight_v)
            u, v = u.detach(), v.detach()
        sigma = paddle.dot(u, paddle.mv(w_mat, v))
        return self.weight_orig / sigma

    def forward(self, x):
        return F.conv2d(x, self.spectral_weight(), self.bias, padding=self.padding)
