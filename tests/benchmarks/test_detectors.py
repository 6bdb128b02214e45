"""benchmarks/detectors.py prints a line per detector, size and content, with what each found."""
import os
import subprocess
import sys

from conftest import REPO


def test_prints_the_timings_and_what_was_found():
    done = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "detectors.py"), "--frames", "2",
                           "--sizes", "512", "--only", "face_embedder:dlib", "pose_estimator:blazepose"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("2 frames each") and len(lines) == 1 + 2 * 2
    rows = {tuple(line.split()[:4]): line for line in lines[1:]}
    assert "a 128-d descriptor" in rows[("face_embedder", "name=dlib", "512x512", "person")]
    assert "no face" in rows[("face_embedder", "name=dlib", "512x512", "blank")]
    pose = [line for line in lines if "blazepose" in line]
    assert "0 of 18 keypoints" in pose[1] and "0 of 18" not in pose[0]
