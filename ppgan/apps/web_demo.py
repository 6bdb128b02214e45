"""A web page for animating (Gradio, the `webui` extra): choose a source image and a driving video, see the
detected keypoints, watch and download the result.

Every request goes through the command line's own path (`ppgan.apps.demo`: the same checks, model resolution,
predictor, `Animation` and writer), so the page gives the CLI's frames and the CLI's one-line errors. One
animation runs at a time per process (a queue); each request works in its own temporary folder, removed when
the next request starts; everything the server writes lives under one temporary folder, removed when it stops.
The page fetches nothing from other hosts (system fonts, analytics off; ONNX Runtime's telemetry is off, see
ppgan/__init__.py).

The live tab streams the browser's camera to the server (Gradio's webcam streaming: the page posts a JPEG every
LIVE_EVERY seconds and the server animates the newest one it holds, so a slow server drops frames instead of
queueing them) and streams the animated source image back (`ppgan.apps.live.LiveSession`). One live session runs
per process (`LiveTab`); other pages are told to wait. It is freed when its camera stops, its page goes away, or
it sends no frame for LIVE_IDLE seconds.
"""
import argparse
import atexit
import collections
import importlib.util
import os
import shutil
import signal
import tempfile
import threading
import time

import numpy as np

from ppgan.utils.errors import PPGanError
from ppgan.utils.logger import get_logger
from ppgan.utils.visual import keypoint_preview

from .demo import (DEFAULT_CONFIG, DEFAULT_WEIGHTS, TPSMM_MODES, HelpFormatter, check_animation_args, check_output,
                   make_predictor, open_animation, output_path, resolve_model, write_animation)

SAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "applications", "samples")
SHIPPED_FOMM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "default_model")
logger = get_logger("ppgan.apps")
MAX_FILE_SIZE = "100mb"  # per upload
CROPS = ("auto", "face", "none")
MEDIA_HEIGHT = 320  # pixels of each image and video on the page
PREVIEW_HEIGHT = 256  # rows of the keypoint pictures
CACHE_LIFETIME = (3600, 3600)  # Gradio's copies of uploads and results: checked hourly, removed after an hour
LIVE_EVERY = 0.05  # seconds between the camera frames the page sends (the server animates the newest it holds)
LIVE_IDLE = 10.0  # seconds without a frame after which the live session counts as abandoned
LIVE_SIZE = (MEDIA_HEIGHT, MEDIA_HEIGHT)  # (W, H) of the live output frames
LIVE_JPEG_QUALITY = 85
LIVE_WAIT = ("another page is using the live camera (one live session at a time); this one starts by itself "
             "when that one stops")

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
        self.live = LiveTab(self)
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

    def default_mode(self, model):
        """The TPSMM mode the model named `model` animates in unless another is chosen: its config's animate.mode
        (the shipped TPSMM's: relative-affine); 'relative' for a config without one or that cannot be read."""
        if model not in self.models:
            raise ValueError("unknown model %r: choose one of %s" % (model, ", ".join(self.models)))
        from ppgan.utils.config import load_config

        try:
            mode = load_config(self.models[model][0]).get("animate", {}).get("mode", "relative")
        except (PPGanError, ValueError, OSError):
            return "relative"  # the animation reports an unreadable config, in the CLI's words
        return mode if mode in TPSMM_MODES else "relative"

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
        args = self.arguments(model, relative, adapt_scale, mode, source_image=source, driving_video=driving,
                              find_best_frame=bool(find_best_frame), audio=bool(audio), crop=crop)
        check_animation_args(args)
        return args, self._predictor(*self.models[model], args)

    def arguments(self, model, relative, adapt_scale, mode, **given):
        """The CLI's argparse namespace for the model named `model` and the page's motion options (those of the
        model's family; the others are None, as the CLI leaves flags not given), with `given` set on it."""
        if model not in self.models:
            raise ValueError("unknown model %r" % (model,))
        from .face_crop import DEFAULT_RATIO
        from .predictor import predictor_class

        family = predictor_class(self.models[model][0]).family
        args = argparse.Namespace(
            source_image=None, driving_video=None, threads=self.threads, batch_size=None, image_size=None,
            backend="auto", ratio=DEFAULT_RATIO, best_frame=None, find_best_frame=False, audio=False,
            crop="auto", multi_person=False, no_progress=False, face_detector="auto", face_enhancement=False,
            gpen_weight_path=None, slice_size=0,
            relative=bool(relative) if family == "FirstOrderModel" else None,
            adapt_scale=bool(adapt_scale) if family == "FirstOrderModel" else None,
            mode=mode if family == "TPSMMModel" else None)
        vars(args).update(given)
        return args


class LiveTab:
    """The live tab's one session per process: camera frames of the page that holds it in, animated frames out.

    A page (Gradio's session hash) takes the session with its first frame when none is running, or when the
    holder sent no frame for `idle` seconds; every other page is answered LIVE_WAIT. The session (a
    `ppgan.apps.live.LiveSession`) is made for the page's model, motion options, crop and
    source image, made again when one of them changes, and closed by `release` (the camera stopped, the page
    left). Its predictor is kept for the next session of the same model and options. Its own, not the animation
    tab's: the two may run at once, each on its own nets.
    """

    def __init__(self, web, idle=LIVE_IDLE, clock=time.monotonic):
        self.web = web
        self.idle = float(idle)
        self.clock = clock
        self.owner = None  # the page holding the session (its session hash)
        self.last_frame = None  # when the owner's last frame arrived (clock)
        self._state = threading.Lock()  # owner, last_frame
        self._work = threading.Lock()  # the session and the predictor: making, animating, closing
        self.session = None
        self._session_owner = None
        self._session_key = None
        self._failed = None  # (key, error): a session that could not be made is not tried again at each frame
        self._predictor_key = None
        self._predictor = None
        self._logged = None  # the last failure written to the log

    def frame(self, owner, frame, model, source, crop="auto", relative=True, adapt_scale=True, mode="relative",
              encode=None):
        """(the animated frame, or None; a one-line status) for a camera frame (HxWx3 uint8 RGB) from the page
        `owner`, with the page's choices. The frame is HxWx3 uint8, or what `encode` makes of it (its time counts in
        the latency)."""
        captured = time.monotonic()
        now = self.clock()
        with self._state:
            if self.owner not in (None, owner) and now - self.last_frame < self.idle:
                return None, LIVE_WAIT
            self.owner, self.last_frame = owner, now
        with self._work:
            with self._state:
                if self.owner != owner:  # released (or taken over) while this frame waited
                    return None, LIVE_WAIT if self.owner is not None else "stopped"
            if frame is None:
                return None, "waiting for the camera"
            if self._session_owner != owner:
                self._close()
            try:
                session = self._session_for(owner, model, source, crop, relative, adapt_scale, mode)
                out = session.process(frame, captured)
                out = out.copy() if encode is None else encode(out)
            except Exception as error:
                message = _live_error(error, source)
                if not isinstance(error, (PPGanError, ValueError)) and message != self._logged:
                    logger.error("live animation failed", exc_info=error)  # once, not at every frame
                    self._logged = message
                return None, message
            session.emitted()
            with self._state:
                if self.owner == owner:  # making the session may have taken longer than `idle`
                    self.last_frame = self.clock()
            return out, _live_status(session.stats())

    def calibrate(self, owner):
        """The page `owner`'s next frame becomes the reference of relative motion; returns a one-line status."""
        with self._state:
            if self.owner != owner:
                return "start the camera first" if self.owner is None else LIVE_WAIT
            session = self.session if self._session_owner == owner else None
        if session is None:
            return "start the camera first"
        session.calibrate()
        return "calibrating: hold still; this frame becomes the reference of the motion"

    def release(self, owner):
        """Free the session of the page `owner` (its camera stopped or the page left); another page's is kept."""
        with self._state:
            if self.owner != owner:
                return
            self.owner = None
        with self._work:
            with self._state:
                if self.owner is not None and self.owner != self._session_owner:
                    return  # a page that started since makes its own session
            if self._session_owner == owner:
                self._close()

    def _close(self):
        if self.session is not None:
            self.session.close()
            logger.info("live session closed after %d frames", self.session.frames)
        self.session = self._session_owner = self._session_key = None

    def _session_for(self, owner, model, source, crop, relative, adapt_scale, mode):
        if not source:
            raise ValueError("choose a source image: it is the avatar the camera animates")
        args = self.web.arguments(model, relative, adapt_scale, mode)
        key = (model, os.fspath(source), crop, args.relative, args.adapt_scale, args.mode)
        if self.session is not None and self._session_key == key:
            return self.session
        self._close()
        if self._failed is not None and self._failed[0] == key:
            raise self._failed[1]
        try:
            predictor_key = key[:1] + key[3:]
            if self._predictor_key != predictor_key:
                self._predictor = self._predictor_key = None
                self._predictor = make_predictor(*self.web.models[model], args)
                self._predictor_key = predictor_key
            from .live import LiveSession

            # Gradio's webcam already sends the mirrored (selfie) view the page shows
            session = LiveSession(self._predictor, avatars=[os.fspath(source)], crop=crop, output_size=LIVE_SIZE,
                                    mirror=False)
            session.prepare()  # the backend's export (the first time), the avatar's features
        except Exception as error:
            self._failed = (key, error)
            raise
        self._failed = None
        self.session, self._session_owner, self._session_key = session, owner, key
        logger.info("live session started (%s, avatar %s)", model, os.path.basename(os.fspath(source)))
        return session


def _live_error(error, source):
    """The live tab's line for an exception: bad input in the CLI's words; a bug named, its details in the log."""
    if isinstance(error, (PPGanError, ValueError)):
        return "error: %s" % _uploaded_names(str(error), source)
    return "error: the live animation failed (%s: %s); the server log has the details" % (
        type(error).__name__, _uploaded_names(str(error), source))


def _live_status(stats):
    """The live tab's line: frame rate and latency (the server's part: frame in to JPEG out), frames, calibrations."""
    line = "live: %d frames" % stats["frames"]
    if stats.get("fps"):
        line += " · %.1f frames/s · latency p50 %.0f ms, p95 %.0f ms" % (
            stats["fps"], stats["latency_ms_p50"], stats["latency_ms_p95"])
    return line + " · reference #%d" % stats.get("reference_count", 0)


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
        gr.Markdown("# Image animation\nThe object in the source image moves like the one in the driving video, "
                    "or live, like your face in the camera.")
        with gr.Row():
            source = _pass_uploads_through(gr.Image(
                type="filepath", image_mode=None, label="source image", height=MEDIA_HEIGHT,
                value=os.path.join(SAMPLES, "source_b.png"), elem_id="source"))
            with gr.Column():
                model = gr.Dropdown(list(web.models), value=list(web.models)[0], label="model", elem_id="model")
                applies = web.option_states(model.value)
                # only the chosen model's options are shown (a disabled Gradio radio looks almost like an active one)
                relative = gr.Checkbox(True, label="FOMM: relative motion", visible=applies["relative"],
                                       elem_id="relative")
                adapt_scale = gr.Checkbox(True, label="FOMM: adapt scale", visible=applies["adapt_scale"],
                                          elem_id="adapt_scale")
                mode = gr.Radio(list(TPSMM_MODES), value=web.default_mode(model.value), label="TPSMM: mode",
                                visible=applies["mode"], elem_id="mode")
                crop = gr.Radio(list(CROPS), value="auto", label="crop", elem_id="crop")
        with gr.Tabs():
            with gr.Tab("Driving video", elem_id="video_tab"):
                with gr.Row():
                    driving = gr.Video(label="driving video", height=MEDIA_HEIGHT,
                                       value=os.path.join(SAMPLES, "driving.mp4"), elem_id="driving")
                    with gr.Column():
                        best = gr.Checkbox(False, label="find best frame")
                        audio = gr.Checkbox(False, label="keep audio")
                        run = gr.Button("Animate", variant="primary", elem_id="animate")
                        status = gr.Markdown(elem_id="status")
                with gr.Row():
                    result = gr.Video(label="result", height=MEDIA_HEIGHT, elem_id="result")
                    kp_source = gr.Image(label="keypoints: source", height=MEDIA_HEIGHT, interactive=False,
                                         format="png", elem_id="kp_source")
                    kp_reference = gr.Image(label="keypoints: reference driving frame", height=MEDIA_HEIGHT,
                                            format="png", interactive=False, elem_id="kp_reference")
            with gr.Tab("Live camera", elem_id="live_tab"):
                with gr.Row():
                    camera = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="camera",
                                      height=MEDIA_HEIGHT, elem_id="camera")
                    live_out = _data_url_output(gr.Image(label="live", height=MEDIA_HEIGHT, interactive=False,
                                                         buttons=["fullscreen"], elem_id="live"))
                with gr.Row():
                    calibrate = gr.Button("Calibrate", elem_id="calibrate")
                    live_status = gr.Markdown("press Record under the camera; face it as the source image faces "
                                              "you, then Calibrate", elem_id="live_status")

        def animate(src, drv, name, rel, adapt, mode_value, crop_value, best_value, audio_value,
                    progress=gr.Progress(track_tqdm=True)):
            for update in web.run(src, drv, name, rel, adapt, mode_value, crop_value, best_value, audio_value):
                yield update.video, _uint8(update.source_keypoints), _uint8(update.reference_keypoints), \
                    update.message

        def options_of(name):
            states = web.option_states(name)
            return (gr.update(visible=states["relative"]), gr.update(visible=states["adapt_scale"]),
                    gr.update(visible=states["mode"], value=web.default_mode(name)))

        def live_frame(frame, src, name, rel, adapt, mode_value, crop_value, request: gr.Request):
            out, message = web.live.frame(request.session_hash, frame, name, src, crop_value, rel, adapt, mode_value,
                                          encode=_jpeg_data_url)
            # no frame (waiting, an error) clears the picture: an update (gr.skip) would give this page its own copy
            # of the component, without the data URL output
            return out, message

        def live_calibrate(request: gr.Request):
            return web.live.calibrate(request.session_hash)

        def live_release(request: gr.Request):
            web.live.release(request.session_hash)

        # outside the queue: choosing a model while an animation runs updates the options at once
        model.change(options_of, model, [relative, adapt_scale, mode], queue=False, show_progress="hidden",
                     api_visibility="undocumented")
        run.click(animate, [source, driving, model, relative, adapt_scale, mode, crop, best, audio],
                  [result, kp_source, kp_reference, status])
        # the page posts a frame every LIVE_EVERY s; Gradio hands the function the newest when it is free (no
        # queue of frames); an event of its own, so a running animation does not hold it up. It ends (then) when
        # the camera stops; unload runs when the page goes away.
        camera.stream(live_frame, [camera, source, model, relative, adapt_scale, mode, crop], [live_out, live_status],
                      stream_every=LIVE_EVERY, concurrency_limit=None, show_progress="hidden",
                      api_visibility="undocumented").then(live_release, None, None, queue=False,
                                                          api_visibility="undocumented")
        calibrate.click(live_calibrate, None, live_status, queue=False, show_progress="hidden",
                        api_visibility="undocumented")
        page.unload(live_release)
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


def _data_url_output(image):
    """Make the gr.Image `image` show a data URL (`_jpeg_data_url`) as it is: live frames reach the page inside
    the stream's message instead of as a file each in Gradio's cache (up to twenty a second)."""
    from gradio.data_classes import ImageData

    postprocess = image.postprocess

    def as_data_url(value):
        if isinstance(value, str) and value.startswith("data:image/"):
            return ImageData(url=value)
        return postprocess(value)

    image.postprocess = as_data_url
    return image


def _jpeg_data_url(frame):
    """An HxWx3 uint8 RGB frame as a JPEG data URL."""
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=LIVE_JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


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
