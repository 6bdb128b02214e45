"""Registries of generators, discriminators and models, and building the nets of a model from its config.

A model family is a class registered in MODELS (`model.name`, default FirstOrderModel). It declares
`common_keys` (the keys of `model.common` with their defaults), `net_sections` ({section: (registry,
common keys that net receives)}), `required_sections`, `inference_sections` (the nets animation needs)
and `config_sections` (config sections it replaces or adds, e.g. its own `train`; optionally
`check_config(config)`, which checks them in a validated config); for training and evaluation,
`training_stages()` ({stage: training model class}, see ppgan.models.training),
`evaluation_sections(animate_cfg)`, `keypoint_normalizer(animate_cfg, nets)` and `background_predictor(nets,
loaded)` (the net, if any, that the reconstruction of test videos applies to each (source, driving) pair).
"""
import difflib

from ppgan.utils.errors import ConfigError
from ppgan.utils.registry import Registry, check_arguments

MODELS = Registry("model")
GENERATORS = Registry("generator")
DISCRIMINATORS = Registry("discriminator")

DEFAULT_MODEL = "FirstOrderModel"
DEFAULT_STAGE = "train"


def _did_you_mean(key, choices):
    hint = difflib.get_close_matches(str(key), list(choices), n=1)
    return " (did you mean '%s'?)" % hint[0] if hint else ""


def model_family(model_cfg):
    """The registered model class named by `model.name` (default FirstOrderModel)."""
    try:
        return MODELS.get(model_cfg.get("name", DEFAULT_MODEL))
    except ConfigError as e:
        raise e.with_prefix("model") from None


def common_params(model_cfg):
    """`model.common` with defaults filled; unknown keys raise ConfigError."""
    keys = model_family(model_cfg).common_keys
    common = dict(keys)
    given = model_cfg.get("common") or {}
    if not isinstance(given, dict):
        raise ConfigError("must be a mapping", "model.common")
    for key, value in given.items():
        if key not in keys:
            raise ConfigError("unknown key; accepted: %s%s" % (", ".join(keys), _did_you_mean(key, keys)),
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
    family = model_family(model_cfg)
    allowed = ("name", "common") + tuple(family.net_sections)
    for key in model_cfg:
        if key not in allowed:
            raise ConfigError("unknown key; accepted: %s%s" % (", ".join(allowed),
                                                                     _did_you_mean(key, allowed)), "model." + key)
    common_params(model_cfg)
    for section in family.required_sections:
        if model_cfg.get(section) is None:
            raise ConfigError("missing section", "model." + section)
    for section, (registry, shared) in family.net_sections.items():
        if model_cfg.get(section) is not None:
            _check(registry, model_cfg[section], shared, "model." + section)


def build_net(model_cfg, section):
    """Build one net (a section of the model family, e.g. `kp_detector`) of a validated model config."""
    cfg = model_cfg.get(section)
    if cfg is None:
        return None
    registry, shared = model_family(model_cfg).net_sections[section]
    common = common_params(model_cfg)
    try:
        return registry.build(cfg, **{k: common[k] for k in shared})
    except ConfigError as e:
        raise e.with_prefix("model." + section) from None


def build_nets(model_cfg, sections=None):
    """Build the requested nets (default: every net of the family); returns {section: net or None}."""
    check_model_config(model_cfg)
    if sections is None:
        sections = tuple(model_family(model_cfg).net_sections)
    return {section: build_net(model_cfg, section) for section in sections}


def build_inference_nets(model_cfg, with_optional=()):
    """The nets animation needs (the family's `inference_sections`), plus those of `with_optional` the
    config has; returns {section: net}."""
    family = model_family(model_cfg)
    sections = list(family.inference_sections) + [s for s in with_optional if model_cfg.get(s) is not None]
    return build_nets(model_cfg, sections)


def build_model(config, stage=DEFAULT_STAGE, **kwargs):
    """Build the training model of `stage` (default: the family's main training, `train`) of the family named by
    `model.name` (default FirstOrderModel) from a validated config."""
    family = model_family(config["model"])
    stages = family.training_stages()
    if stage not in stages:
        raise ConfigError("%s has no training stage '%s'; its stage%s: %s" % (
            family.__name__, stage, "s" if len(stages) > 1 else "", ", ".join(stages)))
    return stages[stage](config, **kwargs)
