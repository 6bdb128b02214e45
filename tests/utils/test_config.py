import glob
import os

import pytest
import yaml

from conftest import REPO, parity_path
from ppgan.utils.config import apply_override, load_config
from ppgan.utils.errors import ConfigError

CONFIGS = sorted(glob.glob(os.path.join(REPO, "configs", "*.yaml")))


def test_all_released_configs_are_shipped():
    names = {os.path.basename(c) for c in CONFIGS}
    for d in ["vox", "vox_adv", "taichi", "taichi_adv", "mgif", "bair", "fashion", "nemo"]:
        assert "firstorder_%s_256.yaml" % d in names


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_shipped_configs_validate(path):
    cfg = load_config(path)
    assert cfg["model"]["kp_detector"]["name"] == "KPDetector"
    assert cfg["model"]["common"]["align_corners"] is True


def test_variants_differ_where_the_original_does():
    vox = load_config(os.path.join(REPO, "configs", "firstorder_vox_256.yaml"))["model"]
    adv = load_config(os.path.join(REPO, "configs", "firstorder_vox_adv_256.yaml"))["model"]
    mgif = load_config(os.path.join(REPO, "configs", "firstorder_mgif_256.yaml"))["model"]
    assert adv["discriminator"]["use_kp"] and not adv["discriminator"]["sn"]
    assert mgif["kp_detector"]["single_jacobian_map"]
    assert adv["generator"] == vox["generator"] == mgif["generator"]


def test_original_format_is_translated():
    cfg = load_config(parity_path("vox", "config.yaml"))
    kp = cfg["model"]["kp_detector"]
    assert kp["backbone"] == {"name": "Hourglass", "block_expansion": 8, "max_features": 64, "num_blocks": 5}
    assert cfg["model"]["generator"]["dense_motion"]["backbone"]["max_features"] == 64
    assert cfg["train"]["loss_weights"]["equivariance_value"] == 10


def test_unknown_key_in_original_config_names_its_path(tmp_path):
    raw = yaml.safe_load(open(parity_path("vox", "config.yaml")))
    raw["model_params"]["kp_detector_params"]["temprature"] = 0.1
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert "model_params.kp_detector_params.temprature" in str(err.value)
    assert "temperature" in str(err.value)  # did-you-mean


@pytest.mark.parametrize("override,path", [
    ("model.kp_detector.temprature=0.2", "model.kp_detector.temprature"),
    ("model.generator.dense_motion.backbone.blocks=3", "model.generator.dense_motion.backbone.blocks"),
    ("train.loss_weights.perceptal=[1]", "train.loss_weights.perceptal"),
    ("trian.batch_size=2", "trian"),
    ("model.common.num_kps=3", "model.common.num_kps"),
])
def test_unknown_keys_are_errors_with_their_path(override, path):
    with pytest.raises(ConfigError) as err:
        load_config(os.path.join(REPO, "configs", "firstorder_vox_256.yaml"), [override])
    assert err.value.key_path == path


def test_overrides_parse_yaml_values():
    cfg = load_config(os.path.join(REPO, "configs", "firstorder_vox_256.yaml"),
                      ["model.kp_detector.temperature=0.2", "train.scales=[1, 0.5]", "dataset.root_dir=/x y",
                       "train.epoch_milestones.0=10"])
    assert cfg["model"]["kp_detector"]["temperature"] == 0.2
    assert cfg["train"]["scales"] == [1, 0.5]
    assert cfg["dataset"]["root_dir"] == "/x y"
    assert cfg["train"]["epoch_milestones"] == [10, 90]


def test_bad_override_forms():
    with pytest.raises(ConfigError):
        apply_override({"a": 1}, "a.b=2")  # a is not a mapping
    with pytest.raises(ConfigError):
        apply_override({}, "novalue")


def test_unknown_registered_name():
    with pytest.raises(ConfigError) as err:
        load_config(os.path.join(REPO, "configs", "firstorder_vox_256.yaml"), ["model.kp_detector.name=KPDetecter"])
    assert "KPDetector" in str(err.value) and err.value.key_path == "model.kp_detector.name"


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "nope.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(bad))


def test_base_inheritance_and_loops(tmp_path):
    (tmp_path / "a.yaml").write_text("_base_: b.yaml\n")
    (tmp_path / "b.yaml").write_text("_base_: a.yaml\n")
    with pytest.raises(ConfigError, match="loop"):
        load_config(str(tmp_path / "a.yaml"))


def test_override_numbers_in_exponent_form():
    from ppgan.utils.config import apply_override
    cfg = {"train": {}}
    apply_override(cfg, "train.lr_generator=3e-3")
    apply_override(cfg, "train.name=abc")
    assert cfg["train"]["lr_generator"] == 0.003 and cfg["train"]["name"] == "abc"


def test_original_format_accepts_native_section_overrides(tmp_path):
    from ppgan.utils.config import load_config
    path = tmp_path / "orig.yaml"
    path.write_text("model_params:\n  common_params: {num_kp: 4}\n  kp_detector_params: {}\n"
                    "  generator_params: {}\ndataset_params: {root_dir: a}\ntrain_params: {lr_generator: 1e-4}\n")
    cfg = load_config(str(path), ["dataset.root_dir=b", "train_params.num_epochs=3"])
    assert cfg["dataset"]["root_dir"] == "b" and cfg["train"]["num_epochs"] == 3
    assert cfg["train"]["lr_generator"] == 1e-4   # 1e-4 in a file is a number, not a string


@pytest.mark.parametrize("model", ["vox", "mgif", "zero-order", "multiscale-pad"])
def test_native_model_section_translates_back_to_the_original(model):
    """to_original_model_params inverts the original -> native translation (align_corners is ours only)."""
    from ppgan.utils.config import to_original_model_params

    with open(parity_path(model, "config.yaml")) as f:
        original = yaml.safe_load(f)["model_params"]
    assert to_original_model_params(load_config(parity_path(model, "config.yaml"))["model"]) == original
