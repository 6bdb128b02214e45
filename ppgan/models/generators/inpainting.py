"""TPSMM's inpainting network (TPSMM paper, Sec. 3.3): the source encoded, every encoder level warped by the
optical flow and masked by its occlusion mask, decoded with those skips; the output keeps the warped source
wherever it is visible and paints the rest."""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ppgan.models.builder import GENERATORS
from ppgan.modules.blocks import block_width, DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d
from ppgan.modules.geometry import grid_sample, grid_sample_bicubic, resize_bilinear, resize_deformation

IMAGE_WARPS = ("bilinear", "bicubic")


@GENERATORS.register()
class InpaintingNetwork(nn.Layer):
    """Encoder (`first`, `down_blocks`), decoder (`resblock` pairs and `up_blocks`, from the deepest level),
    all with instance norm. `multi_mask`: one occlusion mask per level (coarsest first) from the dense motion
    network; else its single mask, resized to each level.

    image_warp: how the source image itself is warped into the output's visible part, `bilinear` (the
    original's grid_sample) or `bicubic` (keeps the high frequencies bilinear sampling averages away; clipped
    to the image's range [0, 1], which its overshoot at edges leaves; the encoder maps are warped bilinearly
    either way). Not in the paper: the shipped synthetic model's choice
    (docs/en_US/training_study.md).
    """

    def __init__(self, num_channels=3, block_expansion=64, max_features=512, num_down_blocks=3, multi_mask=True,
                 image_warp="bilinear"):
        super().__init__()
        if image_warp not in IMAGE_WARPS:
            raise ValueError("image_warp must be one of %s, got %r" % (", ".join(IMAGE_WARPS), image_warp))
        self.image_warp = image_warp
        self.num_channels = num_channels
        self.num_down_blocks = num_down_blocks
        self.multi_mask = multi_mask
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=7, padding=3, norm="instance")
        down, up, res = [], [], []
        for i in range(num_down_blocks):
            in_features = block_width(block_expansion, max_features, i)
            out_features = block_width(block_expansion, max_features, i + 1)
            down.append(DownBlock2d(in_features, out_features, kernel_size=3, padding=1, norm="instance"))
            decoder_in = out_features if i == num_down_blocks - 1 else 2 * out_features
            up.append(UpBlock2d(decoder_in, in_features, kernel_size=3, padding=1, norm="instance"))
            res += [ResBlock2d(decoder_in, kernel_size=3, padding=1, norm="instance") for _ in range(2)]
        self.down_blocks = nn.LayerList(down)
        self.up_blocks = nn.LayerList(up[::-1])
        self.resblock = nn.LayerList(res[::-1])
        self.final = nn.Conv2D(block_expansion, num_channels, kernel_size=7, padding=3)

    def deform_input(self, inp, deformation):
        """Backward-warp `inp` by `deformation`, resized bilinearly (align_corners) to `inp`'s resolution."""
        deformation = resize_deformation(deformation, inp.shape[2], inp.shape[3], align_corners=True)
        return grid_sample(inp, deformation, True)

    def deform_image(self, image, deformation):
        """The source image backward-warped by `deformation` with the `image_warp` interpolation."""
        if self.image_warp == "bilinear":
            return self.deform_input(image, deformation)
        deformation = resize_deformation(deformation, image.shape[2], image.shape[3], align_corners=True)
        # the cubic kernel's negative lobes overshoot at edges: kept within the image's range [0, 1]
        return paddle.clip(grid_sample_bicubic(image, deformation, True), 0.0, 1.0)

    def occlude_input(self, inp, occlusion_map):
        """`inp` times its occlusion mask (a single mask is resized to `inp`'s resolution)."""
        if not self.multi_mask and occlusion_map.shape[2:] != inp.shape[2:]:
            occlusion_map = resize_bilinear(occlusion_map, inp.shape[2], inp.shape[3], align_corners=True)
        return inp * occlusion_map

    def _mask(self, occlusion_map, level):
        """The occlusion mask of decoder level `level` (0 = deepest)."""
        return occlusion_map[level if self.multi_mask else 0]

    def encode(self, source_image):
        """The encoder's maps, finest first: [first(source), down_1, ..., down_n] (depend on the source only)."""
        maps = [self.first(source_image)]
        for block in self.down_blocks:
            maps.append(block(maps[-1]))
        return maps

    def decode(self, encoder_maps, source_image, dense_motion, output=None):
        """The prediction from the source's encoder maps and the dense motion; fills `output` (a dict) with
        'deformed' and 'warped_encoder_maps' (the warped, masked maps without gradient to the encoder or the
        masks, deepest first: what the warp loss compares) when given."""
        deformation = dense_motion["deformation"]
        occlusion_map = dense_motion["occlusion_map"]
        out = self.occlude_input(self.deform_input(encoder_maps[-1], deformation), occlusion_map[0])
        warped = []
        if output is not None:
            warped.append(self.occlude_input(self.deform_input(encoder_maps[-1].detach(), deformation),
                                             occlusion_map[0].detach()))
        skip = None
        for i in range(self.num_down_blocks):
            out = self.resblock[2 * i + 1](self.resblock[2 * i](out))
            out = self.up_blocks[i](out)
            encoder_map = encoder_maps[-(i + 2)]
            mask = self._mask(occlusion_map, i + 1)
            skip = self.occlude_input(self.deform_input(encoder_map, deformation), mask)
            if output is not None:
                warped.append(self.occlude_input(self.deform_input(encoder_map.detach(), deformation),
                                                 mask.detach()))
            if i < self.num_down_blocks - 1:
                out = paddle.concat([out, skip], axis=1)
        deformed_source = self.deform_image(source_image, deformation)
        occlusion_last = occlusion_map[-1]
        if not self.multi_mask:
            occlusion_last = resize_bilinear(occlusion_last, out.shape[2], out.shape[3], align_corners=True)
        out = out * (1 - occlusion_last) + skip
        out = F.sigmoid(self.final(out))
        prediction = out * (1 - occlusion_last) + deformed_source * occlusion_last
        if output is not None:
            output["deformed"] = deformed_source
            output["warped_encoder_maps"] = warped
        return prediction

    def forward(self, source_image, dense_motion):
        """Returns {'prediction', 'deformed', 'warped_encoder_maps', and the dense motion's
        'contribution_maps', 'deformed_source', 'occlusion_map'}."""
        output = {key: dense_motion[key] for key in ("contribution_maps", "deformed_source", "occlusion_map")}
        output["prediction"] = self.decode(self.encode(source_image), source_image, dense_motion, output)
        return output

    def get_encode(self, driving_image, occlusion_map):
        """The driving frame's encoder maps masked by the source's occlusion masks, finest first, without
        gradient (the original's get_encode: the targets of the warp loss)."""
        out = self.first(driving_image)
        levels = len(occlusion_map)
        maps = [self.occlude_input(out.detach(), occlusion_map[-1].detach())]
        for i, block in enumerate(self.down_blocks):
            out = block(out.detach())
            mask = occlusion_map[levels - 2 - i] if self.multi_mask else occlusion_map[0]
            maps.append(self.occlude_input(out.detach(), mask.detach()).detach())
        return maps


class TPSAnimator(nn.Layer):
    """The thin-plate spline model's frame generator: dense motion network + inpainting network behind the
    first order generator's interface (`forward(source_image, kp_driving, kp_source)`, `encode`, `animate`),
    for evaluation, prediction and export. It owns no parameters of its own."""

    align_corners = True  # every grid sampling of the original

    def __init__(self, dense_motion_network, inpainting_network):
        super().__init__()
        self.dense_motion_network = dense_motion_network
        self.inpainting_network = inpainting_network

    def feature_shapes(self, height, width):
        """(C, H, W) of each encoder map of a height x width source, finest first."""
        net = self.inpainting_network
        return [[layer.conv.weight.shape[0], height // 2 ** i, width // 2 ** i]
                for i, layer in enumerate([net.first] + list(net.down_blocks))]

    def encode(self, source_image):
        """The inpainting network's encoder maps of the source (finest first), flattened into one
        (B, sum C*H*W) tensor: the exported source encoder then has a single output."""
        return paddle.concat([m.flatten(1) for m in self.inpainting_network.encode(source_image)], axis=1)

    def unpack(self, features, height, width):
        """The encoder maps of :meth:`encode`'s tensor for a height x width source."""
        maps, start = [], 0
        for c, h, w in self.feature_shapes(height, width):
            maps.append(features[:, start:start + c * h * w].reshape([-1, c, h, w]))
            start += c * h * w
        return maps

    def animate(self, features, source_image, kp_driving, kp_source):
        """The predicted frames from the source's encoded features and the (normalised) driving keypoints."""
        motion = self.dense_motion_network(source_image, kp_driving, kp_source)
        maps = self.unpack(features, source_image.shape[2], source_image.shape[3])
        return self.inpainting_network.decode(maps, source_image, motion)

    def forward(self, source_image, kp_driving, kp_source, bg_param=None):
        """{'prediction', 'deformed', 'occlusion_map', 'contribution_maps', ...} as the inpainting network.
        `bg_param` (B, 3, 3): the background's affine motion (the background predictor's), None for none."""
        motion = self.dense_motion_network(source_image, kp_driving, kp_source, bg_param=bg_param)
        output = self.inpainting_network(source_image, motion)
        output["deformation"] = motion["deformation"]
        return output
