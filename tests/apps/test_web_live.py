"""The web page's live tab (ppgan/apps/web_demo.py: LiveTab and the page's camera stream): one session per process,
freed when its page stops or leaves; in headless Chromium with a fake camera playing frames of the driving sample."""
import base64
import io
import os
import re
import time

import numpy as np
import pytest
from PIL import Image

from conftest import OutboundRecorder
from ppgan.apps.web_demo import LIVE_SIZE, LIVE_WAIT, SAMPLES, WebDemo
from ppgan.utils.video import read_frames, read_image, save_image, write_y4m
from test_web_demo import CHROMIUM, _require_browser, _server

SOURCE = os.path.join(SAMPLES, "source_b.png")
OTHER_SOURCE = os.path.join(SAMPLES, "source_a.png")
DRIVING = os.path.join(SAMPLES, "driving.mp4")
TPSMM, FOMM = "shipped TPSMM (64x64 cartoon faces)", "shipped FOMM (64x64 cartoon faces)"


@pytest.fixture(scope="module")
def camera():
    """The driving sample's first 12 frames, as a camera would deliver them."""
    return list(read_frames(DRIVING, range(12)))


@pytest.fixture
def web():
    return WebDemo()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_the_first_page_animates_others_wait_until_it_stops(web, camera):
    live = web.live
    out, status = live.frame("a", camera[0], TPSMM, SOURCE)
    assert out.shape == LIVE_SIZE[::-1] + (3,) and out.dtype == np.uint8, status
    assert status.startswith("live: 1 frames") and status.endswith("reference #1"), status
    # the avatar moves with the camera: the source image, not the camera frame, and not still
    source = np.asarray(Image.fromarray(read_image(SOURCE)).resize(LIVE_SIZE), np.float32)
    shown = np.asarray(Image.fromarray(camera[0]).resize(LIVE_SIZE), np.float32)
    assert np.abs(out - source).mean() < 0.5 * np.abs(out - shown).mean()
    outs = [live.frame("a", frame, TPSMM, SOURCE)[0] for frame in camera[1:]]
    assert max(np.abs(o.astype(int) - out).max() for o in outs) > 30
    session = live.session

    assert live.frame("b", camera[0], TPSMM, SOURCE) == (None, LIVE_WAIT)
    assert live.calibrate("b") == LIVE_WAIT
    live.release("b")  # another page's release leaves the session alone
    assert live.session is session and live.owner == "a"

    assert live.calibrate("a").startswith("calibrating")
    out, status = live.frame("a", camera[3], TPSMM, SOURCE)
    assert status.endswith("reference #2") and session.reference_count == 2
    assert re.match(r"live: 13 frames · \d+\.\d frames/s · latency p50 \d+ ms, p95 \d+ ms · reference #2$", status)

    live.release("a")
    assert live.owner is None and live.session is None
    assert live.calibrate("a") == "start the camera first"
    out, status = live.frame("b", camera[0], TPSMM, SOURCE)
    assert out is not None and live.owner == "b" and live.session is not session
    assert live.frame("a", camera[0], TPSMM, SOURCE) == (None, LIVE_WAIT)


def test_a_page_that_sends_no_frame_for_a_while_loses_the_session(web, camera):
    from ppgan.apps.web_demo import LiveTab

    clock = Clock()
    live = LiveTab(web, idle=10.0, clock=clock)
    assert live.frame("a", camera[0], TPSMM, SOURCE)[0] is not None
    clock.now += 9.0
    assert live.frame("b", camera[0], TPSMM, SOURCE) == (None, LIVE_WAIT)
    clock.now += 1.5
    out, status = live.frame("b", camera[0], TPSMM, SOURCE)
    assert out is not None and live.owner == "b", status
    assert live.frame("a", camera[1], TPSMM, SOURCE) == (None, LIVE_WAIT)


def test_a_new_source_model_or_option_makes_a_new_session(web, camera):
    live = web.live
    live.frame("a", camera[0], TPSMM, SOURCE)
    first, predictor = live.session, live._predictor
    live.frame("a", camera[1], TPSMM, SOURCE)
    assert live.session is first
    live.frame("a", camera[1], TPSMM, OTHER_SOURCE)
    assert live.session is not first and live._predictor is predictor  # same model: same nets
    second = live.session
    out, status = live.frame("a", camera[2], FOMM, OTHER_SOURCE, relative=True, adapt_scale=False)
    assert out is not None and live.session is not second and live._predictor is not predictor, status
    assert live._predictor.family == "FirstOrderModel" and live._predictor.adapt_scale is False
    third = live.session
    live.frame("a", camera[3], FOMM, OTHER_SOURCE, relative=True, adapt_scale=False, mode="avd")  # not FOMM's
    assert live.session is third


def test_bad_choices_are_one_line_in_the_status(web, camera, tmp_path):
    live = web.live
    assert live.frame("a", camera[0], TPSMM, None) == (
        None, "error: choose a source image: it is the avatar the camera animates")
    blank = str(tmp_path / "blank.png")
    save_image(blank, np.full((64, 64, 3), 128, np.uint8))
    out, status = live.frame("a", camera[0], TPSMM, blank, crop="face")
    assert out is None and status.startswith("error: ") and "\n" not in status and str(tmp_path) not in status, status
    out, status = live.frame("a", camera[0], TPSMM, SOURCE, mode="avd")
    assert out is None and re.match(r"error: mode 'avd' needs an AVD network", status), status
    assert live.frame("a", camera[0], TPSMM, SOURCE)[0] is not None  # and a good choice works again


def test_a_failure_inside_the_session_is_one_line_logged_once(web, camera, monkeypatch):
    from ppgan.apps import web_demo
    from ppgan.apps.live import LiveSession
    from ppgan.apps.web_demo import LiveTab

    logged = []
    monkeypatch.setattr(web_demo.logger, "error", lambda message, *args, **kwargs: logged.append(message))

    def broken(session):
        raise RuntimeError("camera on fire")

    monkeypatch.setattr(LiveSession, "prepare", broken)
    live = LiveTab(web)
    for frame in camera[:3]:
        assert live.frame("a", frame, TPSMM, SOURCE) == (
            None, "error: the live animation failed (RuntimeError: camera on fire); the server log has the details")
    assert logged == ["live animation failed"]


def test_live_frames_reach_the_page_as_data_urls_not_files():
    _require_browser(browser=False)
    from ppgan.apps.web_demo import _jpeg_data_url, build_page

    page, _ = build_page(WebDemo())
    live = [block for block in page.blocks.values() if getattr(block, "elem_id", None) == "live"][0]
    frame = np.zeros(LIVE_SIZE[::-1] + (3,), np.uint8)
    frame[:, : LIVE_SIZE[0] // 2] = (250, 20, 20)
    shown = live.postprocess(_jpeg_data_url(frame))
    assert shown.path is None and shown.url.startswith("data:image/jpeg;base64,")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(shown.url.split(",", 1)[1]))), np.int16)
    assert decoded.shape == frame.shape and np.abs(decoded - frame).mean() < 3


def _data_url_image(url):
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"), np.int16)


def _start_camera(page, url):
    """Open the page's live tab and start its (fake) camera."""
    page.goto(url)
    page.click("button[role=tab]:has-text('Live camera')")
    page.click("#camera button:has-text('Click to Access Webcam')")
    page.click("#camera button:has-text('Record')")


def _live_status(page):
    return page.eval_on_selector("#live_status", "e => e.innerText").strip().splitlines()[-1]


FIGURES = re.compile(r"live: (\d+) frames · (\d+\.\d) frames/s · latency p50 (\d+) ms, p95 (\d+) ms"
                     r" · reference #(\d+)")
# every distinct picture the live image shows, with the time it appeared (ms, the page's clock)
WATCH = """() => { window.shown = []; let last = null;
    new MutationObserver(() => { const img = document.querySelector('#live img');
        if (img && img.src !== last) { last = img.src; window.shown.push([performance.now(), img.src]); } })
    .observe(document.querySelector('#live'), {subtree: true, attributes: true, childList: true}); }"""


@pytest.mark.slow
@pytest.mark.xdist_group("web_browser")
def test_the_live_tab_in_a_real_browser_with_a_fake_camera(tmp_path):
    """Headless Chromium's fake camera plays the driving sample's frames: animated frames of the source image
    arrive in the page and change; fps and latency are shown; Calibrate sets a new reference; a second page waits
    while the first is live and starts when the first page is closed; stopping the camera frees the session;
    nothing is fetched from another host."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    clip = list(read_frames(DRIVING, range(50)))
    fake_camera = str(tmp_path / "camera.y4m")
    write_y4m(fake_camera, clip, fps=25)
    recorder = OutboundRecorder()
    other_hosts = []
    with _server(tmp_path, recorder) as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            "--use-file-for-fake-video-capture=%s" % fake_camera])

        def refuse(route):
            other_hosts.append(route.request.url)
            route.abort()

        def elsewhere(address):  # only requests to other hosts are intercepted: the stream's posts go straight
            return not (address.startswith(url.rstrip("/")) or address.startswith("data:"))

        first_context, second_context = browser.new_context(), browser.new_context()
        first, second = first_context.new_page(), second_context.new_page()
        for page in (first, second):
            page.route(elsewhere, refuse)
        _start_camera(first, url)
        # the first frame waits for the model's export (once per cache folder; this test's is new)
        first.wait_for_function("() => / [2-9]\\d+ frames/.test(document.querySelector('#live_status').innerText)",
                                timeout=300000)
        first.evaluate(WATCH)
        first.wait_for_timeout(5000)
        shown = first.evaluate("window.shown")
        span = (shown[-1][0] - shown[0][0]) / 1000.0
        print("live frames reaching the page: %d in %.1f s (%.1f/s); status: %s"
              % (len(shown), span, (len(shown) - 1) / span, _live_status(first)))
        assert len(shown) >= 10, shown
        # the animated source image, moving: not the camera's frames
        pictures = [_data_url_image(src) for _, src in shown]
        source = np.asarray(Image.fromarray(read_image(SOURCE)).resize(LIVE_SIZE), np.int16)
        camera = [np.asarray(Image.fromarray(f).resize(LIVE_SIZE), np.int16) for f in clip]
        for picture in pictures[::5]:
            assert picture.shape == LIVE_SIZE[::-1] + (3,)
            assert np.abs(picture - source).mean() < 0.5 * min(np.abs(picture - c).mean() for c in camera)
        assert max(np.abs(p - pictures[0]).max() for p in pictures) > 30
        frames, fps, p50, p95, reference = (float(v) for v in FIGURES.match(_live_status(first)).groups())
        assert frames >= 10 and fps > 0 and 0 < p50 <= p95 and reference == 1

        first.click("#calibrate")
        first.wait_for_function("() => /reference #2/.test(document.querySelector('#live_status').innerText)",
                                timeout=30000)

        _start_camera(second, url)
        second.wait_for_function("(wait) => document.querySelector('#live_status').innerText.includes(wait)",
                                 arg=LIVE_WAIT, timeout=60000)
        first.screenshot(path=str(tmp_path / "live.png"), full_page=True)
        first_context.close()  # the page goes away: its session is freed and the waiting page starts
        second.wait_for_function("() => /frames\\/s/.test(document.querySelector('#live_status').innerText)",
                                 timeout=60000)
        assert FIGURES.match(_live_status(second)).group(5) == "1"  # a session of its own
        second.click("#camera button:has-text('Stop')")
        deadline = time.time() + 30
        while open(str(tmp_path / "server.log")).read().count("live session closed") < 2:
            assert time.time() < deadline, open(str(tmp_path / "server.log")).read()
            time.sleep(0.5)
        browser.close()
    recorder.close()
    assert other_hosts == [] and recorder.requests == [], (other_hosts, recorder.requests)
