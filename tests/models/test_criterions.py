import numpy as np
import paddle
import pytest

from ppgan.models.criterions import (GradientPyramidLoss, PixelPyramidLoss, RegionPyramidLoss, Vgg19, image_gradients, equivariance_jacobian_loss, equivariance_value_loss,
                                     feature_matching_loss, load_vgg19_weights, lsgan_discriminator_loss,
                                     lsgan_generator_loss)
from ppgan.models.criterions.perceptual import VGG19_LAYOUT
from ppgan.modules.antialias import ImagePyramide
from ppgan.modules.geometry import RandomTransform
from ppgan.utils.errors import CheckpointError, ConfigError


def _vgg_state(rng, extra=True):
    state, channels, index = {}, 3, 0
    for width in VGG19_LAYOUT:
        if width == "M":
            index += 1
            continue
        state["features.%d.weight" % index] = rng.standard_normal((width, channels, 3, 3)).astype("float32") * 0.05
        state["features.%d.bias" % index] = np.zeros(width, "float32")
        channels = width
        index += 2
    if extra:
        state["classifier.0.weight"] = np.zeros((2, 2), "float32")
    return state


def test_vgg19_outputs_relu1_to_relu5():
    feats = Vgg19()(paddle.rand([1, 3, 32, 32]))
    assert [tuple(f.shape[1:]) for f in feats] == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 2, 2)]
    assert all(float(f.min()) >= 0 for f in feats)
    assert all(p.stop_gradient for p in Vgg19().parameters())


def test_vgg19_weights_from_pdparams(tmp_path, rng):
    state = _vgg_state(rng)
    path = str(tmp_path / "vgg19.pdparams")
    paddle.save(state, path)
    vgg = Vgg19()
    vgg.set_weights(load_vgg19_weights(path))
    np.testing.assert_array_equal(vgg.features[0].weight.numpy(), state["features.0.weight"])


def test_vgg19_weights_from_torchvision_file(tmp_path, rng):
    torch = pytest.importorskip("torch")
    state = {k: torch.tensor(v) for k, v in _vgg_state(rng).items()}
    path = str(tmp_path / "vgg19-dcbb9e9d.pth")
    torch.save(state, path)
    vgg = Vgg19()
    vgg.set_weights(load_vgg19_weights(path))
    np.testing.assert_array_equal(vgg.features[28].weight.numpy(), state["features.28.weight"].numpy())


def test_vgg19_weight_errors(tmp_path, rng):
    with pytest.raises(ConfigError, match="train.vgg19_weights"):
        load_vgg19_weights(None)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_vgg19_weights(str(tmp_path / "nope.pth"))
    state = _vgg_state(rng)
    state["features.0.weight"] = state["features.0.weight"][:, :1]
    with pytest.raises(CheckpointError, match="features.0.weight has shape"):
        Vgg19().set_weights(state)
    del state["features.2.weight"]
    with pytest.raises(CheckpointError, match="missing features.2.weight"):
        Vgg19().set_weights(state)
    bad = tmp_path / "bad.pdparams"
    bad.write_bytes(b"not a weights file")
    with pytest.raises(CheckpointError, match="cannot read VGG19 weights"):
        load_vgg19_weights(str(bad))


def test_pixel_pyramid_loss():
    pyramid = ImagePyramide([1, 0.5], 3)
    x, y = paddle.rand([2, 3, 16, 16]), paddle.rand([2, 3, 16, 16])
    loss = PixelPyramidLoss([1, 0.5], 10)
    assert float(loss(pyramid(x), pyramid(x))) == 0
    px, py = pyramid(x), pyramid(y)
    expected = sum(10 * np.abs(px[k].numpy() - py[k].numpy()).mean() for k in px)
    assert float(loss(px, py)) == pytest.approx(expected, rel=1e-5)


def test_image_gradients_are_forward_differences():
    x = paddle.to_tensor(np.arange(12, dtype="float32").reshape(1, 1, 3, 4) ** 2)
    dx, dy = image_gradients(x)
    a = x.numpy()[0, 0]
    np.testing.assert_array_equal(dx.numpy()[0, 0], a[:, 1:] - a[:, :-1])
    np.testing.assert_array_equal(dy.numpy()[0, 0], a[1:] - a[:-1])


def test_gradient_pyramid_loss_ignores_brightness_and_charges_blur():
    pyramid = ImagePyramide([1, 0.5], 3)
    x, y = paddle.rand([2, 3, 16, 16]), paddle.rand([2, 3, 16, 16])
    loss = GradientPyramidLoss([1, 0.5], 10)
    full = ImagePyramide([1], 3)
    assert float(GradientPyramidLoss([1], 10)(full(x + 0.3), full(x))) == pytest.approx(0, abs=1e-5)  # no new edges
    px, py = pyramid(x), pyramid(y)
    expected = sum(10 * (np.abs(np.diff(px[k].numpy(), axis=3) - np.diff(py[k].numpy(), axis=3)).mean()
                         + np.abs(np.diff(px[k].numpy(), axis=2) - np.diff(py[k].numpy(), axis=2)).mean()) for k in px)
    assert float(loss(px, py)) == pytest.approx(expected, rel=1e-5)
    # A one-pixel line against its blurred copy: the gradient term charges the blur more than the pixel L1 does.
    line = np.zeros((1, 3, 16, 16), "float32")
    line[..., 8] = 1
    blurred = (np.roll(line, 1, axis=3) + line + np.roll(line, -1, axis=3)) / 3
    sharp, soft = pyramid(paddle.to_tensor(line)), pyramid(paddle.to_tensor(blurred))
    pixel = PixelPyramidLoss([1], 1)(sharp, soft)
    assert float(GradientPyramidLoss([1], 1)(sharp, soft)) > 1.5 * float(pixel)


def test_lsgan_and_feature_matching():
    real = {"prediction_map_1": paddle.full([1, 1, 2, 2], 1.0), "feature_maps_1": [paddle.ones([1, 2, 2, 2])] * 2}
    fake = {"prediction_map_1": paddle.full([1, 1, 2, 2], 0.25), "feature_maps_1": [paddle.zeros([1, 2, 2, 2])] * 2}
    assert float(lsgan_generator_loss(fake, [1], 2.0)) == pytest.approx(2 * 0.75 ** 2)
    assert float(lsgan_discriminator_loss(real, fake, [1], 1.0)) == pytest.approx(0.25 ** 2)
    assert float(feature_matching_loss(real, fake, [1], [10, 0])) == pytest.approx(10.0)


def test_equivariance_losses_vanish_for_consistent_keypoints(rng):
    identity = RandomTransform(paddle.eye(2, 3).unsqueeze(0).expand([2, 2, 3]))
    value = paddle.to_tensor(rng.uniform(-0.8, 0.8, (2, 5, 2)).astype("float32"))
    value.stop_gradient = False
    jac = paddle.to_tensor((np.eye(2) + 0.1 * rng.randn(2, 5, 2, 2)).astype("float32"))
    kp = {"value": value, "jacobian": jac}
    assert float(equivariance_value_loss(kp, kp, identity, 10)) == pytest.approx(0, abs=1e-7)
    assert float(equivariance_jacobian_loss(kp, kp, identity, 10)) == pytest.approx(0, abs=1e-5)
    shifted = {"value": value + 0.1, "jacobian": jac}
    assert float(equivariance_value_loss(kp, shifted, identity, 10)) == pytest.approx(1.0, rel=1e-5)


def test_region_pyramid_loss_counts_only_the_region_and_averages_over_it():
    from ppgan.modules.antialias import ImagePyramide
    scales = [1, 0.5]
    images, maps = ImagePyramide(scales, 3), ImagePyramide(scales, 1)
    rs = np.random.RandomState(0)
    x, y = (paddle.to_tensor(rs.rand(2, 3, 16, 16).astype("float32")) for _ in range(2))
    loss = RegionPyramidLoss(scales, 10)
    # a region covering everything is the pixel L1 (at full scale: coarser maps fade at the borders, as the
    # anti-aliasing blur pads with zeros)
    full = ImagePyramide([1], 3)
    everywhere = ImagePyramide([1], 1)(paddle.ones([2, 1, 16, 16]))
    assert float(RegionPyramidLoss([1], 10)(full(x), full(y), everywhere)) == pytest.approx(
        float(PixelPyramidLoss([1], 10)(full(x), full(y))), rel=1e-6)
    # no region, no loss; a difference outside the region costs nothing
    assert float(loss(images(x), images(y), maps(paddle.zeros([2, 1, 16, 16])))) == 0
    region = np.zeros((2, 1, 16, 16), "float32")
    region[:, :, :8] = 1
    outside = y.numpy().copy()
    outside[:, :, 12:] += 0.5
    at_scale_1 = RegionPyramidLoss([1], 1)
    one = ImagePyramide([1], 1)(paddle.to_tensor(region))
    pyr = ImagePyramide([1], 3)
    assert float(at_scale_1(pyr(y), pyr(paddle.to_tensor(outside)), one)) == pytest.approx(0, abs=1e-6)
    # its size does not scale it: the mean |difference| inside, whatever the area
    assert float(at_scale_1(pyr(y + 0.2), pyr(y), one)) == pytest.approx(0.2, rel=1e-4)
