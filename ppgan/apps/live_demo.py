"""applications/tools/live_demo.py: a camera, or a video file played as one, drives an avatar live
(`ppgan.apps.live`); the output goes to a window, a virtual camera and/or a recording."""
import argparse
import contextlib
import os
import re
import sys

from ppgan.utils.errors import InputError

from .demo import (HelpFormatter, _set_device, add_backend_args, add_face_args, add_model_args, add_motion_args,
                   make_predictor, resolve_model)
from .face_crop import check_ratio
from .live import (CROPS, DEFAULT_DETECT_EVERY, DEFAULT_OUTPUT_SIZE, KEYS, VIEWS, ZOOM_RANGE, DeviceCamera, LiveSession,
                   VideoCamera, VideoSink, VirtualCameraSink, WindowSink, avatar_paths, display_available,
                   terminal_keys)

CONTROLS = {"calibrate": "take this frame as the reference pose (hold a neutral pose, then press)",
            "next_avatar": "next avatar", "previous_avatar": "previous avatar",
            "toggle_passthrough": "show the camera itself / the avatar", "toggle_mirror": "mirror the camera",
            "zoom_in": "zoom in on the face", "zoom_out": "zoom out",
            "toggle_find_keyframe": "keep replacing the reference by frames closer to the avatar's pose",
            "toggle_stats": "show / hide frames per second and latency", "quit": "end the session"}


def _keys_help():
    by_action = {}
    for key, action in KEYS.items():
        by_action.setdefault(action, []).append("Esc" if key == "\x1b" else key)
    return "keys in the window (or typed in the terminal without one): " + "; ".join(
        "%s %s" % ("/".join(keys), CONTROLS[action]) for action, keys in by_action.items())


def _size(text):
    """argparse type of --output_size / --camera_size: WxH or N (a square)."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX,]\s*(\d+))?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError("expected WxH such as 640x480, or N for NxN, got %r" % text)
    width = int(match.group(1))
    height = int(match.group(2) or width)
    if width < 16 or height < 16:
        raise argparse.ArgumentTypeError("width and height must be at least 16, got %r" % text)
    return width, height


def _presses(text):
    """argparse type of --keys: {output frame: [keys]}."""
    presses = {}
    for item in text.split(","):
        frame, sep, key = item.strip().partition(":")
        if not sep or not frame.strip().isdigit() or key not in KEYS:
            raise argparse.ArgumentTypeError("expected N:KEY items such as 50:c,100:n with keys among %s, got %r"
                                             % (" ".join(k for k in KEYS if k != "\x1b"), item))
        presses.setdefault(int(frame), []).append(key)
    return presses


def build_parser():
    """The live demo's argument parser; every flag says what it does."""
    parser = argparse.ArgumentParser(
        prog="live_demo.py",
        description="Animate an avatar live: the face in a camera (--camera N) or in a video played as a camera "
                    "(--driving_video) moves the face in --source_image (or in each image of --avatars). Frames the "
                    "model cannot keep up with are dropped, never queued. The output goes to a window (when there "
                    "is a display), a virtual camera (--virtual_camera) and/or a recording (--output). Without "
                    "--config/--weight_path the small TPSMM shipped with the project animates (64x64 cartoon faces).",
        epilog=_keys_help(), formatter_class=HelpFormatter)
    add_model_args(parser)
    camera = parser.add_mutually_exclusive_group(required=True)
    camera.add_argument("--camera", type=int, metavar="N", help="the camera device to read (0 is the first; OpenCV's "
                        "numbering)")
    camera.add_argument("--driving_video", metavar="FILE",
                        help="a video file played as a camera at its own frame rate (frames the model cannot keep up "
                             "with are dropped, as with a camera); the session ends with the video unless --loop")
    parser.add_argument("--loop", action="store_true", help="play --driving_video again and again")
    parser.add_argument("--camera_fps", type=float, default=None, metavar="FPS",
                        help="play --driving_video at this frame rate instead of its own")
    parser.add_argument("--camera_size", type=_size, default=None, metavar="WxH",
                        help="ask the --camera device for frames of this size (default: the device's)")
    avatars = parser.add_mutually_exclusive_group(required=True)
    avatars.add_argument("--source_image", metavar="FILE", help="the avatar: an image (PNG/JPEG/BMP)")
    avatars.add_argument("--avatars", metavar="DIR",
                         help="a folder of avatar images, switched with the n / b keys (in name order); an image "
                              "that cannot be read is skipped with a message")
    add_motion_args(parser)
    parser.add_argument("--crop", choices=CROPS, default="auto",
                        help="how an avatar is animated: face (the square around its face, pasted back), none (the "
                             "whole image), auto (face when one is found)")
    parser.add_argument("--view", choices=VIEWS, default="paste",
                        help="paste: the animated face blended into the avatar; crop: the animated square alone")
    add_face_args(parser)
    parser.add_argument("--detect_every", type=int, default=DEFAULT_DETECT_EVERY, metavar="N",
                        help="run the face detector on one camera frame in N (the face's square is kept in between; "
                             "detection costs 5-30 ms per run)")
    parser.add_argument("--mirror", action="store_true", help="flip the camera left-right (a selfie view)")
    parser.add_argument("--zoom", type=float, default=1.0,
                        help="crop the camera's face this many times tighter (%g to %g)" % ZOOM_RANGE)
    parser.add_argument("--find_keyframe", action="store_true",
                        help="keep replacing the reference frame by any frame whose keypoints match the avatar's "
                             "better (instead of only calibrating with the c key)")
    parser.add_argument("--output_size", type=_size, default=DEFAULT_OUTPUT_SIZE, metavar="WxH",
                        help="size of the output frames (the avatar is letterboxed into it) (default: 512x512)")
    parser.add_argument("--window", action=argparse.BooleanOptionalAction, default=None,
                        help="show the output in a window with the keys below (default: when there is a display)")
    parser.add_argument("--virtual_camera", nargs="?", const="", default=None, metavar="DEVICE",
                        help="send the output to a virtual camera that video-call programs can choose (pyvirtualcam: "
                             "pip install 'ppgan-fomm[live]'; on Linux v4l2loopback, e.g. /dev/video10; default "
                             "device: the first one found)")
    parser.add_argument("--output", default=None, metavar="FILE",
                        help="record the output frames to a file (.mp4, .gif, or a folder of PNG frames), at the "
                             "camera's frame rate")
    parser.add_argument("--keys", type=_presses, default=None, metavar="N:KEY[,N:KEY...]",
                        help="press keys at output frames, e.g. 50:c,100:n calibrates before frame 50 and shows the "
                             "next avatar from frame 100 (scripted controls, for recordings without a window)")
    parser.add_argument("--max_frames", type=int, default=None, metavar="N", help="end after N output frames")
    parser.add_argument("--max_seconds", type=float, default=None, metavar="S", help="end after S seconds")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="CPU threads of the model (default: every core this process may use)")
    add_backend_args(parser)
    return parser


def check_args(args):
    """The flag values that need no work to check (one error each)."""
    for flag, value, low in (("--threads", args.threads, 1), ("--detect_every", args.detect_every, 1),
                             ("--max_frames", args.max_frames, 1), ("--image_size", args.image_size, 16)):
        if value is not None and value < low:
            raise InputError("%s must be at least %d, got %d" % (flag, low, value))
    if args.max_seconds is not None and not args.max_seconds > 0:
        raise InputError("--max_seconds must be positive, got %g" % args.max_seconds)
    if not ZOOM_RANGE[0] <= args.zoom <= ZOOM_RANGE[1]:
        raise InputError("--zoom must be in [%g, %g], got %g" % (ZOOM_RANGE + (args.zoom,)))
    if args.camera_fps is not None and not args.camera_fps > 0:
        raise InputError("--camera_fps must be positive, got %g" % args.camera_fps)
    for flag, set_, needs in (("--loop", args.loop, args.driving_video), ("--camera_fps", args.camera_fps is not None,
                                                                         args.driving_video),
                              ("--camera_size", args.camera_size is not None, args.camera is not None)):
        if set_ and not needs:
            raise InputError("%s applies to %s only" % (flag, "--driving_video" if flag != "--camera_size"
                                                         else "--camera"))
    if args.camera is not None and args.camera < 0:
        raise InputError("--camera must be a device number >= 0, got %d" % args.camera)
    check_ratio(args.ratio)
    if args.source_image is not None and not os.path.exists(args.source_image):
        raise InputError("--source_image '%s' does not exist; check the path" % args.source_image)
    if args.output is not None:
        from .animation import output_path

        folder, name = os.path.split(os.path.abspath(args.output))
        output_path(folder, name, "--output")


def _camera(args):
    if args.driving_video is not None:
        if not os.path.exists(args.driving_video):
            raise InputError("--driving_video '%s' does not exist; check the path" % args.driving_video)
        return VideoCamera(args.driving_video, fps=args.camera_fps, loop=args.loop).open()
    width, height = args.camera_size or (None, None)
    return DeviceCamera(args.camera, width, height).open()


def main(argv=None):
    """Parse `argv`, run the live session until the camera ends or the user stops it; returns the exit code (1 when
    the camera was lost)."""
    args = build_parser().parse_args(argv)
    check_args(args)
    paths = avatar_paths(args.source_image, args.avatars)
    config, weights = resolve_model(args.config, args.weight_path, args.mobile_net, args.image_size)
    width, height = args.output_size
    with contextlib.ExitStack() as stack:
        camera = _camera(args)
        stack.callback(camera.stop)
        window = display_available()[0] if args.window is None else args.window
        if not (window or args.virtual_camera is not None or args.output):
            raise InputError("nothing to show the animation on: %s; give --output FILE to record it, or "
                             "--virtual_camera" % (display_available()[1] or "--no-window"))
        sinks = []
        if window:
            sinks.append(WindowSink())
        if args.virtual_camera is not None:
            sinks.append(VirtualCameraSink(width, height, camera.fps or 30.0, args.virtual_camera or None))
        stack.callback(lambda: [sink.close(aborted=True) for sink in sinks])  # before run() owns them
        _set_device(args.cpu)
        args.batch_size = 1  # live frames come one at a time
        predictor = make_predictor(config, weights, args)
        session = LiveSession(predictor, paths, crop=args.crop, view=args.view, output_size=(width, height),
                              ratio=args.ratio, face_detector=args.face_detector, detect_every=args.detect_every,
                              mirror=args.mirror, zoom=args.zoom, find_keyframe=args.find_keyframe)
        recording = None
        if args.output:
            recording = VideoSink(args.output, camera.fps or 25.0)
            sinks.append(recording)
        stack.pop_all()
    if not window and sys.stdin is not None and sys.stdin.isatty():
        print("keys: type one and press Enter (%s)" % _keys_help().split(": ", 1)[1], flush=True)
        terminal_keys(session)
    report = session.run(camera, sinks, max_frames=args.max_frames, max_seconds=args.max_seconds,
                         presses=args.keys)
    print(report.summary())
    if recording is not None and recording.frames:
        print("wrote %s (%d frames)" % (args.output, recording.frames))
    return 1 if report.error else 0
