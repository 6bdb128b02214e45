"""The readers behind ppgan.utils.video.open_video: one open per video, as many passes over it as wanted."""
import os
from fractions import Fraction

import av
import numpy as np
import pytest

from ppgan.utils.errors import InputError
from ppgan.utils.video import (ContainerReader, FolderReader, StripReader, VideoReader, open_video, save_image,
                               write_video)

H, W, T = 32, 48, 10


@pytest.fixture
def frames():
    """Distinct smooth frames: a bright square moving over a gradient."""
    yy, xx = np.mgrid[0:H, 0:W]
    out = []
    for t in range(T):
        frame = np.stack([40 + 3 * xx, 40 + 4 * yy, np.full_like(xx, 30)], axis=2).astype(np.uint8)
        frame[4:14, 2 + 4 * t:12 + 4 * t] = (230, 200, 60)
        out.append(frame)
    return out


def _encode(path, frames, codec, fps=10, rotation=None, audio=False):
    """A file written by PyAV directly (not by VideoWriter), in any container and codec."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        if rotation is not None:
            if not hasattr(stream, "set_display_rotation"):
                pytest.skip("this PyAV cannot write a display rotation (Stream.set_display_rotation)")
            stream.set_display_rotation(rotation)
        sound = out.add_stream("aac", rate=16000, layout="mono") if audio else None
        for i, frame in enumerate(frames):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            if sound is not None:
                tone = np.sin(np.arange(1600) * 0.2)[None].astype(np.float32)
                chunk = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts, chunk.time_base = 16000, i * 1600, Fraction(1, 16000)
                out.mux(sound.encode(chunk))
        out.mux(stream.encode(None))
        if sound is not None:
            out.mux(sound.encode(None))
    return str(path)


@pytest.fixture
def count_opens(monkeypatch):
    """Paths av.open was asked to read, in order."""
    opened, real_open = [], av.open

    def counting(path, mode="r", **kwargs):
        if mode == "r":
            opened.append(os.fspath(path))
        return real_open(path, mode, **kwargs)

    monkeypatch.setattr(av, "open", counting)
    return opened


@pytest.mark.parametrize("name,codec", [("v.mp4", "libx264"), ("v.mkv", "libx264"), ("v.mov", "libx264"),
                                        ("v.avi", "mpeg4"), ("v.webm", "libvpx-vp9")])
def test_container_is_opened_once_for_any_number_of_passes(tmp_path, frames, count_opens, name, codec):
    path = _encode(tmp_path / name, frames, codec)
    count_opens.clear()
    with open_video(path) as video:
        assert isinstance(video, ContainerReader) and video.fps == pytest.approx(10)
        assert video.frame_count_hint in (T, T + 1, T - 1)  # the container's figure or an estimate from duration
        first = list(video)
        assert len(first) == T and first[0].shape == (H, W, 3) and first[0].dtype == np.uint8
        for f, g in zip(first, frames):
            assert np.abs(f.astype(int) - g).mean() < 12
        partial = iter(video)
        next(partial), next(partial)  # a pass left unfinished must not disturb the next one
        np.testing.assert_array_equal(np.stack(list(video)), np.stack(first))
        assert video.count() == T
        picked = video.read([7, 2, 7])
        np.testing.assert_array_equal(picked[0], first[7])
        np.testing.assert_array_equal(picked[1], first[2])
        np.testing.assert_array_equal(next(iter(video)), first[0])
    assert count_opens == [path]


def test_gif_is_read_by_the_same_container_reader(tmp_path, frames, count_opens):
    path = str(tmp_path / "a.gif")
    write_video(path, frames, fps=20)
    count_opens.clear()
    with open_video(path) as video:
        assert isinstance(video, ContainerReader) and video.fps == pytest.approx(20)
        got = list(video)
        assert video.count() == T and len(got) == T
        np.testing.assert_array_equal(video.read([5])[0], got[5])
    assert count_opens == [path]


def test_folder_and_strip_readers_have_exact_counts_and_random_access(tmp_path, frames):
    folder = str(tmp_path / "frames")
    write_video(folder, frames, fps=10)
    strip = str(tmp_path / "strip.png")
    save_image(strip, np.concatenate(frames, axis=1))
    for video in (open_video(folder), open_video(strip, frame_shape=(H, W, 3))):
        assert isinstance(video, (FolderReader, StripReader)) and video.fps is None
        assert video.count() == T
        np.testing.assert_array_equal(np.stack(list(video)), np.stack(frames))  # PNG is lossless
        np.testing.assert_array_equal(np.stack(list(video)), np.stack(frames))
        np.testing.assert_array_equal(video.read([9, 0])[0], frames[9])
        with pytest.raises(InputError, match="has 10 frames; frame 10 does not exist"):
            video.read([10])
        with pytest.raises(InputError, match="negative"):
            video.read([-1])
        video.close()
    with open_video(strip) as video:  # without frame_shape a strip still tells its (missing) frame rate
        assert video.fps is None
        with pytest.raises(InputError, match="frame_shape"):
            iter(video)


def test_reading_past_the_end_of_a_container(tmp_path, frames):
    path = _encode(tmp_path / "v.mp4", frames, "libx264")
    with open_video(path) as video:
        with pytest.raises(InputError, match="v.mp4' has 10 frames; frame 12 does not exist"):
            video.read([1, 12])
        assert len(video.read([T - 1])) == 1


@pytest.mark.parametrize("rotation,turns", [(90, 1), (-90, 3), (180, 2)])
def test_rotated_phone_clips_come_out_upright(tmp_path, frames, rotation, turns):
    """The display matrix is applied, as OpenCV (which read video files before) and players do."""
    path = _encode(tmp_path / "phone.mp4", frames, "libx264", rotation=rotation)
    got = list(open_video(path))
    want = np.rot90(frames[3], turns)
    assert got[3].shape == want.shape and np.abs(got[3].astype(int) - want).mean() < 12


def test_a_reader_shares_its_open_file_for_the_audio(tmp_path, frames, count_opens):
    from ppgan.utils.video import copy_audio, has_audio

    source = _encode(tmp_path / "sound.mp4", frames, "libx264", audio=True)
    silent = str(tmp_path / "silent.mp4")
    write_video(silent, frames, fps=10)
    count_opens.clear()
    with open_video(source) as video:
        assert has_audio(video)
        list(video)
        assert copy_audio(silent, video, silent)
        assert len(list(video)) == T  # still usable afterwards
    assert count_opens == [source, silent]  # the driving video once, the silent result once to copy its stream
    assert has_audio(silent)


def test_open_video_errors(tmp_path):
    with pytest.raises(InputError, match="nope.mp4.*does not exist"):
        open_video(str(tmp_path / "nope.mp4"))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="not a supported video"):
        open_video(str(tmp_path / "notes.txt"))
    # fixed garbage: random bytes now and then look like some raw format with no video stream
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 4096)
    with pytest.raises(InputError, match="bad.mp4.*corrupt"):
        open_video(str(tmp_path / "bad.mp4"))
    audio_only = tmp_path / "audio.mp4"
    with av.open(str(audio_only), "w") as out:
        sound = out.add_stream("aac", rate=16000, layout="mono")
        chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        chunk.sample_rate = 16000
        out.mux(sound.encode(chunk))
        out.mux(sound.encode(None))
    with pytest.raises(InputError, match="audio.mp4' has no video stream"):
        open_video(str(audio_only))
    assert issubclass(ContainerReader, VideoReader)


def test_animation_opens_the_driving_video_once(tiny_config, tiny_weights, tmp_path, frames, count_opens):
    """Count, first frame, fps, frames, the best-frame search and the audio all come from one open file."""
    from ppgan.apps import FirstOrderPredictor
    from ppgan.apps.animation import Animation

    source = str(tmp_path / "source.png")
    save_image(source, frames[4])
    driving = _encode(tmp_path / "driving.mp4", frames, "libx264", audio=True)
    predictor = FirstOrderPredictor(tiny_config, tiny_weights, batch_size=4)
    count_opens.clear()
    animation = Animation(predictor, source, driving, crop="none", progress=False)
    try:
        assert animation.write(str(tmp_path / "out.mp4"), find_best_frame=True) == T
        assert animation.write(str(tmp_path / "b.mp4"), best_frame=3, audio=True) == T
    finally:
        animation.close()
    assert count_opens.count(driving) == 1
    with pytest.raises(InputError, match="--best_frame 10: video .*driving.mp4' has 10 frames; frame 10 does not"):
        Animation(predictor, source, driving, crop="none", progress=False).write(str(tmp_path / "c.mp4"),
                                                                                  best_frame=10)
    assert sorted(os.listdir(tmp_path)) == ["b.mp4", "driving.mp4", "out.mp4", "source.png", "tiny.pdparams"]


def test_the_demo_opens_the_driving_video_once(tiny_config, tiny_weights, tmp_path, frames, count_opens):
    import yaml

    from ppgan.apps import demo
    from ppgan.utils.video import count_frames, has_audio

    config = str(tmp_path / "tiny.yaml")
    with open(config, "w") as f:
        yaml.safe_dump(tiny_config, f)
    source = str(tmp_path / "source.png")
    save_image(source, frames[4])
    driving = _encode(tmp_path / "driving.mp4", frames, "libx264", audio=True)
    count_opens.clear()
    assert demo.main(["--config", config, "--weight_path", tiny_weights, "--source_image", source, "--driving_video",
                      driving, "--output", str(tmp_path / "out"), "--best_frame", "3", "--audio", "--crop", "none",
                      "--no-progress"]) == 0
    assert count_opens.count(driving) == 1
    result = str(tmp_path / "out" / "result.mp4")
    assert count_frames(result) == T and has_audio(result)


def test_gif_frame_rates_come_from_the_frame_delays(tmp_path):
    """A GIF's average rate leaves its last frame's delay out; the delays themselves give the rate (40 ms: 25
    fps), and a GIF without delays plays at FFmpeg's (and browsers') 10 fps."""
    import numpy as np
    from PIL import Image

    from ppgan.utils.video import open_video
    frames = [Image.fromarray(np.full((8, 8, 3), 20 * i, np.uint8)) for i in range(4)]
    for duration, fps in ((40, 25.0), (0, 10.0)):
        path = str(tmp_path / ("d%d.gif" % duration))
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=duration)
        with open_video(path) as reader:
            assert abs(reader.fps - fps) < 1e-6 and reader.count() == 4
