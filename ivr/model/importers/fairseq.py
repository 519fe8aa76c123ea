"""Import a fairseq wav2vec 2.0 pre-training checkpoint (``.pt``) into our encoder, without fairseq.

The file is a pickle of ``{"args": argparse.Namespace, "model": state_dict, ...}`` (older releases)
or ``{"cfg": {"model": {...}, "task": {...}}, "model": state_dict, ...}`` (fairseq >= 0.10 saves
its omegaconf config as plain containers). It is read by ``safe_load.load_pickled``, which refuses
any global outside a small data-only allow-list, and the conv stack string by ``literal``.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ivr.errors import CheckpointError
from ivr.model.dims import EncoderDims
from ivr.model.encoder import Wav2Vec2Encoder
from ivr.model.importers.literal import parse_conv_layers
from ivr.model.importers.safe_load import load_pickled
from ivr.model.importers.weights import ImportedEncoder, canonical_weight_norm, load_weights

_POS_CONV = "encoder.pos_conv.0."
_REQUIRED = (
    "conv_feature_layers",
    "encoder_layers",
    "encoder_embed_dim",
    "encoder_ffn_embed_dim",
    "encoder_attention_heads",
)
# Options our modules do not implement, with the only value we accept (fairseq's default).
_MUST_EQUAL: dict[str, object] = {
    "activation_fn": "gelu",
    "quantize_targets": True,
    "quantize_input": False,
    "target_glu": False,
    "pos_conv_depth": 1,
    "layer_type": "transformer",
}


def import_fairseq(path: str | Path) -> ImportedEncoder:
    """Read a fairseq ``Wav2Vec2Model`` pre-training checkpoint (e.g. ``wav2vec_small.pt``, XLS-R)."""
    path = Path(path)
    checkpoint = load_pickled(path)
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("model"), dict):
        raise CheckpointError(f"{path}: not a fairseq checkpoint (no 'model' state dict)")
    model_cfg, task_cfg = _configs(checkpoint, path)
    try:
        dims = dims_from_config(model_cfg, task_cfg)
    except (CheckpointError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    tensors: dict[str, Tensor] = checkpoint["model"]
    if any(key.startswith("w2v_encoder.") for key in tensors):
        raise CheckpointError(
            f"{path}: a fine-tuned (CTC) fairseq checkpoint; import the pre-trained one it started from"
        )
    tensors = canonical_weight_norm(tensors, _POS_CONV)
    if "post_extract_proj.weight" not in tensors and dims.conv_dim == dims.embed_dim:
        # fairseq skips the projection when the widths agree: it is the identity.
        tensors["post_extract_proj.weight"] = torch.eye(dims.embed_dim)
        tensors["post_extract_proj.bias"] = torch.zeros(dims.embed_dim)
    encoder = Wav2Vec2Encoder(dims)
    absent = load_weights(encoder, tensors, key_table(dims), source=path)
    return ImportedEncoder(encoder.eval(), dims, path, absent)


def _configs(checkpoint: dict[str, Any], path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model options, task options) from ``args`` (a Namespace: both in one) or ``cfg``."""
    args = checkpoint.get("args")
    if isinstance(args, argparse.Namespace):
        options = vars(args)
        return options, options
    cfg = checkpoint.get("cfg")
    if isinstance(cfg, Mapping) and isinstance(cfg.get("model"), Mapping):
        task = cfg.get("task")
        return dict(cfg["model"]), dict(task) if isinstance(task, Mapping) else {}
    raise CheckpointError(f"{path}: no model configuration (neither 'args' nor 'cfg.model')")


def dims_from_config(model: Mapping[str, Any], task: Mapping[str, Any] | None = None) -> EncoderDims:
    """Our EncoderDims for fairseq's ``Wav2Vec2Config`` options (plus ``normalize``/``sample_rate``)."""
    task = task or {}
    absent = [key for key in _REQUIRED if key not in model]
    if absent:
        raise CheckpointError(f"config lacks {', '.join(absent)}")
    wrong = [
        f"{key}={model[key]!r} (only {expected!r} is supported)"
        for key, expected in _MUST_EQUAL.items()
        if key in model and model[key] != expected
    ]
    mode = model.get("extractor_mode", "default")
    if mode not in ("default", "layer_norm"):
        wrong.append(f"extractor_mode={mode!r} (expected 'default' or 'layer_norm')")
    if wrong:
        raise CheckpointError("unsupported configuration: " + "; ".join(wrong))
    embed_dim = int(model["encoder_embed_dim"])
    final_dim = int(model.get("final_dim", 0)) or embed_dim  # fairseq: <= 0 means embed_dim
    codevector_dim = int(model.get("latent_dim", 0)) or final_dim
    return EncoderDims(
        conv_layers=parse_conv_layers(str(model["conv_feature_layers"])),
        extractor_mode="group_norm" if mode == "default" else "layer_norm",
        conv_bias=bool(model.get("conv_bias", False)),
        embed_dim=embed_dim,
        num_layers=int(model["encoder_layers"]),
        num_heads=int(model["encoder_attention_heads"]),
        ffn_dim=int(model["encoder_ffn_embed_dim"]),
        layer_norm_first=bool(model.get("layer_norm_first", False)),
        pos_conv_kernel=int(model.get("conv_pos", 128)),
        pos_conv_groups=int(model.get("conv_pos_groups", 16)),
        num_codebooks=int(model.get("latent_groups", 2)),
        codebook_size=int(model.get("latent_vars", 320)),
        codevector_dim=codevector_dim,
        final_dim=final_dim,
        dropout=float(model.get("dropout", 0.1)),
        attention_dropout=float(model.get("attention_dropout", 0.1)),
        activation_dropout=float(model.get("activation_dropout", 0.0)),
        feature_dropout=float(model.get("dropout_input", 0.0)),
        quantizer_dropout=float(model.get("dropout_features", 0.0)),
        layer_drop=float(model.get("encoder_layerdrop", 0.0)),
        mask_prob=float(model.get("mask_prob", 0.65)),
        mask_length=int(model.get("mask_length", 10)),
        attention="full",
        sample_rate_hz=int(task.get("sample_rate", 16_000)),
        normalize_waveform=bool(task.get("normalize", False)),
    )


def key_table(dims: EncoderDims) -> dict[str, str]:
    """{fairseq key: our key} for every tensor a pre-training checkpoint of ``dims`` holds."""
    table = {
        "mask_emb": "mask_embedding",
        "layer_norm.weight": "feature_projection.layer_norm.weight",
        "layer_norm.bias": "feature_projection.layer_norm.bias",
        "post_extract_proj.weight": "feature_projection.projection.weight",
        "post_extract_proj.bias": "feature_projection.projection.bias",
        f"{_POS_CONV}weight_g": "context.pos_conv.conv.parametrizations.weight.original0",
        f"{_POS_CONV}weight_v": "context.pos_conv.conv.parametrizations.weight.original1",
        f"{_POS_CONV}bias": "context.pos_conv.conv.bias",
        "encoder.layer_norm.weight": "context.layer_norm.weight",
        "encoder.layer_norm.bias": "context.layer_norm.bias",
        "quantizer.vars": "quantizer.codevectors",
        "quantizer.weight_proj.weight": "quantizer.weight_proj.weight",
        "quantizer.weight_proj.bias": "quantizer.weight_proj.bias",
        "project_q.weight": "project_q.weight",
        "project_q.bias": "project_q.bias",
        "final_proj.weight": "final_proj.weight",
        "final_proj.bias": "final_proj.bias",
    }
    for i in range(len(dims.conv_layers)):
        # fairseq blocks are Sequential(conv, dropout, norm, GELU); the layer norm sits inside a
        # Sequential(TransposeLast, LayerNorm, TransposeLast), hence ".2.1".
        theirs, ours = f"feature_extractor.conv_layers.{i}.", f"feature_encoder.conv_layers.{i}."
        table[theirs + "0.weight"] = ours + "conv.weight"
        if dims.conv_bias:
            table[theirs + "0.bias"] = ours + "conv.bias"
        norm = "2.1." if dims.extractor_mode == "layer_norm" else "2." if i == 0 else None
        if norm is not None:
            table |= {theirs + norm + w: ours + "norm." + w for w in ("weight", "bias")}
    layer_names = {
        "self_attn.q_proj": "attention.q_proj",
        "self_attn.k_proj": "attention.k_proj",
        "self_attn.v_proj": "attention.v_proj",
        "self_attn.out_proj": "attention.out_proj",
        "self_attn_layer_norm": "layer_norm",
        "fc1": "feed_forward.fc1",
        "fc2": "feed_forward.fc2",
        "final_layer_norm": "final_layer_norm",
    }
    for i in range(dims.num_layers):
        for theirs, ours in layer_names.items():
            for w in ("weight", "bias"):
                table[f"encoder.layers.{i}.{theirs}.{w}"] = f"context.layers.{i}.{ours}.{w}"
    return table
