"""Reading weight files (Paddle .pdparams or PyTorch checkpoints) and loading them into nets."""
import os

import numpy as np

from .errors import CheckpointError
from .io import atomic_path
from .safe_pickle import read_pdparams

# The nets a weights file may hold: the first order model's, then the thin-plate spline model's.
NET_NAMES = ("kp_detector", "generator", "discriminator",
             "dense_motion_network", "inpainting_network", "bg_predictor", "avd_network")
# Nets an inference-only weights file may lack (they are needed for training or an optional mode only).
OPTIONAL_NETS = ("discriminator", "bg_predictor", "avd_network")


def is_torch_checkpoint(path):
    """True if `path` looks like a `torch.save` file (zip archive or legacy pickle with torch's magic)."""
    with open(path, "rb") as f:
        head = f.read(16)
    # The legacy format starts with a pickled long: PROTO 2, LONG1 of 10 bytes, then the magic number.
    return head[:2] == b"PK" or head[2:4] == b"\x8a\x0a" and head[4:14] == (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def read_paddle_file(path, what):
    """The arrays and plain values of a `paddle.save` file (ppgan.utils.safe_pickle.read_pdparams: nothing in
    it is run); one CheckpointError naming `what` and the file otherwise."""
    try:
        return read_pdparams(path)
    except CheckpointError as e:
        raise CheckpointError("cannot read %s '%s': %s" % (what, path, e)) from None
    except Exception as e:  # pickle raises many types for a file that is no pickle or is cut short
        raise CheckpointError("cannot read %s '%s' (%s): it is neither a Paddle .pdparams file nor a PyTorch "
                              "checkpoint, or it is corrupt/truncated" % (what, path, type(e).__name__)) from None


def read_weights(path):
    """Return {net_name: {param: ndarray}} from a .pdparams file or a PyTorch checkpoint (converted)."""
    if not os.path.exists(path):
        raise CheckpointError("weights file '%s' does not exist; convert a released checkpoint with "
                              "tools/convert_torch_weights.py or pass --weight_path" % path)
    if os.path.isdir(path):
        raise CheckpointError("weights path '%s' is a directory; pass the .pdparams or .pth.tar file" % path)
    if is_torch_checkpoint(path):
        from ppgan.convert import convert_torch_checkpoint
        return convert_torch_checkpoint(path)
    state = read_paddle_file(path, "weights")
    if not isinstance(state, dict) or not any(k in state for k in NET_NAMES):
        raise CheckpointError("weights '%s' hold none of the nets %s; expected a file written by "
                              "tools/convert_torch_weights.py or by training" % (path, ", ".join(NET_NAMES)))
    return state


def _fmt_list(items, limit=6):
    items = list(items)
    shown = ", ".join(items[:limit])
    return shown + (" ... and %d more" % (len(items) - limit) if len(items) > limit else "")


def state_mismatches(net, state):
    """List human-readable differences between a net's parameters and a state dict (empty if it fits)."""
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    problems = []
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = ["%s: file %s vs model %s" % (k, tuple(np.shape(state[k])), expected[k])
              for k in expected if k in state and tuple(np.shape(state[k])) != expected[k]]
    if missing:
        problems.append("%d missing (%s)" % (len(missing), _fmt_list(missing)))
    if unexpected:
        problems.append("%d unexpected (%s)" % (len(unexpected), _fmt_list(unexpected)))
    if shapes:
        problems.append("%d of another shape (%s)" % (len(shapes), _fmt_list(shapes)))
    return problems


def check_weights(nets, weights, source="the weights"):
    """Raise one CheckpointError listing every mismatch between `weights` and the built `nets`."""
    report = []
    for name, net in nets.items():
        if net is None:
            continue
        if name not in weights:
            if name in OPTIONAL_NETS:
                continue  # inference checkpoints may omit it; training and AVD animation require it separately
            report.append("%s: absent from the file" % name)
            continue
        report += ["%s: %s" % (name, p) for p in state_mismatches(net, weights[name])]
    if report:
        shown = "; ".join(report[:6]) + ("; and %d more" % (len(report) - 6) if len(report) > 6 else "")
        raise CheckpointError("%s do not fit the configured architecture (is this the config that goes with the "
                              "checkpoint? see docs/en_US/conversion.md): %s" % (source, shown))


def load_weights(nets, weights, source="the weights"):
    """Check then copy `weights` ({net: state}) into the built `nets` ({net: Layer})."""
    check_weights(nets, weights, source)
    for name, net in nets.items():
        if net is not None and name in weights:
            net.set_state_dict({k: np.asarray(v) for k, v in weights[name].items()})


def save_weights(weights, path):
    """Write {net: state} as a .pdparams file, atomically."""
    import paddle
    with atomic_path(path) as tmp:
        paddle.save(weights, tmp)
