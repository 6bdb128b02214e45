"""Registries of generators, discriminators and models, and building the nets from a config."""
import difflib

from ppgan.modules.builder import KP_DETECTORS
from ppgan.utils.errors import ConfigError
from ppgan.utils.registry import Registry, check_arguments

MODELS = Registry("model")
GENERATORS = Registry("generator")
DISCRIMINATORS = Registry("discriminator")

DEFAULT_MODEL = "FirstOrderModel"
COMMON_KEYS = {"num_kp": 10, "num_channels": 3, "estimate_jacobian": True, "align_corners": True}

# Which common keys each net receives from `model.common` (the rest of its keys come from its own section).
_SHARED = {
    "kp_detector": ("num_kp", "num_channels", "estimate_jacobian"),
    "generator": ("num_kp", "num_channels", "align_corners"),
    "discriminator": ("num_kp", "num_channels"),
}
_NET_SECTIONS = {"kp_detector": KP_DETECTORS, "generator": GENERATORS, "discriminator": DISCRIMINATORS}


def _did_you_mean(key, choices):
    hint = difflib.get_close_matches(str(key), list(choices), n=1)
    return " (did you mean '%s'?)" % hint[0] if hint else ""


def common_params(model_cfg):
    """`model.common` with defaults filled; unknown keys raise ConfigError."""
    common = dict(COMMON_KEYS)
    given = model_cfg.get("common") or {}
    if not isinstance(given, dict):
        raise ConfigError("must be a mapping", "model.common")
    for key, value in given.items():
        if key not in COMMON_KEYS:
            raise ConfigError("unknown key; accepted: %s%s" % (", ".join(COMMON_KEYS), _did_you_mean(key, COMMON_KEYS)),
                              "model.common." + key)
        common[key] = value
    return common


def _check(registry, cfg, given, path):
    """Validate `cfg` against the class it names, recursing into its nested sub-configs."""
    if cfg is None:
        return
    try:
        if not isinstance(cfg, dict) or "name" not in cfg:
            raise ConfigError("expected a mapping with a 'name' key")
        cls = registry.get(cfg["name"])
        kwargs = {k: v for k, v in cfg.items() if k != "name"}
        check_arguments(cls, kwargs, given)
    except ConfigError as e:
        raise e.with_prefix(path) from None
    for key, (child_registry, child_given) in getattr(cls, "config_children", {}).items():
        if key in kwargs:
            _check(child_registry, kwargs[key], child_given, "%s.%s" % (path, key))


def check_model_config(model_cfg):
    """Validate the `model` section without building anything."""
    allowed = ("name", "common") + tuple(_NET_SECTIONS)
    for key in model_cfg:
        if key not in allowed:
            raise ConfigError("unknown key; accepted: %s%s" % (", ".join(allowed), _did_you_mean(key, allowed)),
                              "model." + key)
    try:
        MODELS.get(model_cfg.get("name", DEFAULT_MODEL))
    except ConfigError as e:
        raise e.with_prefix("model") from None
    common_params(model_cfg)
    for section in ("kp_detector", "generator"):
        if section not in model_cfg:
            raise ConfigError("missing section", "model." + section)
    for section in _NET_SECTIONS:
        if model_cfg.get(section) is not None:
            _check(_NET_SECTIONS[section], model_cfg[section], _SHARED[section], "model." + section)


def build_net(model_cfg, section):
    """Build one net (`kp_detector`, `generator` or `discriminator`) of a validated model config."""
    cfg = model_cfg.get(section)
    if cfg is None:
        return None
    common = common_params(model_cfg)
    given = {k: common[k] for k in _SHARED[section]}
    try:
        return _NET_SECTIONS[section].build(cfg, **given)
    except ConfigError as e:
        raise e.with_prefix("model." + section) from None


def build_nets(model_cfg, sections=("kp_detector", "generator", "discriminator")):
    """Build the requested nets; returns {section: net or None}."""
    check_model_config(model_cfg)
    return {section: build_net(model_cfg, section) for section in sections}


def build_model(config, **kwargs):
    """Build the training model named by `model.name` (default FirstOrderModel) from a validated config."""
    return MODELS.get(config["model"].get("name", DEFAULT_MODEL))(config, **kwargs)
