"""ppgan/apps/web_demo.py: the page's animation is the CLI's (frames and errors); the page in a real browser."""
import importlib.util
import os
import re
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO
from ppgan.apps import demo
from ppgan.apps.web_demo import SAMPLES, WebDemo
from ppgan.utils.video import open_video

SOURCE = os.path.join(SAMPLES, "source_b.png")
DRIVING = os.path.join(SAMPLES, "driving.mp4")
CHROMIUM = "/usr/bin/chromium"


def _frames(path):
    video = open_video(path)
    try:
        return np.stack(list(video)).astype(np.int16), video.fps
    finally:
        video.close()


@pytest.fixture(scope="module")
def web():
    return WebDemo()


def test_the_page_animates_as_the_command_line_does(web, tmp_path):
    model = list(web.models)[0]
    result, message = web.animate(SOURCE, DRIVING, model, mode="relative", crop="auto")
    assert message == "animated %d frames" % len(_frames(DRIVING)[0])
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
        result, message = web.animate(source, driving, fomm)
        assert result is None and message.startswith("error: ") and "\n" not in message
        assert re.search(expected, message), message
    # each request's folder is removed when the next one starts: only the last one's is left, and it is empty
    assert len(os.listdir(web._root)) == 1 and not os.listdir(os.path.join(web._root, os.listdir(web._root)[0]))


def test_an_unexpected_failure_is_one_message_and_the_next_request_works(web, monkeypatch):
    from ppgan.apps import web_demo

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(web_demo, "animate_to_file", broken)
    model = list(web.models)[0]
    assert web.animate(SOURCE, DRIVING, model, crop="none") == (
        None, "error: the animation failed (RuntimeError: disk on fire); the server log has the details")
    monkeypatch.undo()
    assert web.animate(SOURCE, DRIVING, model, crop="none")[1].startswith("animated ")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _require_browser():
    """Skip without the webui extra and Debian's chromium; fail instead where they were installed for the test
    (.ci/run sets PPGAN_REQUIRE_BROWSER=1)."""
    if importlib.util.find_spec("gradio") and importlib.util.find_spec("playwright") and os.path.exists(CHROMIUM):
        return
    message = ('the browser test needs the webui extra (pip install -e ".[webui]") and Debian\'s chromium '
               '(apt-get install chromium)')
    if os.environ.get("PPGAN_REQUIRE_BROWSER", "") not in ("", "0"):
        pytest.fail(message)
    pytest.skip(message)


def test_the_page_in_a_real_browser(tmp_path):
    _require_browser()
    from playwright.sync_api import sync_playwright

    port = _free_port()
    server = subprocess.Popen([sys.executable, os.path.join(REPO, "applications", "tools", "web_demo.py"),
                               "--port", str(port)], cwd=str(tmp_path), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, env=dict(os.environ, GRADIO_ANALYTICS_ENABLED="False"))
    try:
        url = "http://127.0.0.1:%d/" % port
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(url)
            page.click("#animate")
            page.wait_for_function("() => (document.querySelector('#status') || {}).innerText?.includes('frames')",
                                   timeout=180000)
            assert page.inner_text("#status").strip() == "animated %d frames" % len(_frames(DRIVING)[0])
            src = page.get_attribute("#result video", "src")
            response = page.request.get(src)
            assert response.ok
            played = tmp_path / "played.mp4"
            played.write_bytes(response.body())
            frames, fps = _frames(str(played))
            driving, driving_fps = _frames(DRIVING)
            assert len(frames) == len(driving) and fps == pytest.approx(driving_fps)
            page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
