"""ppgan/__init__.py: importing ppgan keeps ONNX Runtime (the default CPU backend) from sending telemetry."""
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
