"""benchmarks/inference_profile.py: Paddle Inference's operator profile of each exported graph."""
import json
import os
import subprocess
import sys

from conftest import REPO

TOOL = os.path.join(REPO, "benchmarks", "inference_profile.py")


def test_profiles_the_steady_state_calls_of_each_graph(tmp_path):
    out = tmp_path / "profile.json"
    r = subprocess.run([sys.executable, TOOL, "-c", os.path.join(REPO, "configs", "firstorder_synthetic_64.yaml"),
                        "--runs", "2", "--batch-size", "2", "--threads", "1", "--workdir", str(tmp_path / "work"),
                        "--json", str(out)], capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    import paddle

    if paddle.__version__.split(".")[0] == "2":   # Paddle 2.6's Paddle Inference prints no profile: one line says so
        assert r.returncode == 1 and r.stderr.strip().splitlines() == [
            "benchmarks/inference_profile.py needs Paddle 3: Paddle %s's Paddle Inference records no operator "
            "profile (Config.enable_profile prints nothing on its CPU wheel)" % paddle.__version__], r.stderr
        return
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.loads(out.read_text())
    assert set(results) == {"kp_detector", "source_encoder", "frame_generator"}
    for graph, figures in results.items():
        assert figures["wall_ms"] > 0
        convolutions = [name for name in figures["ops"] if "conv2d" in name]
        assert convolutions, graph
        # per call: the instances of an operator type are whole numbers (the warm-up calls were dropped)
        for op in figures["ops"].values():
            assert op["ms"] >= 0 and abs(op["calls"] - round(op["calls"])) < 1e-9
    # the generator warps (grid_sample) and the keypoints are matrix products, not broadcast products
    assert "grid_sample" in results["frame_generator"]["ops"]
    assert "matmul" in results["kp_detector"]["ops"] and "multiply" not in results["kp_detector"]["ops"]
    assert "frame_generator, batch 2: wall" in r.stdout
    assert not (tmp_path / "profile.log").exists()  # the profiler's own file stays in the work folder
