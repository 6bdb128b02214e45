"""ppgan/models/generators/inpainting.py: the inpainting network and the TPSMM animator."""
import numpy as np
import paddle
import pytest

from ppgan.models import build_nets
from ppgan.models.generators.inpainting import InpaintingNetwork, TPSAnimator


def _motion(batch, sizes, flow=16):
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, flow), np.linspace(-1, 1, flow)), -1).astype("float32")
    return {"deformation": paddle.to_tensor(np.tile(grid, (batch, 1, 1, 1))),
            "occlusion_map": [paddle.full([batch, 1, s, s], 1.0) for s in sizes],
            "contribution_maps": paddle.zeros([batch, 3, flow, flow]), "deformed_source": paddle.zeros([batch, 1])}


@pytest.mark.parametrize("multi_mask,sizes", [(True, [8, 16, 32, 64]), (False, [16])])
def test_outputs_and_identity_motion(multi_mask, sizes):
    net = InpaintingNetwork(num_channels=3, block_expansion=4, max_features=16, num_down_blocks=3,
                            multi_mask=multi_mask)
    net.eval()
    source = paddle.rand([2, 3, 64, 64])
    out = net(source, _motion(2, sizes))
    assert tuple(out["prediction"].shape) == (2, 3, 64, 64)
    # identity flow, nothing occluded: the output is the source itself (the blend keeps what is visible)
    np.testing.assert_allclose(out["prediction"].numpy(), source.numpy(), atol=1e-5)
    assert [m.shape[1:] for m in out["warped_encoder_maps"]] == [[16, 8, 8], [16, 16, 16], [8, 32, 32], [4, 64, 64]]
    assert all(m.stop_gradient for m in out["warped_encoder_maps"][:1])
    targets = net.get_encode(source, out["occlusion_map"])
    assert [t.shape[1:] for t in targets] == [m.shape[1:] for m in out["warped_encoder_maps"][::-1]]


def test_animator_encode_unpack_and_animate(tiny_tpsmm_config):
    nets = build_nets(tiny_tpsmm_config["model"])
    for net in nets.values():
        net.eval()
    animator = TPSAnimator(nets["dense_motion_network"], nets["inpainting_network"])
    source = paddle.rand([1, 3, 64, 64])
    with paddle.no_grad():
        kp = nets["kp_detector"](source)
        packed = animator.encode(source)
        maps = nets["inpainting_network"].encode(source)
        assert [m.shape for m in animator.unpack(packed, 64, 64)] == [m.shape for m in maps]
        full = animator(source, kp_driving=kp, kp_source=kp)["prediction"].numpy()
        fast = animator.animate(packed, source, kp, kp).numpy()
    np.testing.assert_allclose(fast, full, atol=1e-6)


def test_the_image_warp_is_bilinear_or_bicubic():
    nets = {warp: InpaintingNetwork(block_expansion=4, max_features=16, image_warp=warp) for warp in ("bilinear",
                                                                                                 "bicubic")}
    paddle.seed(0)
    state = nets["bilinear"].state_dict()
    nets["bicubic"].set_state_dict(state)
    source = paddle.rand([1, 3, 64, 64])
    motion = _motion(1, [8, 16, 32, 64])
    shifted = dict(motion, deformation=motion["deformation"] + 0.3 / 63)   # a fifth of a pixel
    out = {}
    for warp, net in nets.items():
        net.eval()
        np.testing.assert_allclose(net(source, motion)["prediction"].numpy(), source.numpy(), atol=1e-5)
        out[warp] = net(source, shifted)
    # only the image's own warp differs: the encoder maps are warped bilinearly in both
    for a, b in zip(out["bilinear"]["warped_encoder_maps"], out["bicubic"]["warped_encoder_maps"]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    assert np.abs(out["bilinear"]["deformed"].numpy() - out["bicubic"]["deformed"].numpy()).max() > 1e-3
    # the cubic kernel overshoots next to sharp edges; the warped image stays in [0, 1]
    board = paddle.to_tensor((np.indices((64, 64)).sum(axis=0) % 2).astype(np.float32)[None, None].repeat(3, 1))
    warped = nets["bicubic"](board, shifted)
    assert 0 <= float(warped["deformed"].min()) and float(warped["deformed"].max()) <= 1
    assert 0 <= float(warped["prediction"].min()) and float(warped["prediction"].max()) <= 1
    with pytest.raises(ValueError, match="image_warp must be one of bilinear, bicubic"):
        InpaintingNetwork(image_warp="nearest")
