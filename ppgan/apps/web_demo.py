"""A web page for animating (Gradio, the `webui` extra): choose a source image and a driving video, watch and
download the result.

Every request goes through the command line's own path (`ppgan.apps.demo`: the same checks, model resolution,
predictor, `Animation` and writer), so the page gives the CLI's frames and the CLI's one-line errors. One
animation runs at a time per process (a queue); each request works in its own temporary folder, removed when
the next request starts and when the server stops.
"""
import argparse
import atexit
import os
import shutil
import tempfile

from ppgan.utils.errors import PPGanError
from ppgan.utils.logger import get_logger

from .demo import (DEFAULT_CONFIG, DEFAULT_WEIGHTS, HelpFormatter, animate_to_file, check_animation_args,
                   make_predictor, output_path, resolve_model)

SAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "applications", "samples")
SHIPPED_FOMM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "default_model")
logger = get_logger("ppgan.apps")
MAX_FILE_SIZE = "100mb"  # per upload
CROPS = ("auto", "face", "none")
MODES = ("relative", "standard", "avd")


class WebDemo:
    """The page's models and its one animation function (also callable without a browser).

    config, weight_path: an extra model offered next to the shipped ones (a PyTorch checkpoint is converted
    in memory, as in the CLI).
    """

    def __init__(self, config=None, weight_path=None, threads=None):
        self.models = {"shipped TPSMM (64x64 cartoon faces)": (DEFAULT_CONFIG, DEFAULT_WEIGHTS),
                       "shipped FOMM (64x64 cartoon faces)": (os.path.join(SHIPPED_FOMM, "config.yaml"),
                                                               os.path.join(SHIPPED_FOMM, "weights.pdparams"))}
        if config is not None or weight_path is not None:
            self.models["given: %s" % os.path.basename(weight_path or "")] = resolve_model(config, weight_path)
        self.threads = threads
        self._predictors = {}
        self._root = tempfile.mkdtemp(prefix="ppgan-web-")
        self._work = None
        atexit.register(shutil.rmtree, self._root, True)

    def _predictor(self, config, weights, args):
        """The CLI's predictor for these options, kept while the next request asks for the same."""
        key = (config, weights, args.relative, args.adapt_scale, args.mode)
        if key not in self._predictors:
            self._predictors.clear()  # one model in memory at a time
            self._predictors[key] = make_predictor(config, weights, args)
        return self._predictors[key]

    def animate(self, source, driving, model, relative=True, adapt_scale=True, mode="relative", crop="auto",
                find_best_frame=False, audio=False):
        """(path of the result .mp4 or None, a one-line message): the CLI's result and errors."""
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
        self._work = tempfile.mkdtemp(dir=self._root)
        try:
            if not source or not driving:
                raise ValueError("choose a source image and a driving video")
            if model not in self.models:
                raise ValueError("unknown model %r" % (model,))
            config, weights = self.models[model]
            from .predictor import predictor_class

            family = predictor_class(config).family
            args = argparse.Namespace(
                source_image=source, driving_video=driving, threads=self.threads, batch_size=None, image_size=None,
                backend="auto",
                ratio=0.4, best_frame=None, find_best_frame=bool(find_best_frame), audio=bool(audio), crop=crop,
                multi_person=False, no_progress=False,
                relative=bool(relative) if family == "FirstOrderModel" else None,
                adapt_scale=bool(adapt_scale) if family == "FirstOrderModel" else None,
                mode=mode if family == "TPSMMModel" else None)
            check_animation_args(args)
            predictor = self._predictor(config, weights, args)
            out = output_path(self._work, "result.mp4")
            count = animate_to_file(predictor, args, out)
        except (PPGanError, ValueError) as error:
            return None, "error: %s" % error
        except Exception as error:  # a bug, not bad input: reported in the page and the log, the server goes on
            logger.exception("animation failed")
            return None, "error: the animation failed (%s: %s); the server log has the details" % (
                type(error).__name__, error)
        return out, "animated %d frames" % count


def build_page(web):
    """The Gradio Blocks page of `web` (a WebDemo)."""
    import gradio as gr

    with gr.Blocks(title="ppgan-fomm: image animation", analytics_enabled=False) as page:
        gr.Markdown("# Image animation\nThe object in the source image moves like the one in the driving video.")
        with gr.Row():
            source = gr.Image(type="filepath", label="source image",
                              value=os.path.join(SAMPLES, "source_b.png"), elem_id="source")
            driving = gr.Video(label="driving video", value=os.path.join(SAMPLES, "driving.mp4"), elem_id="driving")
        model = gr.Dropdown(list(web.models), value=list(web.models)[0], label="model", elem_id="model")
        with gr.Row():
            relative = gr.Checkbox(True, label="FOMM: relative motion")
            adapt_scale = gr.Checkbox(True, label="FOMM: adapt scale")
            mode = gr.Radio(list(MODES), value="relative", label="TPSMM: mode")
        with gr.Row():
            crop = gr.Radio(list(CROPS), value="auto", label="crop")
            best = gr.Checkbox(False, label="find best frame")
            audio = gr.Checkbox(False, label="keep audio")
        run = gr.Button("Animate", variant="primary", elem_id="animate")
        result = gr.Video(label="result", elem_id="result")
        status = gr.Markdown(elem_id="status")

        def animate(src, drv, name, rel, adapt, mode_value, crop_value, best_value, audio_value,
                    progress=gr.Progress(track_tqdm=True)):
            return web.animate(src, drv, name, rel, adapt, mode_value, crop_value, best_value, audio_value)

        run.click(animate, [source, driving, model, relative, adapt_scale, mode, crop, best, audio], [result, status])
    return page.queue(default_concurrency_limit=1)


def build_parser():
    parser = argparse.ArgumentParser(
        description="A web page for animating a photo with a driving video (Gradio; pip install -e \".[webui]\"). "
                    "It listens on this machine only unless --host says otherwise: --host 0.0.0.0 lets anyone who "
                    "can reach the machine's port use the model and upload files.",
        formatter_class=HelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on")
    parser.add_argument("--config", default=None, help="an extra model's config, offered next to the shipped ones")
    parser.add_argument("--weight_path", default=None, help="its weights (.pdparams or a PyTorch checkpoint)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads of the model (default: every core)")
    return parser


def main(argv=None):
    """applications/tools/web_demo.py: serve the page until interrupted; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise PPGanError("the web demo needs Gradio: pip install -e \".[webui]\"") from None
    web = WebDemo(args.config, args.weight_path, args.threads)
    build_page(web).launch(server_name=args.host, server_port=args.port, max_file_size=MAX_FILE_SIZE,
                           show_error=True)
    return 0
