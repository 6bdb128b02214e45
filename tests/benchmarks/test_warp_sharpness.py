"""benchmarks/warp_sharpness.py: frame 0 warped by the synthetic videos' true motion."""
import importlib.util
import os

import numpy as np

from conftest import REPO
from ppgan.datasets.synthetic import make_video, random_identity, random_motion, _rng


def _tool():
    spec = importlib.util.spec_from_file_location("warp_sharpness", os.path.join(REPO, "benchmarks",
                                                                                 "warp_sharpness.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_true_flow_at_full_resolution_reproduces_the_face_it_moves():
    """Warping frame 0 by the true motion puts the face where the real frame has it: far closer than frame 0
    copied, and exact at frame 0 itself."""
    tool = _tool()
    identity, motion = random_identity(_rng(7, 0)), random_motion(_rng(7, 0, 0, 1), 8)
    video = make_video(7, 0, 0, 8, 64)
    identity_flow = tool.true_flow(identity, motion, 0, 64, 64)
    np.testing.assert_array_equal(tool.warp(video[0], identity_flow, "bilinear")[1:-1, 1:-1], video[0][1:-1, 1:-1])
    for index in range(1, 8):
        warped = tool.warp(video[0], tool.true_flow(identity, motion, index, 64, 64), "bicubic")
        face = tool.face_coverage(identity, motion, index, 64) > 0.5
        real = video[index].astype(float)
        assert np.abs(warped - real)[face].mean() < 0.5 * np.abs(video[0] - real)[face].mean() + 2


def test_the_figures_bicubic_keeps_more_than_bilinear(capsys):
    tool = _tool()
    results = tool.measure(num_videos=2, seed=3, size=64, num_frames=4, flow_sizes=[16, 64],
                           interpolations=tool.INTERPOLATIONS)
    assert abs(results[("copy", None)][0] - 1) < 0.1   # frame 0 is as sharp as any frame
    for flow in (16, 64):
        assert results[(flow, "bicubic")][2] > results[(flow, "bilinear")][2]
    assert results[(64, "bilinear")][2] > results[(16, "bilinear")][2]
    assert tool.main(["--num-videos", "2", "--num-frames", "3", "--flow-sizes", "16"]) == 0
    out = capsys.readouterr().out
    assert "warped, 16x16 flow, bicubic" in out and "face energy" in out
