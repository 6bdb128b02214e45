"""Command lines of tools/export_model.py and tools/inference.py: export the model, animate with the export."""
import argparse
import os

from ppgan.utils.errors import InputError

from .demo import HelpFormatter, check_animation_args, add_animation_args, add_input_args, animate_to_file


def build_export_parser():
    """The argument parser of tools/export_model.py."""
    parser = argparse.ArgumentParser(
        prog="export_model.py",
        description="Export a First Order Motion Model or a Thin-Plate Spline Motion Model as Paddle static graphs "
                    "for Paddle Inference (and ONNX): kp_detector, source_encoder (run once per source image), "
                    "frame_generator (dense motion, warping, decoding) and, for TPSMM weights with an AVD network, "
                    "avd_network, with a dynamic batch dimension. The motion mode stays a run-time choice of "
                    "tools/inference.py.",
        formatter_class=HelpFormatter)
    parser.add_argument("-c", "--config", "--config-file", dest="config", required=True,
                        help="model config (configs/*.yaml, an original FOMM or TPSMM config, or a PaddleGAN FOMM "
                             "config); --config-file is PaddleGAN's name for it")
    parser.add_argument("--load", required=True,
                        help="weights: .pdparams (training or tools/convert_torch_weights.py) or a PyTorch .pth.tar")
    parser.add_argument("--output_dir", "--export_model", dest="output_dir", required=True,
                        help="folder to write (created; an earlier export there is replaced, other files are not "
                             "touched: a non-empty folder without an export is refused); --export_model is "
                             "PaddleGAN's name for it")
    parser.add_argument("--image_size", type=int, default=None,
                        help="side of the square frames the exported model animates (default: the config's "
                             "dataset.frame_shape, else 256)")
    parser.add_argument("--inputs_size", default=None, metavar="SHAPES",
                        help="PaddleGAN's input shapes, e.g. \"1,3,256,256;1,3,256,256;1,10,2;1,10,2,2\": read for "
                             "the frame size (the same as --image_size 256) and checked against the model's keypoints; "
                             "the batch dimension of the export is dynamic")
    parser.add_argument("--onnx", action="store_true",
                        help="also write ONNX graphs (opset 16) for --backend onnx (paddle2onnx, installed with the "
                             "project)")
    return parser


def paddlegan_inputs_size(text):
    """(frame side, keypoints) of PaddleGAN's --inputs_size "B,3,H,W;B,3,H,W;B,K,2;B,K,2,2" (one InputError
    otherwise)."""
    try:
        shapes = [[int(n) for n in part.split(",")] for part in text.split(";")]
        (_, c, h, w), (_, c2, h2, w2), (_, k, two), (_, k2, r, c3) = shapes
    except ValueError:
        raise InputError("--inputs_size %r is not PaddleGAN's four shapes \"B,3,H,W;B,3,H,W;B,K,2;B,K,2,2\"" % text) \
            from None
    if (c, c2, two, r, c3) != (3, 3, 2, 2, 2) or (h, w) != (h2, w2) or k != k2:
        raise InputError("--inputs_size %r: expected \"B,3,H,W;B,3,H,W;B,K,2;B,K,2,2\" with equal H,W and K" % text)
    if h != w:
        raise InputError("--inputs_size %r: the models animate square frames, H and W must be equal" % text)
    return h, k


def export_main(argv=None):
    """tools/export_model.py: returns the exit code."""
    args = build_export_parser().parse_args(argv)
    num_kp = None
    if args.inputs_size is not None:
        size, num_kp = paddlegan_inputs_size(args.inputs_size)
        if args.image_size not in (None, size):
            raise InputError("--inputs_size says %dx%d frames and --image_size %d: give one of them"
                             % (size, size, args.image_size))
        args.image_size = size
    if args.image_size is not None and args.image_size < 16:
        raise InputError("--image_size must be at least 16, got %d" % args.image_size)
    from .export import check_output_dir, export_model
    from .predictor import predictor_class

    check_output_dir(args.output_dir)
    if not os.path.isfile(args.config):
        raise InputError("--config '%s' does not exist; check the path (configs/ lists the shipped ones)" % args.config)
    import paddle

    paddle.set_device("cpu")
    cls = predictor_class(args.config)
    predictor = cls(config=args.config, weight_path=args.load, image_size=args.image_size, backend="dygraph")
    size = predictor.image_size or (256, 256)
    model_kp = predictor.cfg["model"]["common"].get("num_kp")
    if num_kp is not None and num_kp != model_kp:
        raise InputError("--inputs_size gives %d keypoints but the model has %s; fix --inputs_size" % (num_kp, model_kp))
    graphs = predictor.graphs
    avd = graphs["avd_network"].avd_network if "avd_network" in graphs else None
    manifest = export_model(graphs["kp_detector"].kp_detector, graphs["source_encoder"].generator, args.output_dir,
                            size, onnx=args.onnx, source={"config": os.path.abspath(args.config),
                                                          "weights": os.path.abspath(args.load)},
                            avd_network=avd, model=cls.family, animate=predictor.animation_defaults())
    files = sorted(os.listdir(args.output_dir))
    print("exported %s at %dx%d (%s, %d keypoints%s) to %s: %s" % (
        os.path.basename(args.config), size[1], size[0], cls.family, manifest["num_kp"],
        ", jacobians" if manifest["has_jacobian"] else "", args.output_dir, ", ".join(files)))
    return 0


def build_inference_parser():
    """The argument parser of tools/inference.py."""
    parser = argparse.ArgumentParser(
        prog="inference.py",
        description="Animate --source_image by --driving_video with a model exported by tools/export_model.py (FOMM "
                    "or TPSMM: the export says which), run by Paddle Inference (oneDNN on CPU, CUDA/TensorRT on GPU) "
                    "or ONNX Runtime.",
        formatter_class=HelpFormatter)
    parser.add_argument("--model_dir", required=True, help="a folder written by tools/export_model.py")
    add_input_args(parser)
    parser.add_argument("--output", required=True,
                        help="the result; its extension picks the format: .mp4 (H.264, the driving video's fps), "
                             ".gif, or no extension for a folder of PNG frames")
    parser.add_argument("--backend", choices=("auto", "inference", "onnx"), default="auto",
                        help="inference: Paddle Inference; onnx: ONNX Runtime (export with --onnx); auto: onnx on "
                             "CPU when the folder holds ONNX graphs (the faster), else inference")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="where the model runs")
    parser.add_argument("--use_trt", action="store_true",
                        help="with --device gpu and --backend inference: build TensorRT engines (float32)")
    add_animation_args(parser)
    return parser


def inference_main(argv=None):
    """tools/inference.py: returns the exit code."""
    args = build_inference_parser().parse_args(argv)
    check_animation_args(args)
    from .demo import output_path
    from .predictor import predictor_class

    folder, name = os.path.split(args.output)
    if not name:
        raise InputError("--output '%s' names a folder; give a file (result.mp4, result.gif) or a frame folder name "
                         "without a trailing slash" % args.output)
    out = output_path(folder or ".", name)
    cls = predictor_class(model_dir=args.model_dir)
    predictor = cls(model_dir=args.model_dir, backend=args.backend, device=args.device, use_trt=args.use_trt,
                    batch_size=args.batch_size, num_threads=args.threads, face_enhancement=args.face_enhancement,
                    gpen_weight_path=args.gpen_weight_path, **cls.motion_options(args))
    animate_to_file(predictor, args, out)
    return 0
