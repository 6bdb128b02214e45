"""Command line of applications/tools/first-order-demo.py: animate a source image with a driving video.

Frames stream from the driving video through the model in batches and into the encoder, so memory
does not depend on the video's length; the result appears under its name only when complete.
"""
import argparse
import os

from ppgan.apps.animation import output_path  # noqa: F401 (the CLIs' result path)
from ppgan.apps.backends import BACKENDS
from ppgan.apps.face_crop import DEFAULT_RATIO, FACE_DETECTOR_CHOICES
from ppgan.utils.cli import height_width
from ppgan.utils.errors import CheckpointError, InputError
from ppgan.utils.logger import get_logger

logger = get_logger("ppgan.apps")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_APPS = os.path.dirname(os.path.abspath(__file__))
# The two models trained and shipped with the project (docs/en_US/training_study.md); the demo's default
# is the one that reconstructs held-out videos better (tests/apps/test_shipped_models.py checks it).
SHIPPED_MODEL_DIRS = {"FirstOrderModel": os.path.join(_APPS, "default_model"),
                      "TPSMMModel": os.path.join(_APPS, "default_model_tpsmm")}
DEFAULT_MODEL_DIR = SHIPPED_MODEL_DIRS["TPSMMModel"]
DEFAULT_CONFIG = os.path.join(DEFAULT_MODEL_DIR, "config.yaml")
DEFAULT_WEIGHTS = os.path.join(DEFAULT_MODEL_DIR, "weights.pdparams")
# TPSMM's motion modes (--mode), ppgan.models.tpsmm_model.ANIMATE_MODES without importing Paddle for --help
TPSMM_MODES = ("relative", "standard", "avd", "relative-affine")
DEFAULT_OUTPUT, DEFAULT_FILENAME = "output", "result.mp4"
RELEASED_HELP = (
    "get a released checkpoint of the original project (e.g. vox-cpk.pth.tar, linked from "
    "https://github.com/AliaksandrSiarohin/first-order-model), convert it with 'python "
    "tools/convert_torch_weights.py --input vox-cpk.pth.tar --output vox.pdparams --config "
    "configs/firstorder_vox_256.yaml' and pass --config configs/firstorder_vox_256.yaml --weight_path vox.pdparams")


def add_input_args(parser):
    """The source and driving video flags shared by the demo and tools/inference.py."""
    parser.add_argument("--source_image", required=True, help="the image to animate (PNG/JPEG/BMP; grey, RGB, "
                        "RGBA or 16-bit are converted)")
    parser.add_argument("--driving_video", required=True,
                        help="the motion: a video file (.mp4/.mov/.avi/.mkv/.webm/.gif) or a folder of frames")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default unless it is None or the help text states it already."""

    def _get_help_string(self, action):
        if action.default is None or "default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def add_motion_args(parser):
    """How driving keypoints move the source (each family's flags): shared by the demo, tools/inference.py and
    the live demo."""
    parser.add_argument("--relative", action=argparse.BooleanOptionalAction, default=None,
                        help="FOMM: transfer the driving video's motion relative to its first (or best) frame onto "
                             "the source's own pose; --no-relative copies the driving keypoints' absolute positions "
                             "(default: on)")
    parser.add_argument("--adapt_scale", action=argparse.BooleanOptionalAction, default=None,
                        help="FOMM: scale the relative motion by the ratio of the keypoints' convex hull areas "
                             "(source / driving), for objects of different sizes (default: on)")
    parser.add_argument("--mode", choices=TPSMM_MODES, default=None,
                        help="TPSMM: relative (the source's control points moved as the driving ones moved since the "
                             "reference frame, scaled by their hull areas), standard (the driving control points as "
                             "they are), avd (the AVD network puts the driving pose on the source's identity; the "
                             "weights must hold one) or relative-affine (each spline's affine motion since the "
                             "reference frame applied to the source's control points: a turning or shrinking "
                             "driving face turns or shrinks the source's face about its own points; unscaled) "
                             "(default: the model's own, its config's animate.mode: relative-affine for the shipped "
                             "TPSMM, relative where a config sets none, as the original's)")


def add_face_args(parser):
    """The face detector and the pasted face's size: shared by the demo and the live demo."""
    parser.add_argument("--face_detector", choices=FACE_DETECTOR_CHOICES, default="auto",
                        help="face detector of --crop face/auto: dlib (HOG detector and 68 landmarks; also turned and "
                             "tilted faces; pip install 'ppgan-fomm[eval]'), haar (OpenCV's Haar cascade: frontal faces "
                             "only), auto (dlib when installed, else haar), or PaddleGAN's sfd / blazeface "
                             "(face-alignment's S3FD / BlazeFace when that library and its weights are installed, "
                             "else auto)")
    parser.add_argument("--ratio", type=float, default=DEFAULT_RATIO,
                        help="with face cropping, the radius of the animated face pasted into the source, as a "
                             "fraction of the crop's side, as PaddleGAN means it (0 < ratio <= 1): 0.5 pastes the "
                             "ellipse inscribed in the crop, 0.4 a smaller one (PaddleGAN's demo; lower it when "
                             "--multi_person faces are close), 1 nearly the whole square; the outer 40%% of the "
                             "radius is blended softly")


def add_animation_args(parser):
    """How to animate: flags shared by the demo and tools/inference.py."""
    add_motion_args(parser)
    parser.add_argument("--find_best_frame", action="store_true",
                        help="take as the motion reference the driving frame whose keypoint shape is closest to the "
                             "source's (works for any category; costs one extra pass over the video)")
    parser.add_argument("--best_frame", type=int, default=None, metavar="N",
                        help="take driving frame N (0-based) as the motion reference instead of searching")
    parser.add_argument("--batch_size", type=int, default=None,
                        help="driving frames per forward pass; the result does not depend on it (default: the "
                             "fastest measured for the backend: 8 for a First Order Motion Model on ONNX Runtime or "
                             "dygraph, else 1; 8 on GPU)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="CPU threads of the model (default: every core this process may use)")
    parser.add_argument("--audio", action="store_true",
                        help="copy the driving video's audio track into the result (.mp4 only)")
    parser.add_argument("--crop", choices=("none", "face", "auto"), default="auto",
                        help="face: animate a square around the face of source and driving (see --face_detector) and "
                             "paste it back into the full source; none: animate the whole frame, padded to a "
                             "square (never stretched), written at the model's resolution; auto: face when a face is "
                             "found in the source, else none")
    add_face_args(parser)
    parser.add_argument("--multi_person", action="store_true",
                        help="with face cropping, animate every face found in the source (default: the largest)")
    parser.add_argument("--face_enhancement", action="store_true",
                        help="restore each animated face with GPEN, as PaddleGAN does (weights: --gpen_weight_path, "
                             "else PaddleGAN's GPEN-512.pdparams from ~/.cache/ppgan-fomm/weights or ~/.cache/ppgan, "
                             "downloaded once when missing)")
    parser.add_argument("--gpen_weight_path", default=None, metavar="FILE",
                        help="GPEN weights for --face_enhancement (PaddleGAN's GPEN-512.pdparams)")
    parser.add_argument("--slice_size", type=int, default=0, metavar="N",
                        help="PaddleGAN's bound on the driving frames held in memory; accepted for its command lines "
                             "and not needed: frames stream through the model, memory does not grow with the video")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def add_model_args(parser):
    """Which model animates: --config, --weight_path and PaddleGAN's FOMM flags (the demo and the live demo)."""
    parser.add_argument("--config", default=None,
                        help="model config: configs/*.yaml (firstorder_* or tpsmm_*) or an original FOMM or TPSMM "
                             "config; the config says which model it is (default: the shipped model's)")
    parser.add_argument("--weight_path", "--checkpoint", dest="weight_path", default=None,
                        help="weights: .pdparams (training, tools/convert_torch_weights.py or PaddleGAN's released "
                             "files) or a PyTorch .pth.tar (converted in memory); --checkpoint is the original demos' "
                             "name for it; without --config, PaddleGAN's default architecture is assumed "
                             "(configs/firstorder_vox_256.yaml, or the mobile one with --mobile_net) "
                             "(default: the shipped model's)")
    parser.add_argument("--border_correction", action=argparse.BooleanOptionalAction, default=None,
                        help="FOMM: PaddleGAN's border correction of the generator (warps fade into the identity and "
                             "the occlusion map is 1 in a 5-pixel band at the edges; docs/en_US/deployment.md) "
                             "(default: the config's model.generator.border_correction; on for PaddleGAN's model, "
                             "i.e. --mobile_net, or --weight_path without --config, as PaddleGAN's demo)")
    parser.add_argument("--mobile_net", action="store_true",
                        help="PaddleGAN's mobile First Order Motion Model: without --config its architecture "
                             "(configs/firstorder_vox_mobile_256.yaml), without --weight_path (even with --config, as "
                             "PaddleGAN's mobile command) its released weights "
                             "(vox-mobile.pdparams from ~/.cache/ppgan-fomm/weights or ~/.cache/ppgan, downloaded "
                             "once when missing)")


def add_backend_args(parser):
    """Where and at what size the model runs: --backend, --cpu, --image_size (the demo and the live demo)."""
    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="where the model runs: dygraph (Paddle layers), inference (Paddle Inference; oneDNN on "
                             "CPU), onnx (ONNX Runtime), or auto: onnx on CPU (the fastest; "
                             "inference if onnxruntime/paddle2onnx are missing or the conversion fails), inference on "
                             "GPU. inference/onnx export the model once per frame size into "
                             "a cache ($PPGAN_CACHE_DIR, default ~/.cache/ppgan-fomm); results match dygraph within 1e-4")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is available")
    parser.add_argument("--image_size", type=int, default=None,
                        help="side of the square the model animates at (default: the config's dataset.frame_shape, "
                             "else 256)")


def build_parser():
    """The argument parser of the demo; every flag says what it does."""
    parser = argparse.ArgumentParser(
        prog="first-order-demo.py",
        description="Make the object in --source_image move like the one in --driving_video with the First Order "
                    "Motion Model or the Thin-Plate Spline Motion Model (the config says which). Without "
                    "--config/--weight_path the small TPSMM shipped with the project is used (trained on synthetic "
                    "cartoon faces, 64x64; ppgan/apps/default_model_tpsmm/).",
        formatter_class=HelpFormatter)
    add_model_args(parser)
    add_input_args(parser)
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="folder the result is written to (created if "
                        "missing)")
    parser.add_argument("--filename", default=DEFAULT_FILENAME,
                        help="result name inside --output; its extension picks the format: .mp4 (H.264, the "
                             "driving video's fps), .gif, or no extension for a folder of PNG frames")
    parser.add_argument("--result_video", default=None, metavar="PATH",
                        help="the result's whole path, as the original demos name it (e.g. result.mp4): instead of "
                             "--output and --filename")
    add_animation_args(parser)
    add_backend_args(parser)
    parser.add_argument("--img_shape", type=_square_shape, default=None, metavar="H,W",
                        help="the TPSMM demo's name for the frame size: H,W with H = W (the same as --image_size H)")
    return parser


def _square_shape(text):
    height, width = height_width(text)
    if height != width:
        raise argparse.ArgumentTypeError("the models animate square frames: H and W must be equal, got %r" % text)
    return height


def original_demo_args(args):
    """Fold the original demos' --result_video and --img_shape into --output/--filename and --image_size (one error
    when both spellings are given with different values)."""
    if args.result_video is not None:
        if (args.output, args.filename) != (DEFAULT_OUTPUT, DEFAULT_FILENAME):
            raise InputError("give either --result_video or --output/--filename, not both")
        folder, name = os.path.split(args.result_video)
        if not name:
            raise InputError("--result_video '%s' names a folder; give a file such as result.mp4" % args.result_video)
        args.output, args.filename = folder or ".", name
    if args.img_shape is not None:
        if args.image_size not in (None, args.img_shape):
            raise InputError("--img_shape %d,%d and --image_size %d disagree; give one of them"
                             % (args.img_shape, args.img_shape, args.image_size))
        args.image_size = args.img_shape
    return args


def check_animation_args(args):
    """Flag values the demo and tools/inference.py share: ranges, combinations and input paths (one error each)."""
    if args.threads is not None and args.threads < 1:
        raise InputError("--threads must be at least 1, got %d" % args.threads)
    if args.batch_size is not None and args.batch_size < 1:
        raise InputError("--batch_size must be at least 1, got %d" % args.batch_size)
    if getattr(args, "image_size", None) is not None and args.image_size < 16:
        raise InputError("--image_size must be at least 16, got %d" % args.image_size)
    if not 0 < args.ratio <= 1:
        raise InputError("--ratio must be in (0, 1] (the pasted face's radius as a fraction of the crop's side), "
                         "got %g" % args.ratio)
    if getattr(args, "slice_size", 0) < 0:
        raise InputError("--slice_size must be at least 0, got %d" % args.slice_size)
    if getattr(args, "gpen_weight_path", None) is not None and not args.face_enhancement:
        raise InputError("--gpen_weight_path is read by --face_enhancement only; add --face_enhancement")
    if args.best_frame is not None and args.best_frame < 0:
        raise InputError("--best_frame must be a frame index >= 0, got %d" % args.best_frame)
    if args.best_frame is not None and args.find_best_frame:
        raise InputError("give either --find_best_frame or --best_frame N, not both")
    from ppgan.utils.video import source_kind

    for flag, path in (("--source_image", args.source_image), ("--driving_video", args.driving_video)):
        if not os.path.exists(path):
            raise InputError("%s '%s' does not exist; check the path" % (flag, path))
    kind = source_kind(args.driving_video)
    if kind in (None, "strip"):
        raise InputError("--driving_video '%s' is not a video: give a .mp4/.mov/.avi/.mkv/.webm/.gif file or a "
                         "folder of frames" % args.driving_video)


def resolve_model(config, weight_path, mobile_net=False, image_size=None):
    """(config, weights) to use: the given ones; the shipped default model when neither is given; PaddleGAN's
    default architecture for weights given without a config, and for --mobile_net without weights PaddleGAN's
    released vox-mobile.pdparams (ppgan.apps.first_order_predictor.paddlegan_model)."""
    if (config is None and weight_path is not None) or (mobile_net and weight_path is None):
        if weight_path is not None and not os.path.isfile(weight_path):
            raise CheckpointError("--weight_path '%s' does not exist; %s" % (weight_path, RELEASED_HELP))
        if config is not None and not os.path.isfile(config):
            raise InputError("--config '%s' does not exist; check the path (configs/ lists the shipped ones)" % config)
        from ppgan.apps.first_order_predictor import paddlegan_model

        default_config, weight_path = paddlegan_model(mobile_net, image_size, weight_path, flag="--weight_path")
        return config or default_config, weight_path
    if config is None and weight_path is None:
        if not (os.path.isfile(DEFAULT_CONFIG) and os.path.isfile(DEFAULT_WEIGHTS)):
            raise CheckpointError("no model given and the default model is missing from %s; %s"
                                  % (DEFAULT_MODEL_DIR, RELEASED_HELP))
        return DEFAULT_CONFIG, DEFAULT_WEIGHTS
    if weight_path is None:
        raise CheckpointError("--config given without --weight_path: %s" % RELEASED_HELP)
    if not os.path.isfile(config):
        raise InputError("--config '%s' does not exist; check the path (configs/ lists the shipped ones)" % config)
    if not os.path.isfile(weight_path):
        raise CheckpointError("--weight_path '%s' does not exist; %s" % (weight_path, RELEASED_HELP))
    return config, weight_path


def _set_device(cpu):
    import paddle

    if cpu or not paddle.device.is_compiled_with_cuda():
        paddle.set_device("cpu")
    else:
        paddle.set_device("gpu")


def open_animation(predictor, args):
    """The `Animation` of --source_image by --driving_video with the command line's framing options (--crop,
    --ratio, --multi_person, --no-progress), after checking --best_frame against the video; close it (or use
    it in a `with`) when done."""
    from ppgan.apps.animation import Animation
    from ppgan.utils.video import open_video

    driving = open_video(args.driving_video)  # once: the animation reads every pass from this reader
    try:
        if args.best_frame is not None:
            total = driving.count()
            if args.best_frame >= total:
                raise InputError("--best_frame %d is past the end of the driving video (%d frames)"
                                 % (args.best_frame, total))
        return Animation(predictor, args.source_image, driving, crop=args.crop, ratio=args.ratio,
                         multi_person=args.multi_person, progress=not args.no_progress,
                         face_detector=args.face_detector, enhancer=predictor.face_enhancer())
    except BaseException:
        driving.close()
        raise


def write_animation(animation, args, out):
    """Write `animation` into `out` with --best_frame / --find_best_frame / --audio; prints and returns the
    frame count."""
    count = animation.write(out, best_frame=args.best_frame, find_best_frame=args.find_best_frame,
                            audio=args.audio)
    print("wrote %s (%d frames)" % (out, count))
    return count


def check_output(args, out):
    """The checks of the result's path `out` that need no work first."""
    from ppgan.utils.video import output_kind

    if args.audio and output_kind(out) != "mp4":
        raise InputError("--audio needs an .mp4 result, not '%s'" % os.path.basename(out))


def animate_to_file(predictor, args, out):
    """Animate --source_image by --driving_video with `predictor` into `out`; prints and returns the frame count."""
    check_output(args, out)
    with open_animation(predictor, args) as animation:
        return write_animation(animation, args, out)


def main(argv=None):
    """Parse `argv`, animate, write the result; returns the exit code."""
    args = original_demo_args(build_parser().parse_args(argv))
    check_animation_args(args)
    config, weights = resolve_model(args.config, args.weight_path, args.mobile_net, args.image_size)
    out = output_path(args.output, args.filename)
    _set_device(args.cpu)
    try:
        predictor = make_predictor(config, weights, args)
    except CheckpointError as e:
        if args.config is None and args.weight_path is not None:
            raise CheckpointError("%s; --weight_path without --config assumes PaddleGAN's architecture (%s): pass the "
                                  "--config of these weights" % (e, os.path.relpath(config))) from None
        raise
    animate_to_file(predictor, args, out)
    return 0


def make_predictor(config, weights, args):
    """The predictor of `config` + `weights` with the command line's options (`args`: image_size, batch_size,
    threads, backend and the family's motion flags); animates at 256x256 when neither the config nor
    --image_size gives a size."""
    from ppgan.apps.predictor import predictor_class

    cls = predictor_class(config)
    options = cls.motion_options(args)
    fomm_flags = [flag for flag, value in (("--mobile_net", getattr(args, "mobile_net", False)),
                                            ("--border_correction", getattr(args, "border_correction", None)))
                  if value not in (None, False)]
    if cls.family == "FirstOrderModel":
        border = getattr(args, "border_correction", None)
        if border is None and (getattr(args, "mobile_net", False) or (
                getattr(args, "config", None) is None and getattr(args, "weight_path", None) is not None)):
            border = True  # PaddleGAN's model, as PaddleGAN's predictor builds it
        options["border_correction"] = border
    elif fomm_flags:
        raise InputError("%s belong%s to the First Order Motion Model; the config describes a %s"
                         % (" and ".join(fomm_flags), "s" if len(fomm_flags) == 1 else "", cls.family))
    predictor = cls(config=config, weight_path=weights, image_size=args.image_size, batch_size=args.batch_size,
                    num_threads=args.threads, backend=args.backend, face_enhancement=getattr(args, "face_enhancement",
                                                                                               False),
                    gpen_weight_path=getattr(args, "gpen_weight_path", None), **options)
    if predictor.image_size is None:
        predictor.image_size = (256, 256)
    return predictor
