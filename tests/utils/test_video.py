import os

import numpy as np
import pytest

from ppgan.utils.errors import InputError
from ppgan.utils.video import (
    VideoWriter,
    count_frames,
    is_video_path,
    iter_frames,
    read_frames,
    read_image,
    save_image,
    write_video,
)

H, W, T = 24, 32, 6


@pytest.fixture
def frames():
    """Smooth, distinct RGB frames (lossy codecs keep them close)."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    out = []
    for t in range(T):
        r = 40 + 150 * xx / W
        g = 40 + 150 * yy / H
        b = np.full_like(r, 30 + 30 * t)
        out.append(np.stack([r, g, b], axis=2).round().astype(np.uint8))
    return out


def _strip(tmp_path, frames, name="strip.png"):
    path = str(tmp_path / name)
    save_image(path, np.concatenate(frames, axis=1))
    return path


@pytest.mark.parametrize("ext,tol", [(".mp4", 12), (".gif", 8)])
def test_file_round_trip(tmp_path, frames, ext, tol):
    path = str(tmp_path / ("clip" + ext))
    assert write_video(path, frames, fps=10) == T
    assert os.listdir(tmp_path) == ["clip" + ext]  # no temporary file left
    assert count_frames(path) == T
    got = list(iter_frames(path))
    assert len(got) == T
    for a, b in zip(got, frames):
        assert a.shape == (H, W, 3) and a.dtype == np.uint8
        assert np.abs(a.astype(int) - b).mean() < tol
    picked = read_frames(path, [4, 1, 4])
    np.testing.assert_array_equal(picked[0], got[4])
    np.testing.assert_array_equal(picked[1], got[1])
    np.testing.assert_array_equal(picked[2], got[4])


def test_float_frames_are_written(tmp_path, frames):
    path = str(tmp_path / "f.mp4")
    write_video(path, [f.astype(np.float32) / 255 for f in frames], fps=5)
    assert count_frames(path) == T


def test_strip_round_trip_is_exact(tmp_path, frames):
    path = _strip(tmp_path, frames)
    assert count_frames(path, (H, W, 3)) == T
    got = list(iter_frames(path, frame_shape=(H, W, 3)))
    np.testing.assert_array_equal(np.stack(got), np.stack(frames))
    np.testing.assert_array_equal(read_frames(path, [2], (H, W, 3))[0], frames[2])


def test_strip_needs_frame_shape_and_whole_frames(tmp_path, frames):
    path = _strip(tmp_path, frames)
    with pytest.raises(InputError, match="frame_shape"):
        iter_frames(path)
    with pytest.raises(InputError, match="strip.png.*not a whole number"):
        count_frames(path, (H, W - 2, 3))
    # a strip stored larger than frame_shape keeps the frame aspect ratio
    assert count_frames(path, (H // 2, W // 2, 3)) == T


def test_folder_sorted_naturally_and_reads_only_requested_files(tmp_path, frames):
    folder = tmp_path / "vid"
    folder.mkdir()
    for i, f in enumerate(frames[:5]):
        save_image(str(folder / ("f%d.png" % (i * 5))), f)  # f0, f5, f10, f15, f20
    (folder / "f25.png").write_bytes(b"not a png")
    (folder / "notes.txt").write_text("ignored")
    assert count_frames(str(folder)) == 6
    picked = read_frames(str(folder), [2, 0])
    np.testing.assert_array_equal(picked[0], frames[2])
    np.testing.assert_array_equal(picked[1], frames[0])
    gen = iter_frames(str(folder))
    for i in range(5):
        np.testing.assert_array_equal(next(gen), frames[i])
    with pytest.raises(InputError, match="f25.png"):
        next(gen)


def test_grey_and_rgba_frames_become_rgb(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    save_image(str(folder / "0.png"), np.full((8, 8), 100, np.uint8))
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 255
    from PIL import Image
    Image.fromarray(rgba, "RGBA").save(str(folder / "1.png"))
    Image.fromarray(np.full((8, 8), 200, np.uint8), "L").save(str(folder / "2.png"))
    got = read_frames(str(folder))
    assert [g.shape for g in got] == [(8, 8, 3)] * 3
    assert got[0][0, 0].tolist() == [100, 100, 100]
    assert got[1][0, 0].tolist() == [255, 0, 0]
    assert got[2][0, 0].tolist() == [200, 200, 200]


def test_missing_path_fails_at_the_call(tmp_path):
    missing = str(tmp_path / "nope.mp4")
    for call in (lambda: iter_frames(missing), lambda: read_frames(missing, [0]), lambda: count_frames(missing)):
        with pytest.raises(InputError, match="nope.mp4.*does not exist"):
            call()


def test_unsupported_extension(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("x")
    with pytest.raises(InputError, match="not a supported video"):
        iter_frames(str(path))


@pytest.mark.parametrize("name,content", [("bad.mp4", os.urandom(2048)), ("empty.mp4", b""),
                                          ("bad.gif", os.urandom(512)), ("bad.png", os.urandom(512))])
def test_corrupt_or_empty_files(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=name):
        list(iter_frames(str(path), frame_shape=(8, 8, 3)))
    with pytest.raises(InputError, match=name):
        count_frames(str(path), frame_shape=(8, 8, 3))


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no image frames"):
        count_frames(str(tmp_path / "empty"))


def test_index_out_of_range(tmp_path, frames):
    path = str(tmp_path / "c.mp4")
    write_video(path, frames, fps=10)
    with pytest.raises(InputError, match="frame 99"):
        read_frames(path, [0, 99])
    with pytest.raises(InputError, match="has 6 frames"):
        read_frames(_strip(tmp_path, frames), [6], (H, W, 3))


def test_writer_leaves_nothing_on_error(tmp_path, frames):
    target = tmp_path / "out.mp4"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError), VideoWriter(str(target), fps=10) as writer:
        writer.write(frames[0])
        raise RuntimeError("boom")
    assert sorted(os.listdir(tmp_path)) == ["out.mp4"] and target.read_bytes() == b"previous"
    with pytest.raises(InputError, match="frame 1 .* first frame is 32x24"), \
            VideoWriter(str(tmp_path / "o.gif"), fps=10) as writer:
        writer.write(frames[0])
        writer.write(frames[1][:10])
    with pytest.raises(InputError, match="no frames"):
        write_video(str(tmp_path / "none.mp4"), [], fps=10)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        write_video(str(tmp_path / "f.mp4"), [frames[0].astype(np.float32)], fps=10)
    with pytest.raises(InputError, match=".mp4, .gif"):
        VideoWriter(str(tmp_path / "x.avi"))
    assert sorted(os.listdir(tmp_path)) == ["out.mp4"]


def test_save_and_read_image(tmp_path, frames):
    path = str(tmp_path / "a.png")
    save_image(path, frames[0].astype(np.float32) / 255)
    np.testing.assert_array_equal(read_image(path), frames[0])
    with pytest.raises(InputError, match="use one of"):
        save_image(str(tmp_path / "a.tiff"), frames[0])
    assert os.listdir(tmp_path) == ["a.png"]


def test_is_video_path():
    assert is_video_path("a/b.MP4") and is_video_path("x.gif") and is_video_path("x.webm")
    assert not is_video_path("x.png") and not is_video_path("folder")
