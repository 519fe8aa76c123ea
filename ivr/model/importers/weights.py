"""Load a foreign state dict into our encoder through an explicit key table, refusing anything unmatched.

Both importers build a table {their key: our key} from the dims, then hand it here. Every key in the
file must be in the table and every table entry must be in the file, shapes must agree, and only two
optional parts may be absent as a whole (fine-tuned exports drop them): the mask embedding and the
pretraining parts (quantizer, ``project_q``, ``final_proj``). Those stay randomly initialised and are
reported in ``ImportedEncoder.absent``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ivr.errors import CheckpointError
from ivr.model.dims import EncoderDims
from ivr.model.encoder import Wav2Vec2Encoder

# Our parameter-name prefixes that may be missing from a file as a group, and the group's name.
OPTIONAL_GROUPS: dict[str, tuple[str, ...]] = {
    "mask embedding": ("mask_embedding",),
    "pretraining heads": ("quantizer.", "project_q.", "final_proj."),
}

_POS_CONV_ALIASES = (
    (".parametrizations.weight.original0", ".weight_g"),  # torch >= 2.1 weight_norm parametrization
    (".parametrizations.weight.original1", ".weight_v"),
)


@dataclass(frozen=True, slots=True)
class ImportedEncoder:
    """A pre-trained wav2vec 2.0 encoder in our modules, in eval mode."""

    encoder: Wav2Vec2Encoder
    dims: EncoderDims
    source: Path  # the file or directory it came from
    absent: tuple[str, ...]  # optional parts the file did not hold (left randomly initialised)


def canonical_weight_norm(tensors: Mapping[str, Tensor], pos_conv_prefix: str) -> dict[str, Tensor]:
    """Spell the positional conv's weight norm as ``weight_g`` / ``weight_v`` whatever the file used.

    Files hold either the legacy ``weight_g``/``weight_v``, the parametrization's ``original0``/
    ``original1`` (same tensors, new names), or a plain ``weight`` (weight norm removed); for the last
    we recover g as the norm of the weight over all dims but the kernel axis (dim 2) and v as the weight.
    """
    out: dict[str, Tensor] = {}
    for key, tensor in tensors.items():
        for old, new in _POS_CONV_ALIASES:
            if key.startswith(pos_conv_prefix) and key.endswith(old):
                key = key[: -len(old)] + new
        out[key] = tensor
    plain = pos_conv_prefix + "weight"
    if plain in out and pos_conv_prefix + "weight_v" not in out:
        weight = out.pop(plain)
        out[pos_conv_prefix + "weight_g"] = weight.norm(dim=(0, 1), keepdim=True)  # (1, 1, K)
        out[pos_conv_prefix + "weight_v"] = weight
    return out


def load_weights(
    encoder: Wav2Vec2Encoder,
    tensors: Mapping[str, Tensor],
    table: Mapping[str, str],
    *,
    source: Path,
) -> tuple[str, ...]:
    """Copy ``tensors`` (their keys) into ``encoder`` via ``table`` (their key -> our key).

    Returns the optional groups the file did not hold. Raises CheckpointError naming the file and the
    first offending keys on unmapped keys, missing keys or shape mismatches.
    """
    unmapped = sorted(set(tensors) - set(table))
    if unmapped:
        raise CheckpointError(
            f"{source}: {len(unmapped)} key(s) with no place in the wav2vec 2.0 encoder: "
            f"{_listing(unmapped)} (a task head, or a variant this importer does not know; "
            "import_huggingface(..., ignore_prefixes=...) drops a head on purpose)"
        )
    absent, missing = _absent_groups(table, tensors)
    if missing:
        raise CheckpointError(f"{source}: missing {len(missing)} key(s): {_listing(missing)}")
    ours = encoder.state_dict()
    assert set(table.values()) <= set(ours), "importer table names a parameter the encoder lacks"
    mismatched = [
        f"{key} {tuple(tensors[key].shape)} vs {tuple(ours[table[key]].shape)} expected from the config"
        for key in sorted(tensors)
        if tensors[key].shape != ours[table[key]].shape
    ]
    if mismatched:
        raise CheckpointError(f"{source}: tensor shapes do not match the config: {_listing(mismatched)}")
    state = dict(ours)
    for key, tensor in tensors.items():
        target = ours[table[key]]
        state[table[key]] = tensor.detach().to(dtype=target.dtype)
    with torch.no_grad():
        encoder.load_state_dict(state, strict=True)
    return absent


def _absent_groups(
    table: Mapping[str, str], tensors: Mapping[str, Tensor]
) -> tuple[tuple[str, ...], list[str]]:
    """(optional groups missing as a whole, keys missing otherwise)."""
    missing = {key for key in table if key not in tensors}
    absent = []
    for group, prefixes in OPTIONAL_GROUPS.items():
        members = {key for key in table if table[key].startswith(prefixes)}
        if members and members <= missing:
            absent.append(group)
            missing -= members
    return tuple(absent), sorted(missing)


def _listing(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")
