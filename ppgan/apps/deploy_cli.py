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
    parser.add_argument("-c", "--config", required=True,
                        help="model config (configs/*.yaml, or an original FOMM or TPSMM config)")
    parser.add_argument("--load", required=True,
                        help="weights: .pdparams (training or tools/convert_torch_weights.py) or a PyTorch .pth.tar")
    parser.add_argument("--output_dir", required=True,
                        help="folder to write (created; an earlier export there is replaced, other files are not "
                             "touched: a non-empty folder without an export is refused)")
    parser.add_argument("--image_size", type=int, default=None,
                        help="side of the square frames the exported model animates (default: the config's "
                             "dataset.frame_shape, else 256)")
    parser.add_argument("--onnx", action="store_true",
                        help="also write ONNX graphs (opset 16) for --backend onnx (paddle2onnx, installed with the "
                             "project)")
    return parser


def export_main(argv=None):
    """tools/export_model.py: returns the exit code."""
    args = build_export_parser().parse_args(argv)
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
    graphs = predictor.graphs
    avd = graphs["avd_network"].avd_network if "avd_network" in graphs else None
    manifest = export_model(graphs["kp_detector"].kp_detector, graphs["source_encoder"].generator, args.output_dir,
                            size, onnx=args.onnx, source={"config": os.path.abspath(args.config),
                                                          "weights": os.path.abspath(args.load)},
                            avd_network=avd, model=cls.family)
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
