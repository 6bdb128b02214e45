"""Tests of ppgan/utils/visual.py: keypoint placement, colour maps, grids and the step visualizer."""
import numpy as np
import pytest

from ppgan.utils.errors import ConfigError, InputError
from ppgan.utils.visual import (
    COLORMAPS,
    Visualizer,
    colormap,
    draw_keypoints,
    kp_to_pixels,
    make_grid,
)

H, W = 40, 64


def test_kp_to_pixels_corners_and_centre():
    kp = np.array([[-1, -1], [1, -1], [-1, 1], [1, 1], [0, 0]], dtype=np.float32)
    px = kp_to_pixels(kp, H, W)
    expected = [[0, 0], [W - 1, 0], [0, H - 1], [W - 1, H - 1], [(W - 1) / 2, (H - 1) / 2]]
    np.testing.assert_allclose(px, expected)


def test_kp_to_pixels_keeps_leading_dims_and_input():
    kp = np.random.default_rng(0).uniform(-1, 1, (2, 3, 2))
    before = kp.copy()
    assert kp_to_pixels(kp, H, W).shape == (2, 3, 2)
    np.testing.assert_array_equal(kp, before)
    with pytest.raises(InputError):
        kp_to_pixels(np.zeros((3, 3)), H, W)


def _colour_at(image, row, col, color, tol=0.05):
    return np.abs(image[row, col] - color).max() < tol


def test_keypoints_are_not_transposed_on_non_square_image():
    image = np.zeros((H, W, 3), dtype=np.float32)
    kp = np.array([[1.0, -1.0], [-1.0, 1.0]])
    colors = colormap("gist_rainbow", 2)
    out = draw_keypoints(image, kp, kp_size=3)
    assert out.shape == (H, W, 3) and out.dtype == np.float32
    assert _colour_at(out, 0, W - 1, colors[0])  # (x=1, y=-1): top-right
    assert _colour_at(out, H - 1, 0, colors[1])  # (x=-1, y=1): bottom-left
    assert out[0, 0].max() == 0 and out[H - 1, W - 1].max() == 0
    assert out[H // 2, W // 2].max() == 0


def test_disc_is_centred_at_subpixel_position():
    image = np.zeros((H, W, 3), dtype=np.float32)
    kp = np.array([[0.3, -0.5]])
    # gray's first colour is black: draw on white and measure how much was covered
    weight = 1.0 - draw_keypoints(image + 1.0, kp, kp_size=5, colormap_name="gray")[:, :, 0]
    rows, cols = np.mgrid[:H, :W]
    centre = [(weight * cols).sum() / weight.sum(), (weight * rows).sum() / weight.sum()]
    np.testing.assert_allclose(centre, kp_to_pixels(kp, H, W)[0], atol=0.1)
    np.testing.assert_allclose(weight.sum(), np.pi * 25, rtol=0.1)


def test_draw_keypoints_leaves_input_alone_and_accepts_uint8():
    image = np.full((H, W, 3), 0.5, dtype=np.float32)
    before = image.copy()
    draw_keypoints(image, np.zeros((4, 2)))
    np.testing.assert_array_equal(image, before)
    image8 = np.full((H, W, 3), 128, dtype=np.uint8)
    out = draw_keypoints(image8, np.zeros((1, 2)))
    assert out.dtype == np.float32 and out.max() <= 1.0
    assert np.all(image8 == 128)


def test_far_outside_and_nan_keypoints_are_skipped():
    image = np.zeros((H, W, 3), dtype=np.float32)
    out = draw_keypoints(image, np.array([[50.0, 3.0], [np.nan, 0.0]]))
    assert out.max() == 0


@pytest.mark.parametrize("name", COLORMAPS)
@pytest.mark.parametrize("n", [0, 1, 7])
def test_colormap_shapes_and_range(name, n):
    colors = colormap(name, n)
    assert colors.shape == (n, 3) and colors.dtype == np.float32
    assert np.all(colors >= 0) and np.all(colors <= 1)


def test_colormap_values():
    rainbow = colormap("gist_rainbow", 10)
    np.testing.assert_allclose(rainbow[0], [1.0, 0.0, 0.16])  # starts at a rose red
    assert rainbow[4][1] == pytest.approx(1.0) and rainbow[4][0] < 0.05  # green around 0.4
    assert rainbow[8][2] == pytest.approx(1.0) and rainbow[8][1] == 0  # blue to magenta near 0.8
    assert len({tuple(c) for c in np.round(rainbow, 3)}) == 10
    np.testing.assert_allclose(colormap("hsv", 3), [[1, 0, 0], [0, 1, 0], [0, 0, 1]], atol=1e-6)
    np.testing.assert_allclose(colormap("gray", 4)[:, 0], [0, 0.25, 0.5, 0.75])


def test_unknown_colormap_names_key_and_choices():
    with pytest.raises(ConfigError) as info:
        colormap("jet", 3)
    message = str(info.value)
    assert info.value.key_path == "visualizer.colormap"
    assert "visualizer.colormap" in message and "jet" in message
    assert all(name in message for name in COLORMAPS)
    with pytest.raises(ConfigError):
        Visualizer(colormap="viridis")
    with pytest.raises(ConfigError):
        Visualizer(kp_size=0)


def test_make_grid():
    images = [np.full((2, 3, 3), i, dtype=np.uint8) for i in range(1, 6)]
    grid = make_grid(images, 2)
    assert grid.shape == (6, 6, 3) and grid.dtype == np.uint8
    assert grid[0, 0, 0] == 1 and grid[0, 3, 0] == 2 and grid[2, 0, 0] == 3 and grid[4, 0, 0] == 5
    assert grid[4, 3, 0] == 0
    with pytest.raises(InputError):
        make_grid([np.zeros((2, 3, 3)), np.zeros((3, 2, 3))], 2)


def _step(batch=2, k=4, h=H, w=W, seed=0):
    rng = np.random.default_rng(seed)

    def imgs(c=3, hh=h, ww=w):
        return rng.uniform(0, 1, (batch, c, hh, ww)).astype(np.float32)

    def kp():
        return {"value": rng.uniform(-1, 1, (batch, k, 2)).astype(np.float32),
                "jacobian": np.tile(np.eye(2, dtype=np.float32), (batch, k, 1, 1))}

    mask = rng.uniform(0, 1, (batch, k + 1, h // 4, w // 4)).astype(np.float32)
    out = {"kp_source": kp(), "kp_driving": kp(), "transformed_frame": imgs(), "transformed_kp": kp(),
           "deformed": imgs(), "occlusion_map": imgs(1, h // 4, w // 4), "prediction": imgs(),
           "mask": mask / mask.sum(axis=1, keepdims=True), "kp_norm": kp()}
    return imgs(), imgs(), out


def test_visualizer_full_and_minimal_layouts():
    source, driving, out = _step()
    picture = Visualizer(kp_size=3, draw_border=True).visualize(source, driving, out)
    assert picture.dtype == np.uint8
    assert picture.shape == (2 * (H + 2), 7 * (W + 2), 3)
    assert np.all(picture[0, :] == 255) and np.all(picture[:, 0] == 255)  # white borders

    minimal = {"prediction": out["prediction"]}
    picture = Visualizer(draw_border=False).visualize(source, driving, minimal)
    assert picture.shape == (2 * H, 3 * W, 3)
    expected_source = (source[1].transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(picture[H:, :W], expected_source)
    assert Visualizer(draw_border=False).visualize(source, driving, {}).shape == (2 * H, 2 * W, 3)


def test_visualizer_occlusion_and_mask_columns():
    source, driving, out = _step(batch=1)
    out = {"occlusion_map": np.full((1, 1, 10, 16), 0.25, np.float32),
           "mask": np.concatenate([np.ones((1, 1, 10, 16)), np.zeros((1, 4, 10, 16))], axis=1)}
    out["mask"][:, :, :, 8:] = np.eye(5)[2][None, :, None, None]
    picture = Visualizer(draw_border=False).visualize(source, driving, out)
    assert picture.shape == (H, 4 * W, 3)
    occlusion = picture[:, 2 * W:3 * W]
    assert np.all(np.abs(occlusion.astype(int) - 64) <= 1)
    mask = picture[:, 3 * W:]
    assert np.all(mask[:, :W // 4] == 0)  # background is black
    expected = np.round(colormap("gist_rainbow", 4)[1] * 255)
    np.testing.assert_allclose(mask[:, -W // 4:].reshape(-1, 3), np.tile(expected, (H * W // 4, 1)), atol=1)


def test_visualizer_does_not_modify_inputs():
    source, driving, out = _step()
    copies = [source.copy(), driving.copy(), out["kp_source"]["value"].copy(), out["mask"].copy(),
              out["prediction"].copy()]
    Visualizer().visualize(source, driving, out)
    for a, b in zip([source, driving, out["kp_source"]["value"], out["mask"], out["prediction"]], copies):
        np.testing.assert_array_equal(a, b)


def test_visualizer_accepts_paddle_tensors():
    paddle = pytest.importorskip("paddle")
    source, driving, out = _step(batch=1)
    expected = Visualizer().visualize(source, driving, out)

    def to_tensor(value):
        if isinstance(value, dict):
            return {key: paddle.to_tensor(x) for key, x in value.items()}
        return paddle.to_tensor(value)

    tensors = {key: to_tensor(value) for key, value in out.items()}
    picture = Visualizer().visualize(paddle.to_tensor(source), paddle.to_tensor(driving), tensors)
    np.testing.assert_array_equal(picture, expected)


def test_visualizer_rejects_bad_shapes():
    source, driving, out = _step()
    with pytest.raises(InputError):
        Visualizer().visualize(source[0], driving, out)
    with pytest.raises(InputError):
        Visualizer().visualize(source, driving[:1], out)


def _tpsmm_step(batch=2, num_tps=3, seed=1):
    """Outputs of the thin-plate spline model: fg_kp dicts, multi-resolution occlusion masks, contribution maps."""
    rng = np.random.default_rng(seed)
    points = np.stack(np.meshgrid(np.linspace(-0.8, 0.8, 5), np.linspace(-0.6, 0.6, num_tps)), -1).reshape(-1, 2)
    kp = {"fg_kp": np.tile(points.astype(np.float32), (batch, 1, 1))}   # apart: the discs do not overlap
    maps = rng.uniform(0, 1, (batch, num_tps + 1, H // 4, W // 4)).astype(np.float32)
    out = {"kp_source": kp, "kp_driving": kp, "prediction": rng.uniform(0, 1, (batch, 3, H, W)).astype(np.float32),
           "occlusion_map": [np.full((batch, 1, H // 2 ** i, W // 2 ** i), 0.25 * (4 - i), np.float32)
                             for i in (3, 2, 1, 0)],
           "contribution_maps": maps / maps.sum(axis=1, keepdims=True)}
    source = rng.uniform(0, 1, (batch, 3, H, W)).astype(np.float32)
    return source, source.copy(), out


def test_visualizer_draws_tpsmm_outputs():
    source, driving, out = _tpsmm_step()
    picture = Visualizer(kp_size=2, draw_border=False).visualize(source, driving, out)
    # source, driving, prediction, four occlusion masks (coarse to fine), contribution maps
    assert picture.shape == (2 * H, 8 * W, 3)
    for i, value in enumerate((0.25, 0.5, 0.75, 1.0)):
        column = picture[:, (3 + i) * W:(4 + i) * W]
        assert np.all(np.abs(column.astype(int) - round(value * 255)) <= 1), i
    # the control points are drawn: each of the 15 in its own colour
    drawn = picture[:H, :W].astype(int)
    for (x, y), color in zip(out["kp_source"]["fg_kp"][0], colormap("gist_rainbow", 15)):
        col, row = int(round((x + 1) / 2 * (W - 1))), int(round((y + 1) / 2 * (H - 1)))
        assert np.abs(drawn[row, col] - color * 255).max() <= 40, (x, y)


def test_keypoint_dict_without_points_is_an_input_error():
    source, driving, out = _tpsmm_step()
    with pytest.raises(InputError, match="fg_kp"):
        Visualizer().visualize(source, driving, {"kp_source": {"jacobian": out["kp_source"]["fg_kp"]}})


def test_resize_keypoints_follows_the_pixels_of_a_resize():
    """A point on a pixel centre of the small image lands on the centre of the same content after cv2.resize."""
    import cv2

    from ppgan.utils.visual import resize_keypoints

    small = np.zeros((8, 12), np.float32)
    small[2, 9] = 1.0
    kp = np.array([[2 * 9 / 11 - 1, 2 * 2 / 7 - 1]])  # column 9, row 2 on the align_corners grid
    big = cv2.resize(small, (48, 32), interpolation=cv2.INTER_LINEAR)
    rows, cols = np.mgrid[:32, :48]
    centre = [(big * cols).sum() / big.sum(), (big * rows).sum() / big.sum()]
    np.testing.assert_allclose(kp_to_pixels(resize_keypoints(kp, (8, 12), (32, 48)), 32, 48)[0], centre, atol=1e-6)
    np.testing.assert_allclose(resize_keypoints(kp, (8, 12), (8, 12)), kp)


def test_keypoint_preview_enlarges_and_colours_by_transform():
    from ppgan.utils.visual import keypoint_preview

    image = np.zeros((16, 24, 3), np.uint8)
    kp = np.array([[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]])
    out = keypoint_preview(image, kp, height=64, group=2)
    assert out.shape == (64, 96, 3) and out.dtype == np.float32
    px = np.round(kp_to_pixels(kp, 64, 96)).astype(int)
    colours = [out[r, c] for c, r in px]
    np.testing.assert_allclose(colours[0], colours[1])  # one transform, one colour
    np.testing.assert_allclose(colours[2], colours[3])
    assert np.abs(colours[0] - colours[2]).max() > 0.3
    with pytest.raises(ValueError, match="group"):
        draw_keypoints(image, kp, group=0)


def test_pixels_to_kp_inverts_kp_to_pixels():
    from ppgan.utils.visual import kp_to_pixels, pixels_to_kp
    kp = np.array([[-1.0, -1.0], [1.0, 1.0], [0.25, -0.5]])
    np.testing.assert_allclose(pixels_to_kp(kp_to_pixels(kp, 48, 64), 48, 64), kp)
    np.testing.assert_allclose(pixels_to_kp([[63.0, 47.0]], 48, 64), [[1.0, 1.0]])
