"""ppgan/apps/web_demo.py: the page's animation is the CLI's (frames and errors); the page in a real browser."""
import contextlib
import importlib.util
import os
import re
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO, OutboundRecorder
from ppgan.apps import demo
from ppgan.apps.web_demo import PREVIEW_HEIGHT, SAMPLES, WebDemo
from ppgan.utils.errors import PPGanError
from ppgan.utils.video import open_video, read_frames, video_fps, write_video

SOURCE = os.path.join(SAMPLES, "source_b.png")
DRIVING = os.path.join(SAMPLES, "driving.mp4")
CHROMIUM = "/usr/bin/chromium"


def _frames(path):
    with open_video(path) as video:
        return np.stack(list(video)).astype(np.int16), video.fps


def _first_frames(path, count):
    """Write the driving sample's first `count` frames, at its frame rate, to `path` (for tests about the page,
    not the model); returns `path`."""
    write_video(path, read_frames(DRIVING, range(count)), fps=video_fps(DRIVING))
    return path


@pytest.fixture(scope="module")
def web():
    return WebDemo()


def test_the_page_animates_as_the_command_line_does(web, tmp_path):
    model = list(web.models)[0]
    update = web.animate(SOURCE, DRIVING, model, mode=web.default_mode(model), crop="auto")  # the page's first mode
    result = update.video
    assert update.message == "animated %d frames" % len(_frames(DRIVING)[0])
    # the keypoint previews: the detected control points, 5 per thin-plate spline, on the enlarged inputs
    for preview in (update.source_keypoints, update.reference_keypoints):
        assert preview.shape == (PREVIEW_HEIGHT, PREVIEW_HEIGHT, 3) and preview.dtype == np.float32
    assert demo.main(["--source_image", SOURCE, "--driving_video", DRIVING, "--output", str(tmp_path),
                      "--no-progress"]) == 0
    ours, fps = _frames(result)
    cli, cli_fps = _frames(str(tmp_path / "result.mp4"))
    assert ours.shape == cli.shape and fps == pytest.approx(cli_fps)
    assert np.abs(ours - cli).max() <= 2


def test_bad_inputs_give_the_command_lines_one_line_errors(web, tmp_path):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.RandomState(4).bytes(4096))
    fomm = [name for name in web.models if "FOMM" in name][0]
    cases = [(str(tmp_path / "missing.png"), DRIVING, "--source_image .* does not exist"),
             (SOURCE, str(corrupt), "corrupt|cannot|not a"),
             (None, DRIVING, "choose a source image and a driving video")]
    for source, driving, expected in cases:
        result, _, _, message = web.animate(source, driving, fomm)
        assert result is None and message.startswith("error: ") and "\n" not in message
        assert re.search(expected, message), message
    # each request's folder is removed when the next one starts: only the last one's is left, and it is empty
    assert len(os.listdir(web._root)) == 1 and not os.listdir(os.path.join(web._root, os.listdir(web._root)[0]))


def test_an_unexpected_failure_is_one_message_and_the_next_request_works(web, monkeypatch, tmp_path):
    from ppgan.apps import web_demo

    short = _first_frames(str(tmp_path / "short.mp4"), 8)

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(web_demo, "write_animation", broken)
    model = list(web.models)[0]
    update = web.animate(SOURCE, short, model, crop="none")
    assert update.video is None and update.message == (
        "error: the animation failed (RuntimeError: disk on fire); the server log has the details")
    assert update.source_keypoints is not None  # found before the failure: still shown
    monkeypatch.undo()
    assert web.animate(SOURCE, short, model, crop="none").message == "animated 8 frames"


def test_only_the_chosen_models_options_apply(web):
    tpsmm, fomm = "shipped TPSMM (64x64 cartoon faces)", "shipped FOMM (64x64 cartoon faces)"
    assert web.option_states(tpsmm) == {"relative": False, "adapt_scale": False, "mode": True}
    assert web.option_states(fomm) == {"relative": True, "adapt_scale": True, "mode": False}
    with pytest.raises(ValueError, match="unknown model 'other': choose one of shipped TPSMM"):
        web.option_states("other")


def test_the_page_opens_with_the_default_models_options_only(web):
    _require_browser(browser=False)
    from ppgan.apps.web_demo import build_page

    page, _ = build_page(web)
    shown = {block.elem_id: block.visible for block in page.blocks.values()
             if block.elem_id in ("relative", "adapt_scale", "mode")}
    assert list(web.models)[0].startswith("shipped TPSMM")
    assert shown == {"relative": False, "adapt_scale": False, "mode": True}
    radio = [block for block in page.blocks.values() if block.elem_id == "mode"][0]
    assert radio.value == web.default_mode(list(web.models)[0])


def test_the_mode_offered_first_is_the_models_own(web, tiny_tpsmm_config, tiny_tpsmm_weights, tmp_path):
    """The TPSMM mode radio starts at (and switches to, with the model) the model's config's animate.mode."""
    from conftest import _config_file
    from ppgan.apps.web_demo import WebDemo
    from ppgan.utils.config import load_config

    tpsmm = "shipped TPSMM (64x64 cartoon faces)"
    assert web.default_mode(tpsmm) == load_config(web.models[tpsmm][0])["animate"]["mode"]
    tiny_tpsmm_config["animate"] = {"mode": "standard"}
    given = WebDemo(_config_file(tiny_tpsmm_config, tmp_path / "standard.yaml"), tiny_tpsmm_weights)
    assert given.default_mode(list(given.models)[-1]) == "standard"
    with pytest.raises(ValueError, match="unknown model 'other'"):
        web.default_mode("other")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _require_browser(browser=True):
    """Skip without the webui extra and Debian's chromium (or, with browser=False, without Gradio); fail instead
    where they were installed for the test (.ci/run sets PPGAN_REQUIRE_BROWSER=1)."""
    if importlib.util.find_spec("gradio") and (not browser or (importlib.util.find_spec("playwright")
                                                               and os.path.exists(CHROMIUM))):
        return
    message = ('the browser test needs the webui extra (pip install -e ".[webui]") and Debian\'s chromium '
               '(apt-get install chromium)')
    if os.environ.get("PPGAN_REQUIRE_BROWSER", "") not in ("", "0"):
        pytest.fail(message)
    pytest.skip(message)


@contextlib.contextmanager
def _server(tmp_path, recorder):
    """The web demo's launcher in a subprocess on a free port, with its temporary files under tmp_path/tmp and
    any request to another host sent to `recorder`; yields (url, process). Stopped with SIGTERM."""
    port = _free_port()
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = recorder.env(dict(os.environ, TMPDIR=str(temp)))
    env.pop("GRADIO_TEMP_DIR", None)
    env.pop("GRADIO_ANALYTICS_ENABLED", None)  # the page itself must turn analytics off
    log = open(str(tmp_path / "server.log"), "w")
    server = subprocess.Popen([sys.executable, os.path.join(REPO, "applications", "tools", "web_demo.py"),
                               "--port", str(port)], cwd=str(tmp_path), stdout=log, stderr=subprocess.STDOUT,
                              env=env)
    try:
        deadline = time.time() + 180
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None and time.time() < deadline, open(str(tmp_path / "server.log")).read()
                time.sleep(0.5)
        yield "http://127.0.0.1:%d/" % port, server
    finally:
        server.terminate()
        code = server.wait(timeout=60)
        log.close()
    assert code == 0, open(str(tmp_path / "server.log")).read()
    # everything the server wrote (its requests' folders, Gradio's copies of uploads and results) is gone
    assert not os.listdir(str(temp)), os.listdir(str(temp))


@pytest.mark.slow
@pytest.mark.xdist_group("web_browser")
def test_the_page_in_a_real_browser(tmp_path):
    """Headless Chromium: upload the samples, animate, play the result (the driving video's frame count and fps),
    see the keypoints; upload a corrupt video and see the CLI's message; nothing is fetched from another host."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.RandomState(4).bytes(4096))
    recorder = OutboundRecorder()
    other_hosts = []
    with _server(tmp_path, recorder) as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()

        def local_only(route):
            if route.request.url.startswith(url.rstrip("/")) or route.request.url.startswith("data:"):
                route.continue_()
            else:
                other_hosts.append(route.request.url)
                route.abort()

        page.route("**/*", local_only)
        page.goto(url)
        # only the chosen model's options are shown: TPSMM's mode for the default, FOMM's checkboxes for FOMM
        options = ("#relative", "#adapt_scale", "#mode")
        page.wait_for_selector("#mode")
        assert [page.is_visible(option) for option in options] == [False, False, True]
        for name, shown in (("shipped FOMM", [True, True, False]), ("shipped TPSMM", [False, False, True])):
            page.click("#model input")
            page.click("ul[role=listbox] >> text=%s" % name)
            page.wait_for_function("([ids, shown]) => ids.every((id, i) => "
                                   "!!document.querySelector(id)?.checkVisibility() === shown[i])",
                                   arg=[options, shown])
            assert [page.is_visible(option) for option in options] == shown
        page.locator("#source input[type=file]").set_input_files(SOURCE)
        page.wait_for_function("() => document.querySelector('#source img')?.src.includes('/source_b.png')")
        page.click('#driving button[aria-label="Clear"]')
        page.locator("#driving input[type=file]").set_input_files(DRIVING)
        page.wait_for_function("() => document.querySelector('#driving video')?.src.includes('/driving.mp4')")
        page.click("#animate")
        page.wait_for_function("() => /frames|error/.test(document.querySelector('#status')?.innerText || '')",
                               timeout=300000)
        driving, driving_fps = _frames(DRIVING)
        assert page.inner_text("#status").strip() == "animated %d frames" % len(driving)
        response = page.request.get(page.get_attribute("#result video", "src"))
        assert response.ok
        played = tmp_path / "played.mp4"
        played.write_bytes(response.body())
        frames, fps = _frames(str(played))
        assert len(frames) == len(driving) and fps == pytest.approx(driving_fps)
        # the frames the page played are the command line's with the same (default) options
        assert demo.main(["--source_image", SOURCE, "--driving_video", DRIVING, "--output", str(tmp_path / "cli"),
                          "--no-progress"]) == 0
        assert np.abs(frames - _frames(str(tmp_path / "cli" / "result.mp4"))[0]).max() <= 2
        for preview in ("#kp_source img", "#kp_reference img"):
            picture = page.request.get(page.get_attribute(preview, "src"))
            assert picture.ok and picture.body()[:8] == b"\x89PNG\r\n\x1a\n"
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)

        page.click('#driving button[aria-label="Clear"]')
        page.locator("#driving input[type=file]").set_input_files(str(corrupt))
        page.wait_for_function("() => document.querySelector('#driving video')?.src.includes('/corrupt.mp4')")
        page.click("#animate")
        page.wait_for_function("() => (document.querySelector('#status')?.innerText || '').startsWith('error')",
                               timeout=120000)
        message = page.inner_text("#status").strip()
        assert message.startswith("error: cannot open video 'corrupt.mp4'") and "corrupt or not a media file" in \
            message, message
        page.screenshot(path=str(tmp_path / "error.png"), full_page=True)
        browser.close()
    recorder.close()
    assert other_hosts == [] and recorder.requests == [], (other_hosts, recorder.requests)


def _rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


@pytest.mark.slow
@pytest.mark.xdist_group("web_soak")
def test_twenty_requests_half_bad_leave_memory_and_disk_as_they_were(tmp_path):
    """20 requests through the server's HTTP API (gradio_client, as the page sends them: uploads, the queue),
    every other one a bad input: each gets its answer, memory ends within 10% of its level after the first
    request, and at most the last request's folder is left while the server runs (none after it stops)."""
    _require_browser(browser=False)
    from gradio_client import Client, handle_file

    from ppgan.utils.video import save_image

    short = _first_frames(str(tmp_path / "short.mp4"), 20)  # the soak is about the server, not the model
    blank = str(tmp_path / "blank.png")
    save_image(blank, np.full((64, 64, 3), 128, np.uint8))
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.RandomState(5).bytes(4096))
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    options = dict(rel=True, adapt=True, mode_value="relative", crop_value="auto", best_value=False,
                   audio_value=False)
    model = "shipped TPSMM (64x64 cartoon faces)"
    bad = [(SOURCE, str(corrupt), {}, "corrupt or not a media file"),
           (str(text), short, {}, "notes.png"),
           (blank, short, {"crop_value": "face"}, "no face found in the source image"),
           (None, short, {}, "choose a source image and a driving video"),
           (SOURCE, short, {"mode_value": "avd"}, "AVD network")]
    recorder = OutboundRecorder()
    memory = []
    with _server(tmp_path, recorder) as (url, server):
        client = Client(url, verbose=False)
        temp = str(tmp_path / "tmp")
        for i in range(20):
            if i % 2 == 0:
                source, driving, changes, expected = SOURCE, short, {}, "animated 20 frames"
            else:
                source, driving, changes, expected = bad[(i // 2) % len(bad)]
            args = dict(options, **changes)
            video, _, _, message = client.predict(source and handle_file(source), handle_file(driving), model,
                                                  *args.values(), api_name="/animate")
            assert re.search(expected, message), (i, message)
            assert (video is None) == message.startswith("error: "), (i, message)
            memory.append(_rss_kib(server.pid))
            roots = [d for d in os.listdir(temp) if d.startswith("ppgan-web-")]
            assert len(roots) == 1
            root = os.path.join(temp, roots[0])
            work = [d for d in os.listdir(root) if d != "gradio" and os.path.isdir(os.path.join(root, d))]
            assert len(work) == 1, work  # only this request's folder: the previous one's is gone
    recorder.close()
    print("server RSS after each request (MiB):", " ".join("%.0f" % (kib / 1024) for kib in memory))
    assert memory[-1] <= 1.1 * memory[0], memory
    assert recorder.requests == [], recorder.requests


def test_weights_that_do_not_fit_the_given_model_are_the_clis_message_in_the_page(tmp_path):
    """--config of the shipped FOMM with the shipped TPSMM's weights: the page's 'given' model answers with the
    CLI's checkpoint message."""
    from ppgan.apps.demo import DEFAULT_WEIGHTS
    from ppgan.apps.web_demo import SHIPPED_FOMM

    config = os.path.join(SHIPPED_FOMM, "config.yaml")
    web = WebDemo(config, DEFAULT_WEIGHTS)
    given = [name for name in web.models if name.startswith("given")][0]
    update = web.animate(SOURCE, DRIVING, given, crop="none")
    assert update.video is None and "\n" not in update.message, update.message
    with pytest.raises(PPGanError) as cli:
        demo.main(["--config", config, "--weight_path", DEFAULT_WEIGHTS, "--source_image", SOURCE,
                   "--driving_video", DRIVING, "--output", str(tmp_path), "--no-progress", "--crop", "none"])
    assert update.message == "error: %s" % cli.value
