"""Comparing our arrays with a parity fixture's recorded ones."""
import numpy as np


def compare(ours, io, prefix, tol, exclude=()):
    """Assert max |ours[k] - io[k]| <= tol for every fixture key under `prefix` (but `exclude`); returns the
    {key: max |diff|} report. A key we do not produce, or of another shape, fails."""
    expected = [k for k in io.files if k.startswith(prefix) and k not in exclude]
    assert expected, "fixture has no %s arrays" % prefix
    report = {}
    for key in expected:
        assert key in ours, "we produce no %s" % key
        assert ours[key].shape == io[key].shape, key
        report[key] = float(np.abs(ours[key] - io[key]).max())
    bad = {k: v for k, v in report.items() if not v <= tol}
    assert not bad, "max |diff| above %g: %s" % (tol, bad)
    return report
