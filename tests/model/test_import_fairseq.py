"""fairseq import without fairseq: a random transformers model renamed to fairseq's key layout.

The renaming below follows fairseq's module names (wav2vec2.py), written independently of the
importer's own table, so the round trip checks the table rather than repeating it.
"""

import argparse
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from ivr.errors import CheckpointError
from ivr.model.importers import import_fairseq
from ivr.model.importers.literal import parse_conv_layers
from tests.model.test_import_huggingface import (
    TOL,
    build_hf,
    hf_outputs,
    max_diff,
    our_layer_outputs,
    random_wave,
)

transformers = pytest.importorskip("transformers")

# transformers name -> fairseq name, applied in order to the keys of a Wav2Vec2ForPreTraining
_RENAMES = [
    (r"^wav2vec2\.masked_spec_embed$", "mask_emb"),
    (r"^wav2vec2\.feature_projection\.layer_norm\.", "layer_norm."),
    (r"^wav2vec2\.feature_projection\.projection\.", "post_extract_proj."),
    (r"^wav2vec2\.feature_extractor\.conv_layers\.(\d+)\.conv\.", r"feature_extractor.conv_layers.\1.0."),
    (
        r"^wav2vec2\.encoder\.pos_conv_embed\.conv\.parametrizations\.weight\.original0$",
        "encoder.pos_conv.0.weight_g",
    ),
    (
        r"^wav2vec2\.encoder\.pos_conv_embed\.conv\.parametrizations\.weight\.original1$",
        "encoder.pos_conv.0.weight_v",
    ),
    (r"^wav2vec2\.encoder\.pos_conv_embed\.conv\.bias$", "encoder.pos_conv.0.bias"),
    (r"^wav2vec2\.encoder\.layers\.(\d+)\.attention\.", r"encoder.layers.\1.self_attn."),
    (r"^wav2vec2\.encoder\.layers\.(\d+)\.layer_norm\.", r"encoder.layers.\1.self_attn_layer_norm."),
    (r"^wav2vec2\.encoder\.layers\.(\d+)\.feed_forward\.intermediate_dense\.", r"encoder.layers.\1.fc1."),
    (r"^wav2vec2\.encoder\.layers\.(\d+)\.feed_forward\.output_dense\.", r"encoder.layers.\1.fc2."),
    (r"^wav2vec2\.encoder\.", "encoder."),
    (r"^quantizer\.codevectors$", "quantizer.vars"),
    (r"^project_hid\.", "final_proj."),
]


def fairseq_state_dict(hf, variant: str) -> dict[str, torch.Tensor]:
    state = {}
    for key, tensor in hf.state_dict().items():
        # the conv-layer norm: Sequential(conv, dropout, GroupNorm, GELU) or, for layer_norm mode,
        # Sequential(conv, dropout, Sequential(TransposeLast, LayerNorm, TransposeLast), GELU)
        norm = "2.1." if variant == "layer" else "2."
        key = re.sub(
            r"^wav2vec2\.feature_extractor\.conv_layers\.(\d+)\.layer_norm\.",
            rf"feature_extractor.conv_layers.\1.{norm}",
            key,
        )
        for pattern, replacement in _RENAMES:
            key = re.sub(pattern, replacement, key)
        state[key] = tensor.clone()
    assert not any(k.startswith("wav2vec2.") for k in state), sorted(state)
    return state


def model_options(variant: str) -> dict:
    """fairseq Wav2Vec2Config fields matching tests.model.test_import_huggingface.hf_config."""
    return {
        "_name": "wav2vec2",
        "extractor_mode": "default" if variant == "group" else "layer_norm",
        "layer_norm_first": variant == "layer",
        "conv_bias": variant == "layer",
        "conv_feature_layers": "[(24, 10, 5)] + [(24, 3, 2)] * 2",
        "encoder_layers": 3,
        "encoder_embed_dim": 32,
        "encoder_ffn_embed_dim": 64,
        "encoder_attention_heads": 4,
        "activation_fn": "gelu",
        "conv_pos": 16,
        "conv_pos_groups": 4,
        "latent_vars": 8,
        "latent_groups": 2,
        "latent_dim": 16,
        "final_dim": 12,
        "quantize_targets": True,
        "dropout": 0.1,
        "encoder_layerdrop": 0.05,
        "mask_prob": 0.65,
    }


def save_args_checkpoint(path: Path, hf, variant: str, **extra) -> None:
    """Older layout: ``args`` is an argparse Namespace holding model and task options together."""
    args = argparse.Namespace(**model_options(variant), normalize=False, sample_rate=16_000, arch="wav2vec2")
    checkpoint = {
        "args": args,
        "model": fairseq_state_dict(hf, variant),
        "optimizer_history": [{"criterion_name": "Wav2vecCriterion", "num_updates": 400_000}],
        "extra_state": {"epoch": 57, "best": np.float64(2.25), "train_iterator": {"epoch": 57}},
        **extra,
    }
    torch.save(checkpoint, path)


def save_cfg_checkpoint(path: Path, hf, variant: str) -> None:
    """Newer layout: ``cfg`` is the omegaconf config saved as plain dicts."""
    cfg = {
        "model": model_options(variant),
        "task": {"_name": "audio_pretraining", "normalize": variant == "layer", "sample_rate": 16_000},
    }
    torch.save({"args": None, "cfg": cfg, "model": fairseq_state_dict(hf, variant)}, path)


def assert_matches_transformers(imported, hf) -> None:
    wave = random_wave(2, 4000, seed=11)
    ours, out = our_layer_outputs(imported.encoder, wave, torch.tensor([4000, 4000]))
    reference = wave
    if imported.dims.normalize_waveform:
        # transformers leaves the normalisation to its feature extractor; ours does it in forward
        extractor = transformers.Wav2Vec2FeatureExtractor(do_normalize=True)
        reference = extractor(list(wave.numpy()), sampling_rate=16_000, return_tensors="pt")["input_values"]
    theirs = hf_outputs(hf, reference)
    for layer, (a, b) in enumerate(zip(ours, theirs.hidden_states[1:], strict=True)):
        assert max_diff(a, b) <= TOL, f"layer {layer}"
    assert max_diff(out.frames, theirs.last_hidden_state) <= TOL


@pytest.mark.parametrize("variant", ["group", "layer"])
def test_namespace_args_checkpoint(tmp_path: Path, variant: str):
    hf = build_hf(variant, seed=20)
    path = tmp_path / "wav2vec_small.pt"
    save_args_checkpoint(path, hf, variant)

    imported = import_fairseq(path)

    dims = imported.dims
    assert dims.conv_layers == ((24, 10, 5), (24, 3, 2), (24, 3, 2))
    assert dims.extractor_mode == {"group": "group_norm", "layer": "layer_norm"}[variant]
    assert (dims.layer_norm_first, dims.conv_bias) == (variant == "layer", variant == "layer")
    assert (dims.codevector_dim, dims.final_dim, dims.layer_drop) == (16, 12, 0.05)
    assert dims.normalize_waveform is False
    assert imported.absent == ()
    assert_matches_transformers(imported, hf)


@pytest.mark.parametrize("variant", ["group", "layer"])
def test_cfg_dict_checkpoint(tmp_path: Path, variant: str):
    hf = build_hf(variant, seed=21)
    path = tmp_path / "xlsr.pt"
    save_cfg_checkpoint(path, hf, variant)

    imported = import_fairseq(path)

    assert imported.dims.normalize_waveform is (variant == "layer")  # from cfg.task.normalize
    assert_matches_transformers(imported, hf)


def test_legacy_serialization_format(tmp_path: Path):
    hf = build_hf("group", seed=22)
    path = tmp_path / "old.pt"
    checkpoint = {
        "args": argparse.Namespace(**model_options("group")),
        "model": fairseq_state_dict(hf, "group"),
    }
    torch.save(checkpoint, path, _use_new_zipfile_serialization=False)
    assert_matches_transformers(import_fairseq(path), hf)


class _Exploit:
    """Pickles as a call to os.system: loading it with plain pickle would run the command."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_forbidden_global_is_refused_and_nothing_runs(tmp_path: Path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    save_args_checkpoint(path, build_hf("group", seed=23), "group", extra_state=_Exploit(marker))

    with pytest.raises(
        CheckpointError, match=r"evil\.pt: refused to unpickle the global '(posix|os)\.system'"
    ):
        import_fairseq(path)
    assert not marker.exists()


class _Meter:
    """A stand-in for a training-library object pickled into a checkpoint."""

    def __init__(self):
        self.total = 1.0


def test_arbitrary_class_is_refused(tmp_path: Path):
    path = tmp_path / "custom.pt"
    torch.save({"args": argparse.Namespace(), "model": {}, "meter": _Meter()}, path)
    with pytest.raises(CheckpointError, match=r"refused to unpickle the global '[\w.]*_Meter'"):
        import_fairseq(path)


@pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:DeprecationWarning")
def test_torchscript_archive_is_refused(tmp_path: Path):
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)
    with pytest.raises(CheckpointError, match="TorchScript"):
        import_fairseq(path)


def test_unmapped_key_is_refused(tmp_path: Path):
    hf = build_hf("group", seed=24)
    path = tmp_path / "glu.pt"
    state = fairseq_state_dict(hf, "group")
    state["target_glu.0.weight"] = torch.zeros(24, 12)
    torch.save({"args": argparse.Namespace(**model_options("group")), "model": state}, path)
    with pytest.raises(CheckpointError, match=r"glu\.pt: .*target_glu\.0\.weight"):
        import_fairseq(path)


def test_missing_file(tmp_path: Path):
    with pytest.raises(CheckpointError, match=r"absent\.pt: no such checkpoint file"):
        import_fairseq(tmp_path / "absent.pt")


def test_truncated_file(tmp_path: Path):
    path = tmp_path / "cut.pt"
    save_args_checkpoint(path, build_hf("group", seed=25), "group")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pt"):
        import_fairseq(path)


def test_config_weight_shape_mismatch(tmp_path: Path):
    hf = build_hf("layer", seed=26)
    path = tmp_path / "mismatch.pt"
    options = model_options("layer") | {"encoder_ffn_embed_dim": 48}
    torch.save({"args": argparse.Namespace(**options), "model": fairseq_state_dict(hf, "layer")}, path)
    with pytest.raises(
        CheckpointError, match=r"mismatch\.pt: tensor shapes .*fc1\.weight \(64, 32\) vs \(48, 32\)"
    ):
        import_fairseq(path)


def test_unsupported_options_and_missing_config(tmp_path: Path):
    hf = build_hf("group", seed=27)
    path = tmp_path / "conformer.pt"
    options = model_options("group") | {"layer_type": "conformer", "activation_fn": "relu"}
    torch.save({"args": argparse.Namespace(**options), "model": fairseq_state_dict(hf, "group")}, path)
    with pytest.raises(
        CheckpointError, match=r"conformer\.pt: unsupported .*activation_fn='relu'.*layer_type"
    ):
        import_fairseq(path)

    bare = tmp_path / "bare.pt"
    torch.save({"model": fairseq_state_dict(hf, "group")}, bare)
    with pytest.raises(CheckpointError, match=r"bare\.pt: no model configuration"):
        import_fairseq(bare)


def test_conv_layers_expression():
    assert parse_conv_layers("[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] * 2") == (
        ((512, 10, 5),) + ((512, 3, 2),) * 4 + ((512, 2, 2),) * 2
    )
    assert parse_conv_layers("[(512, 10, 5), (512, 8, 4)]") == ((512, 10, 5), (512, 8, 4))


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('touch /tmp/x')",
        "[(512, 10, 5)] * 10**9",
        "[(512, 10, 5)] * 100000",
        "[(512, 10)]",
        "[(512, 10, -5)]",
        "[]",
        "[(512, 10, 5)] +",
        "[(1.5, 10, 5)]",
    ],
)
def test_conv_layers_expression_refuses_anything_else(text: str):
    with pytest.raises(CheckpointError, match="conv_feature_layers"):
        parse_conv_layers(text)
