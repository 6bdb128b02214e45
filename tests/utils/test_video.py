import logging
import os
import subprocess
import sys

import av
import imageio_ffmpeg
import numpy as np
import pytest

from ppgan.utils import video
from ppgan.utils.errors import InputError
from ppgan.utils.video import (
    VideoWriter,
    copy_audio,
    count_frames,
    has_audio,
    iter_frames,
    output_kind,
    read_frames,
    read_image,
    save_image,
    video_fps,
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


def _noise(seed, size):
    """Fixed random bytes (the same in every process: pytest-xdist workers must collect the same tests)."""
    return np.random.RandomState(seed).bytes(size)


@pytest.mark.parametrize("name,content", [("bad.mp4", _noise(1, 2048)), ("empty.mp4", b""),
                                          ("bad.gif", _noise(2, 512)), ("bad.png", _noise(3, 512))],
                         ids=["bad.mp4", "empty.mp4", "bad.gif", "bad.png"])
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


def test_source_kind():
    assert video.source_kind("a/b.MP4") == "video" and video.source_kind("x.webm") == "video"
    assert video.source_kind("x.gif") == "gif" and video.source_kind("x.png") == "strip"
    assert video.source_kind("notes.txt") is None


# --- H.264 output, folders, frame rates and audio -----------------------------------------------------------------

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def _ffmpeg_info(path):
    """What `ffmpeg -i` says about a file (its stream lines)."""
    return subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True).stderr


@pytest.fixture
def log(caplog, monkeypatch):
    """Records of the ppgan.utils logger, even after setup_logging() stopped ppgan records propagating."""
    monkeypatch.setattr(logging.getLogger("ppgan"), "propagate", True)
    with caplog.at_level(logging.DEBUG, logger="ppgan.utils"):
        yield caplog


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """Clips made by ffmpeg itself: 64x64 at 10 fps with 1 s and 0.3 s of sine audio."""
    folder = tmp_path_factory.mktemp("sources")
    made = {}
    for name, seconds in (("long", "1"), ("short", "0.3")):
        path = folder / ("%s.mp4" % name)
        subprocess.run([FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                        "-f", "lavfi", "-i", "testsrc=size=64x64:rate=10", "-f", "lavfi", "-i", "sine=frequency=440",
                        "-t", seconds, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)], check=True)
        made[name] = str(path)
    return made


def test_mp4_is_h264_and_streams_its_metadata(tmp_path, frames):
    path = tmp_path / "clip.mp4"
    with VideoWriter(str(path), fps=10) as writer:
        for f in frames:
            writer.write(f)
        assert writer.codec == "h264"
        assert not path.exists()  # only the temporary file exists while writing
    assert os.listdir(tmp_path) == ["clip.mp4"]
    assert "Video: h264" in _ffmpeg_info(path) and "yuv420p" in _ffmpeg_info(path)
    assert count_frames(str(path)) == T
    assert read_frames(str(path), [0])[0].shape == (H, W, 3)
    assert video_fps(str(path)) == pytest.approx(10.0)


def test_odd_sized_frames_are_padded_by_one_pixel(tmp_path, log):
    odd = [np.full((25, 33, 3), 40 * t, np.uint8) for t in range(4)]
    path = str(tmp_path / "odd.mp4")
    assert write_video(path, odd, fps=12) == 4
    got = list(iter_frames(path))
    assert len(got) == 4 and got[0].shape == (26, 34, 3)
    assert np.abs(got[3].astype(int) - 120).max() <= 3  # the padding repeats the edge, so the frame stays flat
    assert len([r for r in log.records if "padding" in r.getMessage()]) == 1
    assert video_fps(path) == pytest.approx(12.0)


def test_abort_closes_the_encoder_and_removes_the_temporary_file(tmp_path, frames):
    writer = VideoWriter(str(tmp_path / "a.mp4"), fps=10)
    writer.write(frames[0])
    assert len(os.listdir(tmp_path)) == 1  # the hidden temporary file
    writer.abort()
    assert os.listdir(tmp_path) == []
    with pytest.raises(InputError, match="already closed"):
        writer.write(frames[1])


def test_encoder_failure_is_one_input_error_and_keeps_the_old_file(tmp_path, frames, monkeypatch):
    """A full disk shows up as an FFmpeg error while muxing: one InputError naming the file, nothing replaced."""
    real_open = av.open

    class FullDisk:
        def __init__(self, *args, **kwargs):
            self.real = real_open(*args, **kwargs)

        def add_stream(self, *args, **kwargs):
            return self.real.add_stream(*args, **kwargs)

        def mux(self, packets):
            raise av.error.OSError(28, "No space left on device")

        def close(self):
            self.real.close()

    monkeypatch.setattr(av, "open", FullDisk)
    out = tmp_path / "out"
    out.mkdir()
    (out / "v.mp4").write_bytes(b"previous")
    with pytest.raises(InputError, match="v.mp4.*No space left on device.*disk space"):
        write_video(str(out / "v.mp4"), frames, fps=10)
    assert os.listdir(out) == ["v.mp4"] and (out / "v.mp4").read_bytes() == b"previous"


def test_no_ffmpeg_binary_is_needed(tmp_path, frames, sources, monkeypatch):
    """Encoding, decoding and audio all run in process (PyAV), so a missing ffmpeg binary changes nothing."""
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # makes any import of it fail
    monkeypatch.setenv("PATH", "")
    path = str(tmp_path / "a.mp4")
    with VideoWriter(path, fps=10) as writer:
        for f in frames:
            writer.write(f)
    assert writer.codec == "h264" and count_frames(path) == T
    assert copy_audio(path, sources["long"], path) and has_audio(path)


@pytest.mark.parametrize("name", ["out.mp4", "out.gif", "frames"])
def test_exception_inside_with_leaves_neither_target_nor_temporary(tmp_path, frames, name):
    with pytest.raises(RuntimeError, match="boom"), VideoWriter(str(tmp_path / name), fps=10) as writer:
        for f in frames:
            writer.write(f)
        raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_output_kind():
    assert output_kind("a/b.MP4") == "mp4" and output_kind("x.gif") == "gif"
    assert output_kind("out/frames") == "folder" and output_kind("out/frames.d" + os.sep) == "folder"
    with pytest.raises(InputError, match=r"\.mp4, \.gif, or a folder"):
        output_kind("x.avi")
    with pytest.raises(InputError, match="crf"):
        VideoWriter("x.mp4", crf=60)


@pytest.mark.parametrize("suffix", ["", os.sep])
def test_folder_output_numbers_png_frames(tmp_path, frames, suffix):
    path = str(tmp_path / "frames") + suffix
    with VideoWriter(path, fps=10) as writer:
        for f in frames:
            writer.write(f)
        assert writer.kind == "folder" and writer.codec == "png"
        assert not (tmp_path / "frames").exists()
    assert os.listdir(tmp_path) == ["frames"]
    assert sorted(os.listdir(tmp_path / "frames")) == ["%05d.png" % i for i in range(T)]
    np.testing.assert_array_equal(np.stack(read_frames(path)), np.stack(frames))  # PNG is lossless


def _old_folder(tmp_path):
    old = tmp_path / "frames"
    old.mkdir()
    (old / "old.png").write_bytes(b"old frame")
    (old / "notes.txt").write_text("keep me until the new frames are complete")
    return old


def test_folder_output_replaces_an_existing_folder_only_at_close(tmp_path, frames):
    old = _old_folder(tmp_path)
    writer = VideoWriter(str(old), fps=10)
    for f in frames:
        writer.write(f)
    assert sorted(os.listdir(old)) == ["notes.txt", "old.png"]
    writer.close()
    assert sorted(os.listdir(old)) == ["%05d.png" % i for i in range(T)]
    assert os.listdir(tmp_path) == ["frames"]  # neither the new temporary nor the old folder remains


def test_folder_output_abort_leaves_the_old_folder(tmp_path, frames):
    old = _old_folder(tmp_path)
    with pytest.raises(RuntimeError), VideoWriter(str(old), fps=10) as writer:
        writer.write(frames[0])
        raise RuntimeError("interrupted")
    assert sorted(os.listdir(old)) == ["notes.txt", "old.png"] and (old / "old.png").read_bytes() == b"old frame"
    assert os.listdir(tmp_path) == ["frames"]


def test_folder_output_refuses_a_file(tmp_path, frames):
    target = tmp_path / "frames"
    target.write_bytes(b"a file")
    with pytest.raises(InputError, match="frames.*is a file"):
        VideoWriter(str(target))
    # a file appearing while frames are written is refused at close, and the frames are dropped
    later = tmp_path / "later"
    writer = VideoWriter(str(later))
    writer.write(frames[0])
    later.write_bytes(b"appeared")
    with pytest.raises(InputError, match="later.*is a file"):
        writer.close()
    assert sorted(os.listdir(tmp_path)) == ["frames", "later"] and later.read_bytes() == b"appeared"


def test_video_fps(tmp_path, frames):
    gif = str(tmp_path / "a.gif")
    write_video(gif, frames, fps=10)
    assert video_fps(gif) == pytest.approx(10.0)
    assert video_fps(_strip(tmp_path, frames)) == 25.0
    folder = str(tmp_path / "frames")
    write_video(folder, frames, fps=10)
    assert video_fps(folder, default=None) is None
    with pytest.raises(InputError, match="does not exist"):
        video_fps(str(tmp_path / "missing.mp4"))
    ntsc = str(tmp_path / "ntsc.mp4")
    write_video(ntsc, frames, fps=30000 / 1001)
    assert video_fps(ntsc) == pytest.approx(30000 / 1001, abs=1e-6)
    for bogus in (1000.0, 0.05):  # rates no real clip has (some containers report their time base) fall back
        path = str(tmp_path / ("bogus%g.mp4" % bogus))
        write_video(path, frames, fps=bogus)
        assert video_fps(path, default=24.0) == 24.0


def test_has_audio(tmp_path, frames, sources):
    assert has_audio(sources["long"])
    silent = str(tmp_path / "silent.mp4")
    write_video(silent, frames, fps=10)
    assert not has_audio(silent)
    assert not has_audio(str(tmp_path))  # a folder of frames
    with pytest.raises(InputError, match="does not exist"):
        has_audio(str(tmp_path / "missing.mp4"))
    (tmp_path / "junk.mp4").write_bytes(os.urandom(2048))
    with pytest.raises(InputError, match="junk.mp4"):
        has_audio(str(tmp_path / "junk.mp4"))


@pytest.mark.parametrize("source", ["long", "short"])  # audio longer and shorter than the 0.6 s video
def test_copy_audio_into_a_writer_output(tmp_path, frames, sources, source):
    path = str(tmp_path / "anim.mp4")
    write_video(path, frames, fps=10)
    assert copy_audio(path, sources[source], path) is True
    assert has_audio(path)
    info = _ffmpeg_info(path)
    assert "Video: h264" in info and "Audio: aac" in info
    assert count_frames(path) == T
    assert os.listdir(tmp_path) == ["anim.mp4"]
    # to another file, leaving the silent one as it was
    other = str(tmp_path / "sub" / "with_sound.mp4")
    assert copy_audio(path, sources[source], other) and has_audio(other) and count_frames(other) == T


def test_copy_audio_from_a_silent_source_writes_nothing(tmp_path, frames):
    path = tmp_path / "anim.mp4"
    silent = tmp_path / "silent.mp4"
    write_video(str(path), frames, fps=10)
    write_video(str(silent), frames[:2], fps=10)
    before = path.read_bytes()
    assert copy_audio(str(path), str(silent), str(path)) is False
    assert copy_audio(str(path), str(silent), str(tmp_path / "new.mp4")) is False
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["anim.mp4", "silent.mp4"]


def test_copy_audio_only_into_mp4(tmp_path, frames, sources):
    gif = str(tmp_path / "anim.gif")
    write_video(gif, frames, fps=10)
    for out in (str(tmp_path / "x.gif"), str(tmp_path / "frames")):
        with pytest.raises(InputError, match="only .mp4 outputs carry audio"):
            copy_audio(str(tmp_path / "whatever.mp4"), sources["long"], out)
    with pytest.raises(InputError, match="anim.gif.*write the video as .mp4"):
        copy_audio(gif, sources["long"], str(tmp_path / "x.mp4"))
    assert os.listdir(tmp_path) == ["anim.gif"]


def test_results_get_the_normal_permissions_of_new_files(tmp_path):
    """Temporary files are created owner-only; the renamed results must not keep that mode."""
    mask = os.umask(0o022)
    try:
        frames = np.zeros((2, 8, 8, 3), np.uint8)
        image = save_image(str(tmp_path / "a.png"), frames[0])
        video = str(tmp_path / "v.mp4")
        write_video(video, frames)
        folder = str(tmp_path / "frames")
        write_video(folder, frames)
        for path in (image, video, os.path.join(folder, "00000.png")):
            assert os.stat(path).st_mode & 0o777 == 0o644, path
        assert os.stat(folder).st_mode & 0o777 == 0o755
    finally:
        os.umask(mask)


def test_nchw_to_uint8_rounds_half_up_and_clips():
    from ppgan.utils.video import nchw_to_uint8
    images = np.array([0.0, 0.5 / 255, 1.5 / 255, 1.2, -0.1], np.float32).reshape(1, 1, 1, 5).repeat(3, axis=1)
    out = nchw_to_uint8(images)
    assert out.shape == (1, 1, 5, 3) and out.dtype == np.uint8
    assert out[0, 0, :, 0].tolist() == [0, 1, 2, 255, 0]


def test_write_y4m_is_a_4_2_0_file_ffmpeg_decodes_to_the_frames(tmp_path):
    from ppgan.utils.video import write_y4m

    rng = np.random.RandomState(0)
    # smooth frames (4:2:0 halves the colour resolution) plus the extremes: black, white, grey, saturated colours
    base = np.kron(rng.randint(0, 256, (T, 3, 4, 3)), np.ones((1, 8, 8, 1))).astype(np.uint8)
    base[0, :8, :8], base[0, :8, 8:16], base[0, 8:16, :8], base[0, 8:16, 8:16] = 0, 255, 128, (200, 30, 30)
    path = tmp_path / "clip.y4m"
    assert write_y4m(path, list(base), fps=30000 / 1001) == T
    data = path.read_bytes()
    header, rest = data.split(b"\n", 1)
    assert header == b"YUV4MPEG2 W32 H24 F30000:1001 Ip A1:1 C420jpeg"
    frame_bytes = len(b"FRAME\n") + H * W * 3 // 2
    assert len(rest) == T * frame_bytes and rest[:6] == b"FRAME\n"
    luma = np.frombuffer(rest[6:6 + H * W], np.uint8).reshape(H, W)
    assert luma[0, 0] == 16 and luma[0, 8] == 235 and luma[8, 0] == 126  # studio range: black 16, white 235
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.pix_fmt == "yuv420p" and float(stream.average_rate) == pytest.approx(29.97, 1e-3)
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)]).astype(int)
    assert decoded.shape == base.shape and np.abs(decoded - base).max() <= 3
    assert not [name for name in os.listdir(tmp_path) if name != "clip.y4m"]  # no temporary file left


def test_write_y4m_refuses_odd_sizes_mixed_sizes_and_nothing(tmp_path):
    from ppgan.utils.video import write_y4m

    path = tmp_path / "clip.y4m"
    with pytest.raises(InputError, match="4:2:0 needs an even width and height, the frames are 5x4"):
        write_y4m(path, [np.zeros((4, 5, 3), np.uint8)])
    with pytest.raises(InputError, match="frame 1 of .* is 6x4 but the first frame is 4x4"):
        write_y4m(path, [np.zeros((4, 4, 3), np.uint8), np.zeros((4, 6, 3), np.uint8)])
    with pytest.raises(InputError, match="no frames were written"):
        write_y4m(path, [])
    with pytest.raises(InputError, match="fps must be positive"):
        write_y4m(path, [np.zeros((4, 4, 3), np.uint8)], fps=0)
    assert not os.listdir(tmp_path)
