"""YAML configs: loading, `-o a.b.c=value` overrides, validation, and the adapter of the originals' configs.

Two formats are accepted:

* the native one (``configs/*.yaml``): sections ``model``, ``dataset``, ``train``,
  ``reconstruction``, ``animate``, ``visualizer``; nets are described by a ``name`` picked from a
  registry plus that class's arguments;
* the original repository's files (``model_params``, ``dataset_params``, ``train_params``, ...),
  unchanged; they are translated to the native layout by :func:`from_original`;
* PaddleGAN's FOMM configs (``model.common_params``, ``model.generator.kp_detector_cfg`` / ``generator_cfg``,
  ``mobile_net`` flags), for animation: :func:`from_paddlegan` reads their architecture and frame shape. Their
  training sections follow PaddleGAN's trainer, which this project does not imitate key by key: training with
  one is an error naming the native config to use.

Every key must be read by something: an unknown key is a :class:`ConfigError` naming its path.
"""
import copy
import difflib
import os
import re

import yaml

from .errors import ConfigError

# Sections other than `model`, with their keys and defaults (the original's training options).
# A value that is a dict is a nested section; anything else is the default of a leaf key.
SECTIONS = {
    "dataset": {
        "name": "FramesDataset",
        "root_dir": None,
        "frame_shape": [256, 256, 3],
        "id_sampling": False,
        "pairs_list": None,
        "random_seed": 0,
        "test_size": 0.2,
        "region_dir": None,
        "landmark_dir": None,
        "augmentation_params": {
            "flip_param": {"horizontal_flip": False, "time_flip": False},
            "jitter_param": {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.0},
            "crop_param": {"size": None},
            "resize_param": {"ratio": None},
            "rotation_param": {"degrees": None},
        },
    },
    "train": {
        "num_epochs": 100,
        "num_repeats": 1,
        "epoch_milestones": [],
        "lr_generator": 2.0e-4,
        "lr_discriminator": 2.0e-4,
        "lr_kp_detector": 2.0e-4,
        "batch_size": 1,
        "scales": [1, 0.5, 0.25, 0.125],
        "checkpoint_freq": 1,
        "num_workers": 2,
        "log_freq": 50,
        "vgg19_weights": None,
        "transform_params": {"sigma_affine": 0.05, "sigma_tps": 0.005, "points_tps": 5},
        "landmark_keypoints": None,
        "loss_weights": {
            "generator_gan": 0,
            "discriminator_gan": 1,
            "feature_matching": [0, 0, 0, 0],
            "perceptual": [10, 10, 10, 10, 10],
            "pixel": 0,
            "gradient": 0,
            "region": 0,
            "landmark": 0,
            "equivariance_value": 10,
            "equivariance_jacobian": 10,
        },
    },
    "reconstruction": {"num_videos": None, "format": ".mp4", "metrics": [], "kind": "face", "detectors": None},
    "animate": {
        "num_pairs": 50,
        "format": ".mp4",
        "normalization_params": {
            "adapt_movement_scale": False,
            "use_relative_movement": True,
            "use_relative_jacobian": True,
        },
    },
    "visualizer": {"kp_size": 5, "draw_border": True, "colormap": "gist_rainbow"},
}

ORIGINAL_SECTIONS = {  # and TPSMM's train_avd_params: train_avd
    "dataset_params": "dataset",
    "train_params": "train",
    "reconstruction_params": "reconstruction",
    "animate_params": "animate",
    "visualizer_params": "visualizer",
}

# Native key path prefix -> the same place in an original-format file (for error messages).
_ORIGINAL_PATHS = [
    ("model.kp_detector.backbone", "model_params.kp_detector_params"),
    ("model.generator.dense_motion.backbone", "model_params.generator_params.dense_motion_params"),
    ("model.generator.dense_motion", "model_params.generator_params.dense_motion_params"),
    ("model.kp_detector", "model_params.kp_detector_params"),
    ("model.generator", "model_params.generator_params"),
    ("model.discriminator", "model_params.discriminator_params"),
    ("model.dense_motion_network.backbone", "model_params.dense_motion_params"),
    ("model.dense_motion_network", "model_params.dense_motion_params"),
    ("model.inpainting_network", "model_params.generator_params"),
    ("model.avd_network", "model_params.avd_network_params"),
    ("train_avd", "train_avd_params"),
    ("model.common", "model_params.common_params"),
    ("model", "model_params"),
] + [(v, k) for k, v in ORIGINAL_SECTIONS.items()]

_HOURGLASS_KEYS = ("block_expansion", "max_features", "num_blocks")


def is_original_format(raw):
    """True for a config written for the original PyTorch repository."""
    return isinstance(raw, dict) and "model_params" in raw


def _split_backbone(params, path, **backbone):
    """An original net section split into its own keys and its hourglass's (`backbone`); a key that looks
    like a misspelt hourglass key is an error naming it (the net's own error would not list those)."""
    params = dict(params)
    backbone = dict({"name": "Hourglass"}, **backbone)
    for key in list(params):
        if key in _HOURGLASS_KEYS:
            backbone[key] = params.pop(key)
        else:
            hint = difflib.get_close_matches(str(key), _HOURGLASS_KEYS, n=1, cutoff=0.8)
            if hint:
                raise ConfigError("unknown key (did you mean '%s'?)" % hint[0], "%s.%s" % (path, key))
    params["backbone"] = backbone
    return params


def is_original_tpsmm(model_params):
    """True for the `model_params` of a Thin-Plate Spline Motion Model config (yoyo-nb's repository)."""
    common = model_params.get("common_params") or {}
    return "num_tps" in common or "dense_motion_params" in model_params or "avd_network_params" in model_params


def _fomm_model(mp):
    unknown = set(mp) - {"common_params", "kp_detector_params", "generator_params", "discriminator_params"}
    if unknown:
        raise ConfigError("unknown key; accepted: common_params, kp_detector_params, "
                          "generator_params, discriminator_params", "model_params." + sorted(unknown)[0])
    model = {"common": dict(mp.get("common_params") or {})}
    model["kp_detector"] = dict(name="KPDetector", **_split_backbone(mp.get("kp_detector_params") or {},
                                                                     "model_params.kp_detector_params"))
    gen = dict(mp.get("generator_params") or {})
    dm = gen.pop("dense_motion_params", None)
    gen_native = dict(name="OcclusionAwareGenerator", **gen)
    gen_native["dense_motion"] = (None if dm is None
                                  else dict(name="DenseMotionNetwork", **_split_backbone(
                                      dm, "model_params.generator_params.dense_motion_params")))
    model["generator"] = gen_native
    if "discriminator_params" in mp:
        model["discriminator"] = dict(name="MultiScaleDiscriminator", **(mp["discriminator_params"] or {}))
    return model


_TPSMM_COMMON = ("num_tps", "num_channels", "multi_mask")


def _tpsmm_model(mp):
    """The native model section of an original TPSMM config. The original builds the background predictor
    when `bg` is true and always an AVD network: here those are the `bg_predictor` / `avd_network` sections."""
    unknown = set(mp) - {"common_params", "generator_params", "dense_motion_params", "avd_network_params"}
    if unknown:
        raise ConfigError("unknown key; accepted: common_params, generator_params, dense_motion_params, "
                          "avd_network_params", "model_params." + sorted(unknown)[0])
    common = dict(mp.get("common_params") or {})
    bg = common.pop("bg", False)
    for key in common:
        if key not in _TPSMM_COMMON:
            raise ConfigError("unknown key; accepted: bg, " + ", ".join(_TPSMM_COMMON), "common_params." + key)
    dense = _split_backbone(mp.get("dense_motion_params") or {}, "model_params.dense_motion_params", norm="instance")
    model = {"name": "TPSMMModel", "common": common,
             "kp_detector": {"name": "TPSKPDetector", "backbone": {"name": "ResNet18"}},
             "dense_motion_network": dict(name="TPSDenseMotionNetwork", **dense),
             "inpainting_network": dict(name="InpaintingNetwork", **(mp.get("generator_params") or {})),
             "avd_network": dict(name="AVDNetwork", **(mp.get("avd_network_params") or {}))}
    if bg:
        model["bg_predictor"] = {"name": "BGMotionPredictor", "backbone": {"name": "ResNet18"}}
    return model


def _tpsmm_sections(raw):
    """An original TPSMM config's other sections in the native layout: `dataloader_workers` is `num_workers`;
    `frame_shape: null` (videos read as stored) takes the native default; mgif's `lambda_affine`, which the
    original's AVD training never reads, is dropped with a warning."""
    out = {}
    for old, new in list(ORIGINAL_SECTIONS.items()) + [("train_avd_params", "train_avd")]:
        if old not in raw:
            continue
        section = dict(raw.pop(old) or {})
        if "dataloader_workers" in section:
            section["num_workers"] = section.pop("dataloader_workers")
        if new == "dataset" and section.get("frame_shape", 0) is None:
            section.pop("frame_shape")
        if new == "train_avd" and "lambda_affine" in section:
            section.pop("lambda_affine")
            from .logger import get_logger
            get_logger("ppgan.config").warning("train_avd_params.lambda_affine is ignored: the original's AVD "
                                               "training does not read it either")
        out[new] = section
    return out


def from_original(raw):
    """Translate an original-format config dict (FOMM's or TPSMM's) into the native layout (no validation)."""
    raw = copy.deepcopy(raw)
    mp = raw.pop("model_params")
    if not isinstance(mp, dict):
        raise ConfigError("must be a mapping", "model_params")
    if is_original_tpsmm(mp):
        out = {"model": _tpsmm_model(mp)}
        out.update(_tpsmm_sections(raw))
        accepted = list(ORIGINAL_SECTIONS) + ["train_avd_params"]
    else:
        out = {"model": _fomm_model(mp)}
        for old, new in ORIGINAL_SECTIONS.items():
            if old in raw:
                out[new] = raw.pop(old)
        accepted = list(ORIGINAL_SECTIONS)
    for key in raw:
        raise ConfigError("unknown top-level key in an original-format config; accepted: model_params, "
                          + ", ".join(accepted), key)
    return out


# PaddleGAN's FOMM config: the keys of its two net sections, and the native classes of each variant
_PADDLEGAN_KP = ("temperature", "block_expansion", "max_features", "scale_factor", "num_blocks", "mobile_net",
                 "single_jacobian_map", "pad")
_PADDLEGAN_GEN = ("block_expansion", "max_features", "num_down_blocks", "num_bottleneck_blocks",
                  "estimate_occlusion_map", "dense_motion_params", "mobile_net")
_PADDLEGAN_DENSE = ("block_expansion", "max_features", "num_blocks", "scale_factor")
_PADDLEGAN_CLASSES = {False: ("KPDetector", "Hourglass", "OcclusionAwareGenerator", "DenseMotionNetwork"),
                      True: ("MobileKPDetector", "MobileHourglass", "MobileOcclusionAwareGenerator",
                             "MobileDenseMotionNetwork")}


def is_paddlegan_format(raw):
    """True for a PaddleGAN First Order Motion Model config (or the dict its FirstOrderPredictor takes)."""
    model = raw.get("model") if isinstance(raw, dict) else None
    generator = model.get("generator") if isinstance(model, dict) else None
    return isinstance(generator, dict) and ("kp_detector_cfg" in generator or "generator_cfg" in generator)


def _paddlegan_section(section, keys, path):
    section = dict(section or {})
    for key in section:
        if key not in keys:
            raise ConfigError("unknown key in a PaddleGAN config; accepted: %s%s"
                              % (", ".join(keys), _hint(key, keys)), "%s.%s" % (path, key))
    return section


def _hint(key, choices):
    close = difflib.get_close_matches(str(key), list(choices), n=1)
    return " (did you mean '%s'?)" % close[0] if close else ""


def from_paddlegan(raw):
    """The native config (model and frame shape) of a PaddleGAN FOMM config: `model.common_params`,
    `model.generator.kp_detector_cfg` and `generator_cfg` (with `dense_motion_params`), `mobile_net` picking the
    mobile classes per net, and `dataset.train.frame_shape` when given. PaddleGAN builds its predictor's generator
    with `inference=True`; that is the predictor's `border_correction`, not a config key."""
    model = raw["model"]
    generator = model["generator"]
    kp = _paddlegan_section(generator.get("kp_detector_cfg"), _PADDLEGAN_KP, "model.generator.kp_detector_cfg")
    gen = _paddlegan_section(generator.get("generator_cfg"), _PADDLEGAN_GEN, "model.generator.generator_cfg")
    dense = gen.pop("dense_motion_params", None)
    dense = None if dense is None else _paddlegan_section(dense, _PADDLEGAN_DENSE,
                                                          "model.generator.generator_cfg.dense_motion_params")
    kp_detector, kp_backbone = _PADDLEGAN_CLASSES[bool(kp.pop("mobile_net", False))][:2]
    gen_mobile = bool(gen.pop("mobile_net", False))
    _, gen_backbone, gen_class, dense_class = _PADDLEGAN_CLASSES[gen_mobile]
    native = {"common": dict(model.get("common_params") or {}),
              "kp_detector": dict(name=kp_detector, **_split_backbone(kp, "model.generator.kp_detector_cfg",
                                                                       name=kp_backbone)),
              "generator": dict(name=gen_class, **gen)}
    native["generator"]["dense_motion"] = None if dense is None else dict(
        name=dense_class, **_split_backbone(dense, "model.generator.generator_cfg.dense_motion_params",
                                           name=gen_backbone))
    out = {"model": native}
    train = (raw.get("dataset") or {}).get("train") if isinstance(raw.get("dataset"), dict) else None
    if isinstance(train, dict) and "frame_shape" in train:
        out["dataset"] = {"frame_shape": list(train["frame_shape"])}
    return out


def to_original_model_params(model):
    """The original repository's ``model_params`` for a native ``model`` section (inverse of from_original).

    Keys the original does not have (``align_corners``, the registry ``name``s) are left out.
    """
    def flat(section):
        out = {k: v for k, v in section.items() if k not in ("name", "backbone", "dense_motion")}
        out.update({k: v for k, v in (section.get("backbone") or {}).items() if k != "name"})
        return out

    common = {k: v for k, v in model["common"].items() if k != "align_corners"}
    generator = flat(model["generator"])
    if model["generator"].get("dense_motion") is not None:
        generator["dense_motion_params"] = flat(model["generator"]["dense_motion"])
    params = {"common_params": common, "kp_detector_params": flat(model["kp_detector"]),
              "generator_params": generator}
    if model.get("discriminator") is not None:
        params["discriminator_params"] = flat(model["discriminator"])
    return params


def original_key_path(native_path):
    """Map a native key path to where the same key sits in an original-format file."""
    for new, old in _ORIGINAL_PATHS:
        if native_path == new or native_path.startswith(new + "."):
            return old + native_path[len(new):]
    return native_path


class _Loader(yaml.SafeLoader):
    """Safe YAML that also reads 1e-4 (no dot) as a number: YAML 1.1 would make it a string."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                   |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                   |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                   |[-+]?\.(?:inf|Inf|INF)
                   |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def _load_yaml(stream):
    return yaml.load(stream, Loader=_Loader)


def _parse_value(text):
    try:
        return _load_yaml(text)
    except yaml.YAMLError:
        return text


def apply_override(cfg, option):
    """Apply one `a.b.c=value` override in place; the value is parsed as YAML."""
    if "=" not in option:
        raise ConfigError("override '%s' must look like key.path=value" % option)
    path, text = option.split("=", 1)
    keys = [k for k in path.strip().split(".")]
    if not all(keys):
        raise ConfigError("override '%s' has an empty key" % option)
    node = cfg
    for i, key in enumerate(keys[:-1]):
        nxt = _child(node, key, ".".join(keys[:i + 1]), create=True)
        node = nxt
    last = keys[-1]
    if not isinstance(node, (dict, list)):
        raise ConfigError("cannot set a sub-key: the value here is %r, not a mapping" % (node,),
                          ".".join(keys[:-1]))
    if isinstance(node, list):
        idx = _list_index(node, last, path)
        node[idx] = _parse_value(text)
    else:
        node[last] = _parse_value(text)
    return cfg


def _list_index(node, key, path):
    try:
        idx = int(key)
        node[idx]
    except (ValueError, IndexError):
        raise ConfigError("'%s' is not a valid index of a list of %d items" % (key, len(node)), path)
    return idx


def _child(node, key, path, create):
    if isinstance(node, list):
        return node[_list_index(node, key, path)]
    if not isinstance(node, dict):
        raise ConfigError("cannot set a sub-key: the value here is %r, not a mapping" % (node,), path)
    if key not in node or node[key] is None:
        if not create:
            raise ConfigError("missing", path)
        node[key] = {}
    return node[key]


def _merge_section(spec, given, path):
    """Return `spec`'s defaults updated with `given`; unknown keys raise ConfigError."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise ConfigError("must be a mapping, got %r" % (given,), ".".join(path))
    out = {}
    for key, value in given.items():
        if key not in spec:
            hint = difflib.get_close_matches(str(key), spec, n=1)
            msg = "unknown key; accepted keys: %s" % ", ".join(spec)
            if hint:
                msg += " (did you mean '%s'?)" % hint[0]
            raise ConfigError(msg, ".".join(path + (str(key),)))
    for key, default in spec.items():
        sub = path + (key,)
        if isinstance(default, dict):
            out[key] = _merge_section(default, given.get(key), sub)
        else:
            out[key] = copy.deepcopy(given.get(key, default))
    return out


def validate(cfg):
    """Check a native config and fill the defaults of its non-model sections; returns a new dict.

    The sections are SECTIONS, with those the model family replaces or adds (its `config_sections`,
    e.g. the thin-plate spline model's own `train` and `train_avd`), checked by the family's `check_config`
    if it has one.
    """
    if not isinstance(cfg, dict):
        raise ConfigError("a config file must hold a mapping at the top level")
    if "model" not in cfg or not isinstance(cfg["model"], dict):
        raise ConfigError("missing the 'model' section (or it is not a mapping)", "model")
    from ppgan.models.builder import check_model_config, model_family  # registries are filled by ppgan.models
    sections = dict(SECTIONS, **model_family(cfg["model"]).config_sections)
    unknown = [k for k in cfg if k != "model" and k not in sections]
    if unknown:
        hint = difflib.get_close_matches(unknown[0], ["model"] + list(sections), n=1)
        msg = "unknown top-level key; accepted: model, %s" % ", ".join(sections)
        if hint:
            msg += " (did you mean '%s'?)" % hint[0]
        raise ConfigError(msg, unknown[0])
    out = {"model": copy.deepcopy(cfg["model"])}
    for name, spec in sections.items():
        out[name] = _merge_section(spec, cfg.get(name), (name,))
    check_model_config(out["model"])
    check_sections = getattr(model_family(cfg["model"]), "check_config", None)
    if check_sections is not None:
        check_sections(out)
    return out


def read_yaml(path):
    """Read a YAML file into a dict with clear errors for missing or malformed files."""
    if not os.path.isfile(path):
        raise ConfigError("config file '%s' does not exist; pass a path such as configs/firstorder_vox_256.yaml"
                          % path)
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = _load_yaml(f)
    except yaml.YAMLError as e:
        raise ConfigError("config file '%s' is not valid YAML: %s" % (path, e)) from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError("cannot read config file '%s': %s" % (path, e)) from e
    if not isinstance(data, dict):
        raise ConfigError("config file '%s' must hold a mapping at the top level" % path)
    return data


def deep_merge(base, update):
    """Return `base` updated recursively by `update` (mappings merge, everything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_config_file(path, _seen=()):
    """Read a config file, resolving `_base_: other.yaml` (relative to the file) by deep merging."""
    data = read_yaml(path)
    base = data.pop("_base_", None)
    if base is None:
        return data
    base_path = os.path.join(os.path.dirname(os.path.abspath(path)), base)
    if os.path.abspath(base_path) in _seen:
        raise ConfigError("'_base_' files include each other in a loop", "_base_")
    return deep_merge(read_config_file(base_path, _seen + (os.path.abspath(path),)), data)


def _original_option(option):
    """An override written with native section names (dataset.root_dir=...) for an original-format file."""
    for old, new in ORIGINAL_SECTIONS.items():
        if option.startswith(new + "."):
            return old + option[len(new):]
    return option


def load_config(path_or_dict, overrides=()):
    """Load a native or original-format config (path or dict), apply overrides, validate it."""
    if isinstance(path_or_dict, (str, os.PathLike)):
        raw = read_config_file(os.fspath(path_or_dict))
    else:
        raw = copy.deepcopy(path_or_dict)
    if is_paddlegan_format(raw):
        if overrides:
            raise ConfigError("-o overrides apply to the project's configs, not to a PaddleGAN config: copy its "
                              "architecture into configs/firstorder_*.yaml")
        return validate(from_paddlegan(raw))
    original = is_original_format(raw)
    for option in overrides or ():
        apply_override(raw, _original_option(option) if original else option)
    try:
        return validate(from_original(raw) if original else raw)
    except ConfigError as e:
        if original and e.key_path:
            raise ConfigError(e.detail, original_key_path(e.key_path)) from None
        raise

