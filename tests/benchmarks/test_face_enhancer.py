"""benchmarks/face_enhancer.py prints the time per call and per face of the GPEN enhancer (a small one here)."""
import os
import subprocess
import sys

from conftest import REPO


def test_prints_the_time_per_face():
    done = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "face_enhancer.py"), "--side", "48",
                           "--batch", "2", "--repeat", "1", "--size", "32", "--style_dim", "16", "--n_mlp", "2",
                           "--narrow", "0.015625", "--threads", "1"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith("GPEN-32 (random weights), 2 face(s) of 48x48 per call, 1 calls:") and "s per face" in line
    assert "1 thread(s)" in line
