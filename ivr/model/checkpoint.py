"""Checkpoints that describe themselves: safetensors tensors + JSON metadata (dims, labels, version).

Loading parses JSON and raw tensors only, so it never executes code from the file. A SHA-256 over the
tensor bytes catches corruption safetensors itself cannot see (it has no checksum of the data).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from ivr.errors import CheckpointError
from ivr.model.dims import EncoderDims, HeadDims
from ivr.model.encoder import Wav2Vec2Encoder
from ivr.model.model import IntentModel, build_model, head_dims
from ivr.model.phoneme_intent import PhonemeIntentClassifier, PhonemeIntentDims, legacy_tensor_names
from ivr.model.phoneme_lm import PhonemeLM, PhonemeLMDims

FORMAT_VERSION = 1
METADATA_KEY = "ivr"  # the safetensors header entry holding our JSON


@dataclass(frozen=True, slots=True)
class LoadedCheckpoint:
    model: IntentModel | Wav2Vec2Encoder  # in eval mode; a bare encoder for pretraining checkpoints
    dims: EncoderDims
    labels: tuple[str, ...]  # empty for a bare encoder
    extra: dict[str, Any]  # whatever the writer stored (training config, metrics, ...)
    format_version: int


def save_checkpoint(
    path: str | os.PathLike[str],
    model: IntentModel | Wav2Vec2Encoder,
    *,
    labels: Sequence[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write ``model`` to ``path`` atomically; ``extra`` must be JSON-serialisable."""
    phoneme_head = phoneme_lm = None
    if isinstance(model, IntentModel):
        if labels is not None and tuple(labels) != model.labels:
            raise ValueError(f"labels {list(labels)} differ from the model's {list(model.labels)}")
        kind, labels, head = "intent_model", model.labels, head_dims(model).to_dict()
        if model.phoneme_head is not None:
            phoneme_head = model.phoneme_head.dims.to_dict()
        if model.phoneme_lm is not None:
            phoneme_lm = model.phoneme_lm.dims.to_dict()
    else:
        kind, labels, head = "encoder", (), None
    tensors = {name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "dims": model.dims.to_dict(),
        "head": head,
        "labels": list(labels),
        "phoneme_head": phoneme_head,  # dims of the optional text head (stage 2b); null without one
        "phoneme_lm": phoneme_lm,  # dims and decoding settings of the optional phoneme LM; null without one
        "extra": dict(extra or {}),
        "sha256": tensor_digest(tensors),
    }
    try:
        text = json.dumps(meta)
    except TypeError as exc:
        raise ValueError(f"checkpoint extra must be JSON-serialisable: {exc}") from exc
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        save_file(tensors, tmp, metadata={METADATA_KEY: text})
        tmp.replace(path)  # readers never see a half-written checkpoint
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: str | os.PathLike[str]) -> LoadedCheckpoint:
    """Read a checkpoint written by ``save_checkpoint``; any problem raises ``CheckpointError`` naming the file."""
    path = Path(path)
    header, stored = _read(path)
    meta = _metadata(path, header)
    tensors = stored
    try:
        dims = EncoderDims.from_dict(meta["dims"])
        labels = tuple(str(label) for label in meta["labels"])
        model: IntentModel | Wav2Vec2Encoder
        if meta["kind"] == "intent_model":
            model = build_model(dims, labels, head=HeadDims.from_dict(meta["head"]))
            if meta.get("phoneme_head") is not None:  # absent from checkpoints older than stage 2b
                text_head = PhonemeIntentClassifier(PhonemeIntentDims.from_dict(meta["phoneme_head"]), labels)
                model = IntentModel(model.encoder, model.intent_head, model.ctc_head, text_head)
                if "reader" not in meta["phoneme_head"]:
                    tensors = legacy_tensor_names(tensors, "phoneme_head.")
            if meta.get("phoneme_lm") is not None:  # absent from checkpoints decoded greedily
                lm = PhonemeLM(PhonemeLMDims.from_dict(meta["phoneme_lm"]))
                model = IntentModel(model.encoder, model.intent_head, model.ctc_head, model.phoneme_head, lm)
        elif meta["kind"] == "encoder":
            model = Wav2Vec2Encoder(dims)
        else:
            raise ValueError(f"unknown kind {meta['kind']!r}")
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: invalid metadata: {exc}") from exc
    claimed = isinstance(model, IntentModel) and model.phoneme_head is not None
    if claimed and not any(name.startswith("phoneme_head.") for name in tensors):
        raise CheckpointError(
            f"{path}: metadata declares a phoneme intent head but the file holds none of its "
            "tensors (phoneme_head.*); re-export it with training.text_intent"
        )
    _check_tensors(path, model, tensors)
    if tensor_digest(stored) != meta.get("sha256"):
        raise CheckpointError(f"{path}: tensor data is corrupt (SHA-256 differs from the one stored at save)")
    model.load_state_dict(tensors, strict=True)
    return LoadedCheckpoint(model.eval(), dims, labels, dict(meta.get("extra") or {}), FORMAT_VERSION)


def tensor_digest(tensors: Mapping[str, Tensor]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of all tensors, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _read(path: Path) -> tuple[dict[str, str], dict[str, Tensor]]:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118  # safe_open is no dict
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path}: not a readable safetensors file (corrupt or truncated?): {exc}"
        ) from exc
    return header, tensors


def _metadata(path: Path, header: dict[str, str]) -> dict[str, Any]:
    if METADATA_KEY not in header:
        raise CheckpointError(f"{path}: not an ivr checkpoint (no '{METADATA_KEY}' metadata in the header)")
    try:
        meta = json.loads(header[METADATA_KEY])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: metadata is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: metadata must be a JSON object")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {version!r}; this ivr reads version {FORMAT_VERSION}")
    return meta


def _check_tensors(path: Path, model: nn.Module, tensors: Mapping[str, Tensor]) -> None:
    """All key and shape problems at once, expected vs found."""
    expected = model.state_dict()
    problems = []
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing:
        problems.append(f"missing tensors: {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected tensors: {', '.join(unexpected)}")
    for name in sorted(set(expected) & set(tensors)):
        want, got = tuple(expected[name].shape), tuple(tensors[name].shape)
        if want != got:
            problems.append(f"{name}: expected shape {want}, found {got}")
    if problems:
        raise CheckpointError(f"{path}: does not match its dims: " + "; ".join(problems))
