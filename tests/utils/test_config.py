import glob
import os

import pytest
import yaml

from conftest import REPO, parity_path, tpsmm_parity_path
from ppgan.utils.config import apply_override, load_config
from ppgan.utils.errors import ConfigError

CONFIGS = sorted(glob.glob(os.path.join(REPO, "configs", "firstorder_*.yaml")))
TPSMM_CONFIGS = sorted(glob.glob(os.path.join(REPO, "configs", "tpsmm_*.yaml")))


def test_all_released_configs_are_shipped():
    names = {os.path.basename(c) for c in CONFIGS}
    for d in ["vox", "vox_adv", "taichi", "taichi_adv", "mgif", "bair", "fashion", "nemo"]:
        assert "firstorder_%s_256.yaml" % d in names


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_shipped_configs_validate(path):
    cfg = load_config(path)
    assert cfg["model"]["kp_detector"]["name"] == ("MobileKPDetector" if "mobile" in path else "KPDetector")
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


def test_every_config_is_of_a_known_family():
    assert sorted(glob.glob(os.path.join(REPO, "configs", "*.yaml"))) == sorted(CONFIGS + TPSMM_CONFIGS)
    names = {os.path.basename(c) for c in TPSMM_CONFIGS}
    assert {"tpsmm_vox_256.yaml", "tpsmm_taichi_256.yaml", "tpsmm_ted_384.yaml", "tpsmm_mgif_256.yaml"} <= names


@pytest.mark.parametrize("path", TPSMM_CONFIGS, ids=os.path.basename)
def test_shipped_tpsmm_configs_validate(path):
    cfg = load_config(path)
    assert cfg["model"]["name"] == "TPSMMModel" and cfg["model"]["kp_detector"]["name"] == "TPSKPDetector"
    assert cfg["model"]["dense_motion_network"]["backbone"]["norm"] == "instance"


def test_tpsmm_released_configs_differ_where_the_originals_do():
    def load(name):
        return load_config(os.path.join(REPO, "configs", "tpsmm_%s.yaml" % name))
    vox, taichi, ted, mgif = (load(n) for n in ("vox_256", "taichi_256", "ted_384", "mgif_256"))
    assert vox["model"] == taichi["model"] == ted["model"]
    assert mgif["model"].get("bg_predictor") is None and vox["model"]["bg_predictor"]["name"] == "BGMotionPredictor"
    assert ted["dataset"]["frame_shape"] == [384, 384, 3] and ted["train"]["batch_size"] == 12
    assert (vox["train"]["dropout_maxp"], taichi["train"]["dropout_maxp"], mgif["train"]["dropout_startp"]) == (0.3, 0.7, 0.2)
    assert (vox["train"]["bg_start"], taichi["train"]["bg_start"]) == (10, 0)
    assert (vox["train_avd"]["num_epochs"], ted["train_avd"]["num_epochs"]) == (200, 30)
    assert vox["model"]["dense_motion_network"]["backbone"]["max_features"] == 1024
    assert vox["model"]["avd_network"] == {"name": "AVDNetwork", "id_bottle_size": 128, "pose_bottle_size": 128}


def test_original_tpsmm_format_is_translated(tmp_path):
    cfg = load_config(tpsmm_parity_path("tpsmm-vox", "config.yaml"))
    model = cfg["model"]
    assert model["name"] == "TPSMMModel" and model["common"] == {"num_tps": 10, "num_channels": 3, "multi_mask": True}
    assert model["dense_motion_network"]["backbone"] == {"name": "Hourglass", "norm": "instance", "block_expansion": 8,
                                                         "max_features": 64, "num_blocks": 4}
    assert model["inpainting_network"]["num_down_blocks"] == 3 and model["bg_predictor"]["name"] == "BGMotionPredictor"
    assert cfg["train"]["num_workers"] == 0 and cfg["train"]["loss_weights"]["warp_loss"] == 10
    raw = yaml.safe_load(open(tpsmm_parity_path("tpsmm-vox", "config.yaml")))
    raw["model_params"]["common_params"]["bg"] = False
    raw["dataset_params"] = {"root_dir": "x", "frame_shape": None}
    raw["train_avd_params"] = {"num_epochs": 3, "dataloader_workers": 1, "lambda_affine": 1}
    path = tmp_path / "mgif-like.yaml"
    path.write_text(yaml.safe_dump(raw))
    cfg = load_config(str(path))
    assert cfg["model"].get("bg_predictor") is None
    assert cfg["dataset"]["frame_shape"] == [256, 256, 3]   # null: videos as stored; the native default
    assert cfg["train_avd"]["num_epochs"] == 3 and cfg["train_avd"]["num_workers"] == 1


def test_tpsmm_config_errors_name_their_path(tmp_path):
    raw = yaml.safe_load(open(tpsmm_parity_path("tpsmm-vox", "config.yaml")))
    raw["model_params"]["dense_motion_params"]["num_block"] = 3
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"model_params\.dense_motion_params\.num_block.*did you mean 'num_blocks'"):
        load_config(str(path))
    native = os.path.join(REPO, "configs", "tpsmm_vox_256.yaml")
    with pytest.raises(ConfigError, match=r"model\.generator.*unknown key"):
        load_config(native, ["model.generator.name=OcclusionAwareGenerator"])
    with pytest.raises(ConfigError, match=r"train\.lr_kp_detector.*unknown key"):
        load_config(native, ["train.lr_kp_detector=1e-4"])
    with pytest.raises(ConfigError, match=r"model\.common\.num_kp.*unknown key"):
        load_config(native, ["model.common.num_kp=10"])
