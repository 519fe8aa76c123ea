"""TrainConfig loading and the learning-rate schedule."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from ivr.errors import ConfigError
from ivr.model.dims import tiny_8k
from ivr.model.phoneme_intent import READERS
from training.config import TEXT_READERS, TrainConfig, load_config, lr_at
from training.pretrain import stage1_dims


def test_lr_warms_up_then_decays_to_min():
    cfg = TrainConfig(lr=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=110)
    assert lr_at(0, cfg) == pytest.approx(1e-4)
    assert lr_at(9, cfg) == pytest.approx(1e-3)
    assert lr_at(60, cfg) == pytest.approx(5.5e-4)
    assert lr_at(110, cfg) == pytest.approx(1e-4)
    assert lr_at(500, cfg) == pytest.approx(1e-4)
    lrs = [lr_at(s, cfg) for s in range(10, 111)]
    assert all(a >= b for a, b in itertools.pairwise(lrs))


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("max_steps: 50\ntrain_splits: [unlabeled, train]\nlr: 1\nchannel: false\n")
    cfg = load_config(
        path, ["--max_steps=7", "batch-size=3", "--train_splits=a,b", "labels_per_intent=5", "min_lr=1e-3"]
    )
    assert (cfg.max_steps, cfg.batch_size, cfg.lr, cfg.min_lr, cfg.channel) == (7, 3, 1.0, 1e-3, False)
    assert cfg.train_splits == ("a", "b") and cfg.labels_per_intent == 5
    assert load_config(None, ["--init="]).init == ""


def test_all_problems_reported_with_where_they_came_from(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("max_stepz: 5\nbatch_size: many\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, ["--channel=maybe"])
    msg = str(err.value)
    assert f"{path}: unknown option 'max_stepz'" in msg
    assert f"{path}: batch_size must be a number" in msg
    assert "command line: channel must be true or false" in msg


def test_inconsistent_values_are_rejected():
    with pytest.raises(ConfigError, match="min_lr"):
        TrainConfig(lr=1e-4, min_lr=1e-3)
    with pytest.raises(ConfigError, match="must look like --key=value"):
        load_config(None, ["--max_steps"])


def test_precision_is_checked():
    with pytest.raises(ConfigError, match="precision"):
        TrainConfig(precision="fp8")


def test_the_text_readers_a_config_accepts_are_the_ones_the_head_has():
    assert TEXT_READERS == READERS
    with pytest.raises(ConfigError, match="text_reader"):
        TrainConfig(text_reader="lstm")


def test_text_pronunciation_is_checked():
    assert TrainConfig(text_pronunciation="spoken").text_pronunciation == "spoken"
    with pytest.raises(ConfigError, match="text_pronunciation"):
        TrainConfig(text_pronunciation="ipa")


def test_lm_settings_parse_as_numbers_and_are_checked(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("lm_order: 5\nlm_weights: [0.2, 1]\n")
    cfg = load_config(path, ["--lm_length_bonuses=1.5,3"])
    assert (cfg.lm_order, cfg.lm_weights, cfg.lm_length_bonuses) == (5, (0.2, 1.0), (1.5, 3.0))
    with pytest.raises(ConfigError, match="lm_weights must be a list of numbers"):
        load_config(None, ["--lm_weights=[high]"])
    with pytest.raises(ConfigError, match="needs at least one lm_weight"):
        load_config(None, ["--lm_order=4", "--lm_weights=[]"])


def test_stage1_masking_and_codebook_override_the_preset_only_where_set():
    preset = tiny_8k()
    assert stage1_dims(TrainConfig()) == preset
    dims = stage1_dims(load_config(None, ["--mask_prob=0.3", "--mask_length=5", "--codebook_size=32"]))
    assert (dims.mask_prob, dims.mask_length, dims.codebook_size) == (0.3, 5, 32)
    kept = {
        "mask_prob": preset.mask_prob,
        "mask_length": preset.mask_length,
        "codebook_size": preset.codebook_size,
    }
    assert dataclasses.replace(dims, **kept) == preset
    with pytest.raises(ConfigError, match="mask_prob"):
        TrainConfig(mask_prob=1.5)
    with pytest.raises(ConfigError, match="codebook_size"):
        TrainConfig(codebook_size=-1)


def test_stage1_attention_is_checked_and_leaves_the_exported_dims_alone():
    assert load_config(None, ["--pretrain_attention=full"]).pretrain_attention == "full"
    assert stage1_dims(load_config(None, ["--pretrain_attention=full"])) == tiny_8k()
    with pytest.raises(ConfigError, match="pretrain_attention"):
        load_config(None, ["--pretrain_attention=bidirectional"])


def test_stage2_masking_is_off_by_default_and_checked():
    assert TrainConfig().finetune_mask_prob == 0.0
    assert load_config(None, ["--finetune_mask_prob=0.3"]).finetune_mask_prob == 0.3
    with pytest.raises(ConfigError, match="finetune_mask_prob"):
        TrainConfig(finetune_mask_prob=1.5)
    with pytest.raises(ConfigError, match="finetune_mask_length"):
        TrainConfig(finetune_mask_length=0)
