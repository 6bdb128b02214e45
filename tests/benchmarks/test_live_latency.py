"""benchmarks/live.py: a 2-second camera clip drives the shipped TPSMM; the face is found and one row is printed."""
import json
import os
import subprocess
import sys

from conftest import REPO

SCRIPT = os.path.join(REPO, "benchmarks", "live.py")


def _cells(line):
    assert line.startswith("| ") and line.endswith(" |"), line
    return [cell.strip() for cell in line[2:-2].split(" | ")]


def test_prints_a_row_per_run_with_the_face_found(tmp_path):
    figures = tmp_path / "runs.json"
    proc = subprocess.run([sys.executable, SCRIPT, "--seconds", "2", "--models", "tpsmm", "--backend", "onnx",
                           "--record", "--workdir", str(tmp_path / "work"), "--json", str(figures)],
                          capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert "camera: camera-640x480-25fps-50.mp4 played at 25 fps (50 frames of 640x480)" in lines
    check = [line for line in lines if line.startswith("face check: ")]
    assert len(check) == 1 and " found the face in 50 of 50 camera frames " in check[0], check
    assert check[0].endswith("in the avatar: yes")
    assert "output: a callback and an .mp4 recording (H.264)" in lines[lines.index(check[0]) + 1]

    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 3, lines  # header, separator, one run
    header = _cells(table[0])
    assert header[:3] == ["model", "size", "backend"] and "latency p50 / p95 / max ms" in header
    cells = dict(zip(header, _cells(table[2])))
    assert (cells["model"], cells["size"], cells["backend"]) == ("TPSMM shipped", "64", "onnx")
    out, captured = (int(v) for v in cells["frames out / camera"].split(" / "))
    dropped = int(cells["dropped"].split()[0])
    assert captured == 50 and 2 <= out <= 50 and out + dropped == captured
    p50, p95, worst = (float(v) for v in cells["latency p50 / p95 / max ms"].split(" / "))
    assert 0 < p50 <= p95 <= worst
    for column in ("decode", "wait", "detect", "model ms", "composite", "output"):
        assert float(cells[column]) >= 0, column
    found, runs = (int(v) for v in cells["faces"].split(" / "))
    assert runs >= 1 and found == runs  # the tracker's detector found the face every time it ran
    assert float(cells["frames/s"]) > 0 and float(cells["setup s"]) > 0

    run = json.loads(figures.read_text())
    assert len(run) == 1 and run[0]["recorded"] == out and run[0]["backend"] == "onnx"
    # a frame's latency is the sum of its parts after capture, so the means add up too
    parts = sum(run[0][stage] for stage in ("wait", "detect", "model", "composite", "output"))
    assert abs(parts - run[0]["latency_mean"]) < 1e-6 * max(1.0, parts)
    assert not [name for name in os.listdir(str(tmp_path)) if name != "runs.json" and name != "work"]


def test_an_unknown_model_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, SCRIPT, "--models", "nothing"], capture_output=True, text=True, timeout=60,
                          cwd=str(tmp_path))
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip() == ("live.py: error: --models takes tpsmm, fomm, tpsmm-vox256, fomm-vox256, or a "
                                   "config file; 'nothing' is neither")
