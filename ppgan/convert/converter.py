"""PyTorch checkpoints of the First Order Motion Model and the Thin-Plate Spline Motion Model -> Paddle
state dicts."""
import numpy as np

from ppgan.utils.checkpoint import NET_NAMES, check_weights, save_weights
from ppgan.utils.errors import CheckpointError

from .torch_reader import load_torch_checkpoint

# PyTorch buffer name -> Paddle buffer name (BatchNorm); None drops the entry.
_RENAMES = {"running_mean": "_mean", "running_var": "_variance", "num_batches_tracked": None}


def convert_state_dict(state, net_name="net"):
    """Map one PyTorch state dict to Paddle names and layouts: strip `module.`, rename BatchNorm buffers,
    transpose Linear weights (PyTorch keeps (out, in), Paddle (in, out); they are the only 2-D weights)."""
    if not isinstance(state, dict):
        raise CheckpointError("'%s' in the checkpoint is not a state dict" % net_name)
    out = {}
    for key, value in state.items():
        while key.startswith("module."):
            key = key[len("module."):]
        head, _, leaf = key.rpartition(".")
        if leaf in _RENAMES:
            if _RENAMES[leaf] is None:
                continue
            key = head + "." + _RENAMES[leaf]
        if not isinstance(value, np.ndarray):
            raise CheckpointError("'%s.%s' in the checkpoint is %s, not a tensor" % (net_name, key, type(value).__name__))
        out[key] = _linear_layout(key, value)
    return out


def _linear_layout(key, value):
    """A Linear layer's weight switched between PyTorch's (out, in) and Paddle's (in, out) layout."""
    if key.endswith(".weight") and value.ndim == 2:
        return np.ascontiguousarray(value.T)
    return value


def to_torch_state_dict(state):
    """A Paddle state dict (numpy values) under the original's PyTorch names (inverse of convert_state_dict).

    BatchNorm gets `num_batches_tracked` back (0: eval mode never reads it). For running the original
    code on our weights, e.g. benchmarks/animate.py --torch-original.
    """
    inverse = {paddle_name: torch_name for torch_name, paddle_name in _RENAMES.items() if paddle_name}
    out = {}
    for key, value in state.items():
        head, _, leaf = key.rpartition(".")
        if leaf in inverse:
            out[head + "." + inverse[leaf]] = value
            if leaf == "_mean":
                out[head + ".num_batches_tracked"] = np.zeros((), dtype=np.int64)
        else:
            out[key] = _linear_layout(key, value)
    return out


def convert_torch_checkpoint(path, include_optimizers=False):
    """Read a PyTorch FOMM or TPSMM checkpoint and return {net: state} for the nets it holds (FOMM:
    'kp_detector', 'generator', 'discriminator'; TPSMM: 'kp_detector', 'dense_motion_network',
    'inpainting_network', 'bg_predictor', 'avd_network').

    With `include_optimizers`, the optimizer states and the epoch are kept as they are
    (numpy arrays, PyTorch layout) under 'torch_<optimizer key>' and 'epoch'.
    """
    ckpt = load_torch_checkpoint(path)
    if not isinstance(ckpt, dict) or not any(name in ckpt for name in NET_NAMES):
        found = ", ".join(map(str, ckpt)) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError("'%s' is a PyTorch file but not a First Order Motion Model checkpoint, nor a Thin-Plate "
                              "Spline Motion Model one: expected 'kp_detector' with 'generator' or "
                              "'inpainting_network', found %s" % (path, found or "nothing"))
    out = {name: convert_state_dict(ckpt[name], name) for name in NET_NAMES if name in ckpt}
    if include_optimizers:
        for key, value in ckpt.items():
            if key == "optimizer" or key.startswith("optimizer_"):
                out["torch_" + key] = value
        if "epoch" in ckpt:
            out["epoch"] = ckpt["epoch"]
    return out


def convert(input_path, output_path, config=None, include_optimizers=False):
    """Convert `input_path` (PyTorch) to `output_path` (.pdparams); with `config`, check every shape first.

    `config` is a path or a loaded config dict. Returns the converted dict.
    """
    weights = convert_torch_checkpoint(input_path, include_optimizers)
    if config is not None:
        from ppgan.models.builder import build_nets, model_family
        from ppgan.utils.config import load_config
        cfg = load_config(config) if not isinstance(config, dict) or "model" not in config else config
        sections = [s for s in model_family(cfg["model"]).net_sections if cfg["model"].get(s) is not None]
        nets = build_nets(cfg["model"], sections)
        check_weights(nets, weights, "the weights in '%s'" % input_path)
    save_weights(weights, output_path)
    return weights
