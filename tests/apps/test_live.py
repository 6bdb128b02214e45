"""ppgan/apps/live.py and applications/tools/live_demo.py: a video played as a camera drives an avatar live."""
import logging
import os
import time

import cv2
import numpy as np
import pytest

from ppgan.apps import live, live_demo
from ppgan.apps.demo import DEFAULT_CONFIG, DEFAULT_WEIGHTS
from ppgan.apps.live import (CameraLost, CallbackSink, LatestFrame, LiveSession, VideoCamera, letterbox_geometry,
                             letterbox_into)
from ppgan.apps.tpsmm_predictor import TPSMMPredictor
from ppgan.apps.web_demo import SAMPLES
from ppgan.utils.errors import InputError
from ppgan.utils.video import open_video, read_frames, save_image, write_video

SOURCE_A = os.path.join(SAMPLES, "source_a.png")
SOURCE_B = os.path.join(SAMPLES, "source_b.png")
DRIVING = os.path.join(SAMPLES, "driving.mp4")
CAMERA_SHAPE = (240, 320)  # a small camera frame (H, W): the sample's face, shrunk, somewhere inside


def _camera_frames(count, offset=(40, 90), side=150):
    """The driving sample's first `count` frames as a camera sees them: its face shrunk to `side` pixels on a grey
    camera frame, its top-left corner at `offset` (y, x)."""
    frames = []
    for frame in read_frames(DRIVING, range(count)):
        canvas = np.full(CAMERA_SHAPE + (3,), 90, np.uint8)
        y, x = offset
        canvas[y:y + side, x:x + side] = cv2.resize(np.asarray(frame), (side, side), interpolation=cv2.INTER_AREA)
        frames.append(canvas)
    return frames


def _clip(path, count, fps=25.0):
    write_video(str(path), _camera_frames(count), fps=fps)
    return str(path)


@pytest.fixture(scope="module")
def predictor():
    return TPSMMPredictor(DEFAULT_CONFIG, DEFAULT_WEIGHTS)


def _video_frames(path):
    with open_video(path) as video:
        return [np.asarray(f) for f in video]


# --- the camera side ------------------------------------------------------------------------------------------
def test_the_slot_keeps_only_the_newest_frame_and_counts_the_rest_as_dropped():
    slot = LatestFrame()
    for i in range(3):
        slot.put("frame %d" % i, float(i))
    item = slot.take(timeout=1)
    assert (item.index, item.time, item.frame) == (2, 2.0, "frame 2")
    assert (slot.captured, slot.dropped) == (3, 2)
    slot.put("frame 3", 3.0)
    slot.end()
    assert slot.take(timeout=1).frame == "frame 3"  # a frame waiting when the camera ends is still taken
    assert slot.take(timeout=1) is None


def test_a_lost_camera_and_a_silent_one_are_camera_lost():
    slot = LatestFrame()
    slot.end(CameraLost("camera 0 stopped delivering frames"))
    with pytest.raises(CameraLost, match="camera 0 stopped"):
        slot.take(timeout=1)
    with pytest.raises(CameraLost, match="no frame from the camera for 0 s"):
        LatestFrame().take(timeout=0.05)


def test_a_video_played_as_a_camera_keeps_its_frame_rate_and_drops_what_is_not_taken(tmp_path):
    path = _clip(tmp_path / "clip.mp4", 20, fps=50.0)
    camera = VideoCamera(path).open()
    assert camera.fps == pytest.approx(50.0)
    camera.start()
    taken = []
    while True:
        item = camera.slot.take(timeout=5)
        if item is None:
            break
        taken.append(item)
        time.sleep(0.05)  # a consumer slower than the camera
    camera.stop()
    assert camera.slot.captured == 20 and 2 <= len(taken) <= 9
    assert camera.slot.dropped == 20 - len(taken)
    assert [t.index for t in taken] == sorted(t.index for t in taken) and taken[-1].index == 19
    for a, b in zip(taken, taken[1:]):  # capture times follow the video's clock: index / fps apart
        assert b.time - a.time == pytest.approx((b.index - a.index) / 50.0, abs=1e-6)


def test_letterbox_keeps_the_aspect_and_centres():
    assert letterbox_geometry((240, 320), (512, 512)) == (1.6, 0, 64, 512, 384)
    assert letterbox_geometry((512, 256), (256, 256)) == (0.5, 64, 0, 128, 256)
    out = np.full((100, 200, 3), 7, np.uint8)
    letterbox_into(out, np.full((50, 50, 3), 200, np.uint8))
    assert (out[:, 50:150] == 200).all() and (out[:, :50] == 0).all() and (out[:, 150:] == 0).all()


# --- face tracking --------------------------------------------------------------------------------------------
def test_the_face_square_holds_still_for_small_moves_and_follows_large_ones():
    tracker = live.FaceTracker(detect_every=1)
    still = _camera_frames(1, offset=(40, 90))[0]
    box = tracker.update(still)
    assert box is not None and tracker.face_visible
    x, y, side, _ = box
    assert x < 90 + 75 < x + side and y < 40 + 75 < y + side  # the square holds the face's centre
    nudged = _camera_frames(1, offset=(43, 94))[0]
    for _ in range(5):
        assert tracker.update(nudged) == box  # within the dead zone: the crop keeps the head's small motion
    moved = _camera_frames(1, offset=(40, 10))[0]
    boxes = [tracker.update(moved) for _ in range(15)]
    assert boxes[0][0] < x and boxes[-1][0] < boxes[0][0]  # eased towards the new place
    assert abs(boxes[-1][0] - (x - 80)) <= 3
    blank = np.full(CAMERA_SHAPE + (3,), 90, np.uint8)
    assert tracker.update(blank) == boxes[-1] and tracker.face_visible is False  # lost: the last square is kept


# --- the session ----------------------------------------------------------------------------------------------
def test_process_animates_the_avatar_at_the_output_size(predictor):
    session = LiveSession(predictor, [SOURCE_B], output_size=(320, 240))
    assert session.avatar.has_face
    frames = _camera_frames(30)
    outs = [session.process(f).copy() for f in frames]
    assert all(o.shape == (240, 320, 3) and o.dtype == np.uint8 for o in outs)
    background = (session.avatar.background * 255 + 0.5).astype(np.uint8)
    x, y, w, h = session.avatar.box
    outside = np.ones((240, 320), bool)
    outside[max(y, 0):y + h, max(x, 0):x + w] = False
    for out in outs:  # only the face's square changes
        assert np.abs(out[outside].astype(int) - background[outside]).max() <= 1
    motion = [np.abs(outs[i].astype(int) - outs[0]).mean() for i in (10, 20, 29)]
    assert min(motion) > 1.0  # the face moves with the driving face
    stats = session.stats()
    assert stats["frames"] == 30 and stats["reference_count"] == 1


def test_calibrating_makes_the_current_pose_the_reference(predictor):
    """With relative motion, the reference frame's own pose animates the avatar unmoved: after calibrating on
    frame 25, frame 25 gives what frame 0 gave at the start (both no motion), which frame 25 did not before."""
    frames = _camera_frames(26)
    session = LiveSession(predictor, [SOURCE_B], detect_every=1000)
    first = session.process(frames[0]).copy()
    for frame in frames[1:25]:
        session.process(frame)
    before = session.process(frames[25]).copy()
    session.calibrate()
    after = session.process(frames[25]).copy()
    assert session.reference_count == 2
    assert np.abs(after.astype(int) - first).max() <= 2
    assert np.abs(before.astype(int) - first).mean() > 1.0


def test_switching_avatars_changes_the_identity_and_an_unreadable_one_is_skipped(predictor, tmp_path, caplog):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    session = LiveSession(predictor, [SOURCE_A, str(broken), SOURCE_B], output_size=(256, 256))
    assert [a.name for a in session.avatars] == ["source_a.png", "source_b.png"]
    assert "skipping avatar '%s'" % broken in caplog.text
    frames = _camera_frames(3)
    a = session.process(frames[0]).copy()
    session.next_avatar()
    b = session.process(frames[1]).copy()
    session.previous_avatar()
    a2 = session.process(frames[2]).copy()
    pictures = [(avatar.background * 255 + 0.5).astype(np.uint8) for avatar in session.avatars]

    def closest(out):
        return int(np.argmin([np.abs(out.astype(int) - p).mean() for p in pictures]))

    assert (closest(a), closest(b), closest(a2)) == (0, 1, 0)
    with pytest.raises(InputError, match="broken.png"):
        LiveSession(predictor, [str(broken)])


def test_passthrough_mirror_zoom_and_the_crop_view(predictor):
    frame = _camera_frames(1)[0]
    session = LiveSession(predictor, [SOURCE_B], output_size=(320, 240))
    session.toggle_passthrough()
    assert np.array_equal(session.process(frame), frame)  # the camera itself, at the output size
    session.toggle_mirror()
    assert np.array_equal(session.process(frame), frame[:, ::-1])
    session.toggle_passthrough()
    session.toggle_mirror()
    normal = session.process(frame).copy()
    session.zoom_in()
    assert session.zoom == pytest.approx(live.ZOOM_STEP)
    with pytest.raises(InputError, match="zoom"):
        session.set_zoom(10)
    crop_view = LiveSession(predictor, [SOURCE_B], view="crop", output_size=(320, 240))
    square = crop_view.process(frame)
    assert (square[:, :40] == 0).all() and (square[:, 280:] == 0).all()  # the animated square, letterboxed
    assert not np.array_equal(square, normal)
    assert session.press("x") is None and session.press("s") == "toggle_stats" and not session.show_stats


def test_find_keyframe_replaces_the_reference_by_closer_frames(predictor):
    frames = _camera_frames(40)
    counts = []
    for find in (False, True):
        session = LiveSession(predictor, [SOURCE_B], find_keyframe=find)
        for frame in frames:
            session.process(frame)
        counts.append(session.reference_count)
    assert counts[0] == 1 and counts[1] > 1


def test_a_slow_model_drops_frames_instead_of_queueing_latency(predictor, tmp_path, monkeypatch):
    path = _clip(tmp_path / "clip.mp4", 40)
    session = LiveSession(predictor, [SOURCE_B])
    session.prepare()
    backend = session.avatar.prepared.backend
    generate = backend.generate

    def slow(*args):
        time.sleep(0.12)  # ~8 frames/s against a 25 fps camera
        return generate(*args)

    monkeypatch.setattr(backend, "generate", slow)
    report = session.run(VideoCamera(path), [CallbackSink(lambda frame, s: None)])
    assert report.error is None and report.captured == 40
    assert report.dropped >= 20 and report.frames + report.dropped == 40
    latency = report.latency_ms()
    # a queue would make each frame wait for every earlier one, the last ~3 s (40 x 0.12 s of work against 1.6 s of
    # video); with the newest frame taken, latency stays one frame's work and does not grow
    assert latency[-5:].mean() < 2 * latency[:5].mean() + 100 and latency.max() < 1000, latency


def test_frames_without_a_face_go_on(predictor, caplog):
    caplog.set_level(logging.INFO, logger="ppgan.apps")
    rng = np.random.RandomState(0)
    session = LiveSession(predictor, [SOURCE_B])
    outs = [session.process(rng.randint(0, 255, CAMERA_SHAPE + (3,), np.uint8)).copy() for _ in range(12)]
    assert len(outs) == 12 and session.tracker.face_visible is False
    assert caplog.text.count("no face in the camera frame") == 1


# --- the command line -----------------------------------------------------------------------------------------
def _run(argv, capsys):
    code = live_demo.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _summary_frames(out):
    line = [line for line in out.splitlines() if "frames animated of" in line][0]
    animated, captured = int(line.split()[0]), int(line.split(" of ")[1].split()[0])
    return animated, captured


def test_the_command_line_records_every_animated_frame_and_runs_scripted_keys(tmp_path, capsys):
    clip = _clip(tmp_path / "camera.mp4", 30)
    avatars = tmp_path / "avatars"
    avatars.mkdir()
    for name, path in (("1.png", SOURCE_A), ("2.png", SOURCE_B)):
        save_image(str(avatars / name), _image(path))
    out = tmp_path / "live.mp4"
    code, stdout, _ = _run(["--driving_video", clip, "--avatars", str(avatars), "--output", str(out),
                            "--output_size", "256x256", "--keys", "10:n", "--no-window"], capsys)
    assert code == 0
    animated, captured = _summary_frames(stdout)
    recorded = _video_frames(str(out))
    assert captured == 30 and len(recorded) == animated and "wrote %s (%d frames)" % (out, animated) in stdout
    first, second = (_image(p) for p in (SOURCE_A, SOURCE_B))
    corner = (slice(0, 20), slice(0, 20))  # outside the pasted face: the avatar itself
    for frame, avatar in ((recorded[5], first), (recorded[-1], second)):
        assert np.abs(frame[corner].astype(int) - avatar[corner]).mean() < 6


def _image(path):
    from ppgan.utils.video import read_image

    return np.asarray(read_image(path))[:, :, :3]


def test_a_camera_that_breaks_off_ends_the_session_with_one_line_and_keeps_the_recording(tmp_path, capsys, caplog):
    folder = tmp_path / "camera"
    folder.mkdir()
    for i, frame in enumerate(_camera_frames(12)):
        save_image(str(folder / ("%03d.png" % i)), frame)
    (folder / "006.png").write_bytes(b"truncated")
    out = tmp_path / "live.mp4"
    code, stdout, stderr = _run(["--driving_video", str(folder), "--source_image", SOURCE_B, "--output", str(out),
                                 "--camera_fps", "10", "--no-window"], capsys)
    assert code == 1
    lost = [r.getMessage() for r in caplog.records if "broke off" in r.getMessage()]
    assert len(lost) == 1 and "after 6 frames" in lost[0] and "006.png" in lost[0], lost
    animated, captured = _summary_frames(stdout)
    assert captured == 6 and len(_video_frames(str(out))) == animated


@pytest.mark.parametrize("argv, message", [
    (["--camera", "7"], "camera 7 cannot be opened"),
    (["--driving_video", "missing.mp4"], "--driving_video 'missing.mp4' does not exist"),
    (["--driving_video", DRIVING, "--window"], "cannot open a window"),
    (["--driving_video", DRIVING, "--no-window"], "nothing to show the animation on"),
    (["--driving_video", DRIVING, "--virtual_camera", "/dev/video63"], "virtual camera"),
    (["--driving_video", DRIVING, "--output", "x.mp4", "--zoom", "9"], "--zoom must be in"),
    (["--camera", "0", "--loop", "--output", "x.mp4"], "--loop applies to --driving_video only"),
])
def test_bad_input_is_one_line_before_any_work(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(InputError) as error:
        live_demo.main(argv + ["--source_image", SOURCE_B])
    assert message in str(error.value) and "\n" not in str(error.value)
    assert not os.listdir(str(tmp_path))  # nothing written


def test_an_unreadable_source_image_is_one_line(tmp_path, capsys):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(InputError, match="broken.png"):
        live_demo.main(["--driving_video", DRIVING, "--source_image", str(broken), "--output",
                        str(tmp_path / "x.mp4")])
    assert os.listdir(str(tmp_path)) == ["broken.png"]


def test_every_flag_is_explained_and_the_keys_are_listed():
    text = live_demo.build_parser().format_help()
    for action in live_demo.build_parser()._actions:
        assert action.help, action.option_strings
    for key in ("c take this frame as the reference", "n next avatar", "q/Esc end the session"):
        assert key in " ".join(text.split())


@pytest.mark.parametrize("backend", ["dygraph", "onnx"])
def test_live_frames_are_the_predictors_frames_for_any_family_and_backend(backend):
    """The shipped FOMM (the other family) live: the animated squares equal the predictor's own animation of the
    same driving squares against the first one."""
    from ppgan.apps import face_crop
    from ppgan.apps.first_order_predictor import FirstOrderPredictor
    from ppgan.apps.web_demo import SHIPPED_FOMM

    predictor = FirstOrderPredictor(os.path.join(SHIPPED_FOMM, "config.yaml"),
                                    os.path.join(SHIPPED_FOMM, "weights.pdparams"), backend=backend)
    session = LiveSession(predictor, [SOURCE_B], view="crop", output_size=(64, 64), detect_every=1000)
    frames = _camera_frames(12)
    outs = np.stack([session.process(frame).copy() for frame in frames]).astype(int)
    x, y, side = (int(np.floor(v + 0.5)) for v in session.tracker.box)
    squares = [face_crop.crop_square(frame, (x, y, side, side), 64) for frame in frames]
    expected = np.round(predictor.animate(session.avatar.source_input, squares) * 255.0)
    assert np.abs(outs - expected).max() <= 1
    assert np.abs(outs[-1] - outs[0]).mean() > 0.5


def test_keys_typed_in_the_terminal_are_the_controls(predictor):
    import io

    session = LiveSession(predictor, [SOURCE_A, SOURCE_B])
    live.read_keys(io.StringIO("c\n n\nmq\nb\n"), session)  # up to q: the rest is not read
    assert session._calibrate and session.avatar_index == 1 and session.mirror and session._stop_requested
    report = session.run(VideoCamera(DRIVING), [CallbackSink(lambda frame, s: None)], max_frames=3)
    assert report.frames == 3  # a stop asked before a run does not end the next one
    # a stop during a run ends it before its next frame
    assert session.run(VideoCamera(DRIVING), [CallbackSink(lambda frame, s: s.stop())]).frames == 1
