"""--evaluate-only says so when the model does not beat its baselines."""
from ppgan.engine.launch import baseline_warnings


def test_a_model_worse_than_copying_frame_0_is_called_out():
    (warning,) = baseline_warnings({"l1": 0.06, "baseline_l1": 0.05, "deformed_l1": 0.07})
    assert "1.20x WORSE than copying frame 0" in warning and "train longer" in warning


def test_a_decoder_worse_than_the_warped_source_is_called_out():
    (warning,) = baseline_warnings({"l1": 0.04, "baseline_l1": 0.05, "deformed_l1": 0.03})
    assert "warped by the predicted motion alone" in warning and "decoder" in warning


def test_both_and_neither():
    assert len(baseline_warnings({"l1": 0.06, "baseline_l1": 0.05, "deformed_l1": 0.055})) == 2
    assert baseline_warnings({"l1": 0.02, "baseline_l1": 0.05, "deformed_l1": 0.021}) == []
    nan = float("nan")
    assert baseline_warnings({"l1": 0.02, "baseline_l1": 0.05, "deformed_l1": nan}) == []
    assert baseline_warnings({"l1": nan, "baseline_l1": nan, "deformed_l1": nan}) == []
