"""Import a Hugging Face ``transformers`` wav2vec 2.0 checkpoint directory into our encoder.

The directory is what ``save_pretrained`` writes: ``config.json`` plus ``model.safetensors`` (or
``pytorch_model.bin``, read with ``torch.load(weights_only=True)``), optionally the feature
extractor's ``preprocessor_config.json`` (sampling rate, waveform normalisation). Nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor

from ivr.errors import CheckpointError
from ivr.model.dims import EncoderDims
from ivr.model.encoder import Wav2Vec2Encoder
from ivr.model.importers.safe_load import load_pickled
from ivr.model.importers.weights import ImportedEncoder, canonical_weight_norm, load_weights

CONFIG_FILE = "config.json"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
PREPROCESSOR_FILE = "preprocessor_config.json"
BASE_PREFIX = "wav2vec2."  # Wav2Vec2ForPreTraining / ForCTC keep the encoder under this name
_POS_CONV = "encoder.pos_conv_embed.conv."


def import_huggingface(
    directory: str | Path,
    *,
    normalize_waveform: bool | None = None,
    ignore_prefixes: tuple[str, ...] = (),
) -> ImportedEncoder:
    """Read a ``save_pretrained`` directory of a ``Wav2Vec2Model`` or ``Wav2Vec2ForPreTraining``.

    Args:
        directory: holds config.json and model.safetensors or pytorch_model.bin.
        normalize_waveform: per-utterance zero-mean/unit-variance input; None takes ``do_normalize``
            from preprocessor_config.json (the feature extractor's default, True, when it is absent).
        ignore_prefixes: keys to drop on purpose, e.g. ``("lm_head.",)`` to keep only the encoder of a
            CTC fine-tuned model; any other key the encoder has no place for is an error.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: not a directory holding a Hugging Face checkpoint")
    config = _read_json(directory / CONFIG_FILE)
    preprocessor_path = directory / PREPROCESSOR_FILE
    preprocessor = _read_json(preprocessor_path) if preprocessor_path.is_file() else None
    try:
        dims = dims_from_config(config, preprocessor, normalize_waveform=normalize_waveform)
    except KeyError as exc:
        raise CheckpointError(f"{directory / CONFIG_FILE}: missing field {exc}") from None
    except (CheckpointError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{directory / CONFIG_FILE}: {exc}") from None
    weights_path, tensors = _read_weights(directory)
    tensors = {k: v for k, v in tensors.items() if not k.startswith(tuple(ignore_prefixes))}
    prefix = BASE_PREFIX if any(k.startswith(BASE_PREFIX) for k in tensors) else ""
    tensors = canonical_weight_norm(tensors, prefix + _POS_CONV)
    encoder = Wav2Vec2Encoder(dims)
    absent = load_weights(encoder, tensors, key_table(dims, prefix), source=weights_path)
    return ImportedEncoder(encoder.eval(), dims, directory, absent)


def dims_from_config(
    config: dict[str, Any],
    preprocessor: dict[str, Any] | None = None,
    *,
    normalize_waveform: bool | None = None,
) -> EncoderDims:
    """Our EncoderDims for a ``Wav2Vec2Config`` dict; refuses options our modules do not implement."""
    _refuse_unsupported(config)
    preprocessor = preprocessor or {}
    if normalize_waveform is None:
        normalize_waveform = bool(preprocessor.get("do_normalize", True))
    norm = config.get("feat_extract_norm", "group")
    if norm not in ("group", "layer"):
        raise CheckpointError(f"feat_extract_norm must be 'group' or 'layer', got {norm!r}")
    conv = zip(config["conv_dim"], config["conv_kernel"], config["conv_stride"], strict=True)
    return EncoderDims(
        conv_layers=tuple((int(c), int(k), int(s)) for c, k, s in conv),
        extractor_mode="group_norm" if norm == "group" else "layer_norm",
        conv_bias=bool(config.get("conv_bias", False)),
        embed_dim=int(config["hidden_size"]),
        num_layers=int(config["num_hidden_layers"]),
        num_heads=int(config["num_attention_heads"]),
        ffn_dim=int(config["intermediate_size"]),
        layer_norm_first=bool(config.get("do_stable_layer_norm", False)),
        pos_conv_kernel=int(config.get("num_conv_pos_embeddings", 128)),
        pos_conv_groups=int(config.get("num_conv_pos_embedding_groups", 16)),
        num_codebooks=int(config.get("num_codevector_groups", 2)),
        codebook_size=int(config.get("num_codevectors_per_group", 320)),
        codevector_dim=int(config.get("codevector_dim", 256)),
        final_dim=int(config.get("proj_codevector_dim", 256)),
        dropout=float(config.get("hidden_dropout", 0.1)),
        attention_dropout=float(config.get("attention_dropout", 0.1)),
        activation_dropout=float(config.get("activation_dropout", 0.1)),
        feature_dropout=float(config.get("feat_proj_dropout", 0.0)),
        quantizer_dropout=float(config.get("feat_quantizer_dropout", 0.0)),
        layer_drop=float(config.get("layerdrop", 0.1)),
        mask_length=int(config.get("mask_time_length", 10)),
        attention="full",  # pre-trained bidirectionally; see docs/models.md on streaming
        sample_rate_hz=int(preprocessor.get("sampling_rate", 16_000)),
        normalize_waveform=normalize_waveform,
    )


def _refuse_unsupported(config: dict[str, Any]) -> None:
    problems = []
    if config.get("model_type", "wav2vec2") != "wav2vec2":
        problems.append(f"model_type {config['model_type']!r} is not 'wav2vec2'")
    for key in ("hidden_act", "feat_extract_activation"):
        if config.get(key, "gelu") != "gelu":
            problems.append(f"{key} {config[key]!r} is not 'gelu'")
    if config.get("add_adapter"):
        problems.append("add_adapter=true (output adapters are not implemented)")
    if config.get("adapter_attn_dim") is not None:
        problems.append("adapter_attn_dim is set (attention adapters are not implemented)")
    if float(config.get("layer_norm_eps", 1e-5)) != 1e-5:
        problems.append(f"layer_norm_eps {config['layer_norm_eps']} is not 1e-5")
    if problems:
        raise CheckpointError("unsupported configuration: " + "; ".join(problems))


def key_table(dims: EncoderDims, prefix: str = "") -> dict[str, str]:
    """{transformers key: our key} for every tensor a checkpoint of ``dims`` holds."""
    p = prefix
    table = {
        f"{p}masked_spec_embed": "mask_embedding",
        f"{p}feature_projection.layer_norm.weight": "feature_projection.layer_norm.weight",
        f"{p}feature_projection.layer_norm.bias": "feature_projection.layer_norm.bias",
        f"{p}feature_projection.projection.weight": "feature_projection.projection.weight",
        f"{p}feature_projection.projection.bias": "feature_projection.projection.bias",
        f"{p}{_POS_CONV}weight_g": "context.pos_conv.conv.parametrizations.weight.original0",
        f"{p}{_POS_CONV}weight_v": "context.pos_conv.conv.parametrizations.weight.original1",
        f"{p}{_POS_CONV}bias": "context.pos_conv.conv.bias",
        f"{p}encoder.layer_norm.weight": "context.layer_norm.weight",
        f"{p}encoder.layer_norm.bias": "context.layer_norm.bias",
        "quantizer.codevectors": "quantizer.codevectors",
        "quantizer.weight_proj.weight": "quantizer.weight_proj.weight",
        "quantizer.weight_proj.bias": "quantizer.weight_proj.bias",
        "project_q.weight": "project_q.weight",
        "project_q.bias": "project_q.bias",
        "project_hid.weight": "final_proj.weight",
        "project_hid.bias": "final_proj.bias",
    }
    for i in range(len(dims.conv_layers)):
        theirs, ours = f"{p}feature_extractor.conv_layers.{i}.", f"feature_encoder.conv_layers.{i}."
        params = ["conv.weight"] + (["conv.bias"] if dims.conv_bias else [])
        table |= {theirs + name: ours + name for name in params}
        if dims.extractor_mode == "layer_norm" or i == 0:
            table |= {theirs + f"layer_norm.{w}": ours + f"norm.{w}" for w in ("weight", "bias")}
    layer_names = {
        "attention.q_proj": "attention.q_proj",
        "attention.k_proj": "attention.k_proj",
        "attention.v_proj": "attention.v_proj",
        "attention.out_proj": "attention.out_proj",
        "layer_norm": "layer_norm",
        "feed_forward.intermediate_dense": "feed_forward.fc1",
        "feed_forward.output_dense": "feed_forward.fc2",
        "final_layer_norm": "final_layer_norm",
    }
    for i in range(dims.num_layers):
        for theirs, ours in layer_names.items():
            for w in ("weight", "bias"):
                table[f"{p}encoder.layers.{i}.{theirs}.{w}"] = f"context.layers.{i}.{ours}.{w}"
    return table


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"{path}: missing (a Hugging Face checkpoint needs {path.name})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def _read_weights(directory: Path) -> tuple[Path, dict[str, Tensor]]:
    for name in WEIGHT_FILES:
        path = directory / name
        if path.is_file():
            break
    else:
        raise CheckpointError(f"{directory}: no {' or '.join(WEIGHT_FILES)} found")
    if path.suffix == ".safetensors":
        return path, _read_safetensors(path)
    if path.name.endswith(".index.json"):
        return path, _read_shards(path)
    state = load_pickled(path)
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors")
    return path, state


def _read_safetensors(path: Path) -> dict[str, Tensor]:
    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None


def _read_shards(index_path: Path) -> dict[str, Tensor]:
    """A sharded checkpoint: the index maps every key to one of the model-*.safetensors files."""
    index = _read_json(index_path)
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict):
        raise CheckpointError(f"{index_path}: no weight_map object")
    tensors: dict[str, Tensor] = {}
    for shard in sorted(set(map(str, weight_map.values()))):
        if Path(shard).name != shard:
            raise CheckpointError(f"{index_path}: shard {shard!r} is not a file name in its directory")
        tensors |= _read_safetensors(index_path.parent / shard)
    return tensors
