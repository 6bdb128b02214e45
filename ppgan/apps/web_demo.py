"""A web page for animating (Gradio, the `webui` extra): choose a source image and a driving video, see the
detected keypoints, watch and download the result.

Every request goes through the command line's own path (`ppgan.apps.demo`: the same checks, model resolution,
predictor, `Animation` and writer), so the page gives the CLI's frames and the CLI's one-line errors. One
animation runs at a time per process (a queue); each request works in its own temporary folder, removed when
the next request starts; everything the server writes lives under one temporary folder, removed when it stops.
The page fetches nothing from other hosts (system fonts, analytics off; ONNX Runtime's telemetry is off, see
ppgan/__init__.py).
"""
import argparse
import atexit
import collections
import importlib.util
import os
import shutil
import signal
import tempfile

import numpy as np

from ppgan.utils.errors import PPGanError
from ppgan.utils.logger import get_logger
from ppgan.utils.visual import keypoint_preview

from .demo import (DEFAULT_CONFIG, DEFAULT_WEIGHTS, HelpFormatter, check_animation_args, check_output,
                   make_predictor, open_animation, output_path, resolve_model, write_animation)

SAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "applications", "samples")
SHIPPED_FOMM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "default_model")
logger = get_logger("ppgan.apps")
MAX_FILE_SIZE = "100mb"  # per upload
CROPS = ("auto", "face", "none")
MODES = ("relative", "standard", "avd")
MEDIA_HEIGHT = 320  # pixels of each image and video on the page
PREVIEW_HEIGHT = 256  # rows of the keypoint pictures
CACHE_LIFETIME = (3600, 3600)  # Gradio's copies of uploads and results: checked hourly, removed after an hour

# What the page shows after each step of a request: the result .mp4 (or None), the keypoints drawn on the
# source and on the reference driving frame (float HxWx3 or None), and a one-line message.
Update = collections.namedtuple("Update", "video source_keypoints reference_keypoints message")


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

    def option_states(self, model):
        """Which motion options apply to the model named `model`: {"relative": bool, "adapt_scale": bool,
        "mode": bool} (FOMM's two checkboxes, TPSMM's mode)."""
        if model not in self.models:
            raise ValueError("unknown model %r: choose one of %s" % (model, ", ".join(self.models)))
        from .predictor import predictor_class

        try:
            family = getattr(predictor_class(self.models[model][0]), "family", None)
        except (PPGanError, ValueError, OSError):
            family = None  # an unreadable config: the animation reports it, in the CLI's words
        if family is None:
            return {"relative": True, "adapt_scale": True, "mode": True}
        fomm = family == "FirstOrderModel"
        return {"relative": fomm, "adapt_scale": fomm, "mode": family == "TPSMMModel"}

    def run(self, source, driving, model, relative=True, adapt_scale=True, mode="relative", crop="auto",
            find_best_frame=False, audio=False):
        """Animate, yielding `Update`s: the keypoint previews as soon as they are found, then the result (or,
        instead, the CLI's one-line error)."""
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
        self._work = tempfile.mkdtemp(dir=self._root)
        previews = (None, None)
        try:
            args, predictor = self._request(source, driving, model, relative, adapt_scale, mode, crop,
                                            find_best_frame, audio)
            out = output_path(self._work, "result.mp4")
            check_output(args, out)
            with open_animation(predictor, args) as animation:
                (src, kp_src), (ref, kp_ref) = animation.keypoints(args.best_frame, args.find_best_frame)
                group = predictor.points_per_transform
                previews = (keypoint_preview(src, kp_src, PREVIEW_HEIGHT, group),
                            keypoint_preview(ref, kp_ref, PREVIEW_HEIGHT, group))
                yield Update(None, *previews, "keypoints found; animating...")
                count = write_animation(animation, args, out)
        except (PPGanError, ValueError) as error:
            yield Update(None, *previews, "error: %s" % _uploaded_names(str(error), source, driving))
            return
        except Exception as error:  # a bug, not bad input: reported in the page and the log, the server goes on
            logger.exception("animation failed")
            yield Update(None, *previews, "error: the animation failed (%s: %s); the server log has the details"
                         % (type(error).__name__, _uploaded_names(str(error), source, driving)))
            return
        yield Update(out, *previews, "animated %d frames" % count)

    def animate(self, *args, **kwargs):
        """`run`'s last `Update`: the result (or the error), with the keypoint previews."""
        update = None
        for update in self.run(*args, **kwargs):
            pass
        return update

    def _request(self, source, driving, model, relative, adapt_scale, mode, crop, find_best_frame, audio):
        """(the CLI's argparse namespace for the page's choices, checked as the CLI checks it; its predictor)."""
        if not source or not driving:
            raise ValueError("choose a source image and a driving video")
        if model not in self.models:
            raise ValueError("unknown model %r" % (model,))
        config, weights = self.models[model]
        from .face_crop import DEFAULT_RATIO
        from .predictor import predictor_class

        family = predictor_class(config).family
        args = argparse.Namespace(
            source_image=source, driving_video=driving, threads=self.threads, batch_size=None, image_size=None,
            backend="auto", ratio=DEFAULT_RATIO, best_frame=None, find_best_frame=bool(find_best_frame),
            audio=bool(audio),
            crop=crop, multi_person=False, no_progress=False, face_detector="auto", face_enhancement=False,
            gpen_weight_path=None, slice_size=0,
            relative=bool(relative) if family == "FirstOrderModel" else None,
            adapt_scale=bool(adapt_scale) if family == "FirstOrderModel" else None,
            mode=mode if family == "TPSMMModel" else None)
        check_animation_args(args)
        return args, self._predictor(config, weights, args)


def _uploaded_names(message, *paths):
    """`message` with each input's path (an upload's copy in the server's temporary folder) shortened to the file
    name the user chose."""
    for path in paths:
        if path:
            message = message.replace(str(path), os.path.basename(str(path)))
    return message


# the system's own fonts: the page fetches nothing from other hosts (Gradio 5's default theme loads Google Fonts)
SYSTEM_FONTS = dict(font=("ui-sans-serif", "system-ui", "sans-serif"), font_mono=("ui-monospace", "monospace"))


def build_page(web):
    """The Gradio Blocks page of `web` (a WebDemo) and its theme (for `launch`)."""
    import gradio as gr

    with gr.Blocks(title="ppgan-fomm: image animation", analytics_enabled=False,
                   delete_cache=CACHE_LIFETIME) as page:
        gr.Markdown("# Image animation\nThe object in the source image moves like the one in the driving video.")
        with gr.Row():
            source = _pass_uploads_through(gr.Image(
                type="filepath", image_mode=None, label="source image", height=MEDIA_HEIGHT,
                value=os.path.join(SAMPLES, "source_b.png"), elem_id="source"))
            driving = gr.Video(label="driving video", height=MEDIA_HEIGHT,
                               value=os.path.join(SAMPLES, "driving.mp4"), elem_id="driving")
        model = gr.Dropdown(list(web.models), value=list(web.models)[0], label="model", elem_id="model")
        applies = web.option_states(model.value)
        with gr.Row():
            # only the chosen model's options are shown (a disabled Gradio radio looks almost like an active one)
            relative = gr.Checkbox(True, label="FOMM: relative motion", visible=applies["relative"],
                                   elem_id="relative")
            adapt_scale = gr.Checkbox(True, label="FOMM: adapt scale", visible=applies["adapt_scale"],
                                      elem_id="adapt_scale")
            mode = gr.Radio(list(MODES), value="relative", label="TPSMM: mode", visible=applies["mode"],
                            elem_id="mode")
        with gr.Row():
            crop = gr.Radio(list(CROPS), value="auto", label="crop")
            best = gr.Checkbox(False, label="find best frame")
            audio = gr.Checkbox(False, label="keep audio")
        run = gr.Button("Animate", variant="primary", elem_id="animate")
        status = gr.Markdown(elem_id="status")
        with gr.Row():
            result = gr.Video(label="result", height=MEDIA_HEIGHT, elem_id="result")
            kp_source = gr.Image(label="keypoints: source", height=MEDIA_HEIGHT, interactive=False, format="png",
                                 elem_id="kp_source")
            kp_reference = gr.Image(label="keypoints: reference driving frame", height=MEDIA_HEIGHT, format="png",
                                    interactive=False, elem_id="kp_reference")

        def animate(src, drv, name, rel, adapt, mode_value, crop_value, best_value, audio_value,
                    progress=gr.Progress(track_tqdm=True)):
            for update in web.run(src, drv, name, rel, adapt, mode_value, crop_value, best_value, audio_value):
                yield update.video, _uint8(update.source_keypoints), _uint8(update.reference_keypoints), \
                    update.message

        def options_of(name):
            states = web.option_states(name)
            return tuple(gr.update(visible=states[key]) for key in ("relative", "adapt_scale", "mode"))

        # outside the queue: choosing a model while an animation runs updates the options at once
        model.change(options_of, model, [relative, adapt_scale, mode], queue=False, show_progress="hidden",
                     api_visibility="undocumented")
        run.click(animate, [source, driving, model, relative, adapt_scale, mode, crop, best, audio],
                  [result, kp_source, kp_reference, status])
    return page.queue(default_concurrency_limit=1), gr.themes.Default(**SYSTEM_FONTS)


def _pass_uploads_through(image):
    """Make the gr.Image `image` hand the animation the uploaded file itself: Gradio's own check (PIL) would stop
    an unreadable image with its own message before the animation can name the problem as the CLI does. (Set on
    the instance: a subclass of a Gradio component writes a .pyi file next to the module defining it.)"""
    preprocess = image.preprocess

    def as_uploaded(payload):
        if payload is None or payload.path is None or (payload.url or "").startswith("data:"):
            return preprocess(payload)
        return str(payload.path)

    image.preprocess = as_uploaded
    return image


def _uint8(image):
    return None if image is None else (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


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


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    """applications/tools/web_demo.py: serve the page until interrupted; returns the exit code."""
    args = build_parser().parse_args(argv)
    if importlib.util.find_spec("gradio") is None:
        raise PPGanError("the web demo needs Gradio: pip install -e \".[webui]\"")
    web = WebDemo(args.config, args.weight_path, args.threads)
    # Gradio's copies of uploads and results go under the server's own temporary folder (removed at exit),
    # unless GRADIO_TEMP_DIR says where; set before Gradio is imported, which reads it then. The libraries
    # loaded later (ONNX Runtime writes a session file where TMPDIR points) write there too.
    os.environ.setdefault("GRADIO_TEMP_DIR", os.path.join(web._root, "gradio"))
    os.environ["TMPDIR"] = web._root
    page, theme = build_page(web)
    # stopped by SIGTERM (a service manager, a test) as by Ctrl-C: Gradio closes, the temporary folder goes
    signal.signal(signal.SIGTERM, _interrupt)
    page.launch(server_name=args.host, server_port=args.port, max_file_size=MAX_FILE_SIZE, theme=theme,
                show_error=True)
    return 0
