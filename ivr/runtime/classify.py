"""Whole-utterance intent classification: one clip in, one routing decision out.

Used by ``ivr classify``, the flow simulator and ``training.evaluate``, so the decision rule
lives in one place: the arg-max label wins unless it is ``out_of_scope``, its calibrated
probability is below the threshold, or ``out_of_scope``'s own probability reaches the out-of-scope
threshold (both fitted on held-out calls and stored in the checkpoint; a checkpoint uses one of them).

A model with a phoneme intent head (stage 2b) also classifies its own CTC decode (a beam search with
the checkpoint's phoneme LM when it has one, else greedy), and the two calibrated distributions are
fused log-linearly with the checkpoint's ``fusion_weight`` before the rule above applies.

A clip that did not cross a phone line (more out-of-band power than phone audio carries) is band-limited
to the telephone band first, as the training channel band-limits what the model learns from
(``ivr.audio.band.to_telephone_band``).

With ``views``, the audio head also hears each clip through fixed voice warps (``ivr.audio.warp``:
faster or slower, formants up or down) and the views are combined (``combine_views``): a caller whose
vocal tract lies outside the trained voices' range is moved towards it. Each view costs one more pass of
the acoustic model; the CTC beam search, the dearest part, still runs once per clip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from ivr.audio.band import to_telephone_band
from ivr.audio.resample import resample
from ivr.audio.warp import VoiceView, parse_views
from ivr.audio.wav import load_audio
from ivr.errors import AudioError, CheckpointError
from ivr.intents import OUT_OF_SCOPE
from ivr.model.checkpoint import load_checkpoint
from ivr.model.ctc_decode import decoder_for, spell
from ivr.model.model import IntentModel
from ivr.model.phoneme_intent import fuse, pad_ids

INPUT_RATE_HZ = 8000  # what ``classify`` takes: narrowband call audio
VIEW_RULES = ("mean", "min_entropy")  # how the voice views' audio-head outputs combine (combine_views)


@dataclass(frozen=True, slots=True)
class ClassifyResult:
    """The decision for one utterance."""

    intent: str  # a label of the model, or OUT_OF_SCOPE
    confidence: float  # calibrated probability of the arg-max label
    scores: dict[str, float]  # calibrated probability of every label
    top_k: list[tuple[str, float]]  # the best labels, most probable first
    transcript: str  # the CTC decode (phonemes) the text head read; "" for a model without a CTC head
    audio_scores: dict[str, float] | None = None  # the audio head alone, when fused with a text head
    text_scores: dict[str, float] | None = None  # the phoneme head alone on the decode, when present


@dataclass(frozen=True, slots=True)
class _Heard:
    """One view of a batch through the model."""

    audio: torch.Tensor  # (B, L) calibrated probabilities of the audio head
    ctc_log_probs: npt.NDArray[np.float32] | None  # (B, T, C), None without a CTC head
    frame_lengths: list[int]


def combine_views(probs: torch.Tensor, rule: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(V, B, L) audio-head probabilities of V views -> (B, L) probabilities and (B,) the view whose decode
    the text head reads.

    ``mean``: the renormalized geometric mean of the views, read with the as-received decode (view 0).
    ``min_entropy``: per clip, the view the head is surest of, with that view's decode.
    """
    if rule not in VIEW_RULES:
        raise ValueError(f"view rule must be one of {VIEW_RULES}, got {rule!r}")
    as_received = torch.zeros(probs.shape[1], dtype=torch.int64)
    if probs.shape[0] == 1:  # no views: the clip as received, untouched
        return probs[0], as_received
    log_probs = probs.clamp_min(torch.finfo(probs.dtype).tiny).log()
    if rule == "mean":
        return torch.softmax(log_probs.mean(0), dim=-1), as_received
    entropy = -(probs * log_probs).sum(-1)  # (V, B)
    chosen = entropy.argmin(0)  # (B,)
    return probs[chosen, torch.arange(probs.shape[1])], chosen


def decide(scores: dict[str, float], threshold: float, oos_threshold: float = 1.0) -> tuple[str, float]:
    """(intent or out_of_scope, confidence of the arg-max label) from calibrated scores."""
    label, confidence = max(scores.items(), key=lambda kv: kv[1])
    rejected = confidence < threshold or scores.get(OUT_OF_SCOPE, 0.0) >= oos_threshold
    return (OUT_OF_SCOPE if label == OUT_OF_SCOPE or rejected else label), confidence


class Classifier:
    """An intent model plus its calibration, ready to classify 8 kHz clips."""

    def __init__(
        self,
        model: IntentModel,
        *,
        threshold: float = 0.0,
        ctc_vocab: Sequence[str] = (),
        top_k: int = 3,
        device: str | torch.device = "cpu",
        fusion_weight: float = 0.0,
        oos_threshold: float = 1.0,
        band_limit: bool = True,
        views: Sequence[VoiceView] = (),
        view_rule: str = "mean",
    ) -> None:
        if not 0 <= fusion_weight <= 1:
            raise ValueError(f"fusion_weight must be in [0, 1], got {fusion_weight}")
        if view_rule not in VIEW_RULES:
            raise ValueError(f"view_rule must be one of {VIEW_RULES}, got {view_rule!r}")
        self.model = model.to(device).eval()
        self.threshold = threshold
        self.oos_threshold = oos_threshold  # 1: only an out_of_scope arg-max rejects by this rule
        self.fusion_weight = fusion_weight  # weight of the phoneme head; unused without one
        self.ctc_vocab = tuple(ctc_vocab)
        self.top_k = top_k
        self.device = torch.device(device)
        self.decode = decoder_for(model.phoneme_lm)
        self.band_limit = band_limit  # band-limit clips that skipped a phone line (to_telephone_band)
        self.views = tuple(views)  # warps heard besides the call as received (test-time augmentation)
        self.view_rule = view_rule

    @classmethod
    def from_checkpoint(cls, path: str | Path, *, device: str = "cpu", top_k: int = 3) -> Classifier:
        """Load a checkpoint written by ``training.finetune`` (or any with intent labels)."""
        loaded = load_checkpoint(path)
        if not isinstance(loaded.model, IntentModel):
            raise CheckpointError(f"{path}: a bare encoder (stage 1) has no intent head; fine-tune it first")
        extra = loaded.extra or {}
        threshold = extra.get("threshold", 0.0)
        vocab = extra.get("ctc_vocab", [])
        weight = extra.get("fusion_weight", 0.0)
        oos_threshold = extra.get("oos_threshold", 1.0)
        if not isinstance(threshold, int | float) or not isinstance(vocab, list):
            raise CheckpointError(f"{path}: metadata 'threshold' must be a number and 'ctc_vocab' a list")
        if not isinstance(oos_threshold, int | float) or not 0 <= oos_threshold <= 1:
            raise CheckpointError(
                f"{path}: metadata 'oos_threshold' must be a number in [0, 1], got {oos_threshold!r}"
            )
        if not isinstance(weight, int | float) or not 0 <= weight <= 1:
            raise CheckpointError(
                f"{path}: metadata 'fusion_weight' must be a number in [0, 1], got {weight!r}"
            )
        try:
            views = parse_views(str(extra.get("views", "")))
            view_rule = str(extra.get("view_rule", "mean"))
            if view_rule not in VIEW_RULES:
                raise ValueError(f"view_rule must be one of {VIEW_RULES}, got {view_rule!r}")
        except ValueError as e:
            raise CheckpointError(f"{path}: metadata 'views' / 'view_rule': {e}") from None
        return cls(
            loaded.model,
            views=views,
            view_rule=view_rule,
            threshold=float(threshold),
            ctc_vocab=vocab,
            top_k=top_k,
            device=device,
            fusion_weight=float(weight),
            oos_threshold=float(oos_threshold),
        )

    @property
    def labels(self) -> tuple[str, ...]:
        return self.model.labels

    def classify(self, samples: npt.ArrayLike) -> ClassifyResult:
        """Classify one utterance: (T,) float32 samples at 8 kHz in [-1, 1)."""
        return self.classify_batch([np.asarray(samples, np.float32)])[0]

    @torch.no_grad()
    def classify_batch(self, clips: Sequence[npt.NDArray[np.float32]]) -> list[ClassifyResult]:
        """Classify several 8 kHz utterances in one padded batch (one per voice view)."""
        rate = self.model.dims.sample_rate_hz
        waves = [
            resample(c, INPUT_RATE_HZ, rate) if rate != INPUT_RATE_HZ else np.asarray(c, np.float32)
            for c in clips
        ]
        heard = [self._forward(waves)] + [self._forward([v.apply(w) for w in waves]) for v in self.views]
        audio, chosen = combine_views(torch.stack([h.audio for h in heard]), self.view_rule)  # (B, L), (B,)
        decodes: list[list[int]] = []
        for row, view in enumerate(chosen.tolist()):
            log_probs = heard[view].ctc_log_probs
            if log_probs is not None:
                decodes.append(self.decode(log_probs[row, : heard[view].frame_lengths[row]]))
        text = None
        if self.model.phoneme_head is not None and decodes:
            ids, id_lengths = pad_ids(decodes)
            head = self.model.phoneme_head
            text = head.probabilities(head(ids.to(self.device), id_lengths.to(self.device)).float()).cpu()
        fused = fuse(audio, text, self.fusion_weight) if text is not None else audio  # (B, L)
        results = []
        for row in range(len(waves)):
            scores = self._scores(fused[row])
            intent, confidence = decide(scores, self.threshold, self.oos_threshold)
            ranked = sorted(scores.items(), key=lambda kv: -kv[1])[: self.top_k]
            transcript = spell(decodes[row], self.ctc_vocab) if decodes else ""
            results.append(
                ClassifyResult(
                    intent,
                    confidence,
                    scores,
                    ranked,
                    transcript,
                    audio_scores=self._scores(audio[row]) if text is not None else None,
                    text_scores=self._scores(text[row]) if text is not None else None,
                )
            )
        return results

    def _forward(self, waves: Sequence[npt.NDArray[np.float32]]) -> _Heard:
        """One padded forward pass over model-rate clips: the audio head's probabilities and the CTC output."""
        rate = self.model.dims.sample_rate_hz
        if self.band_limit:
            waves = [to_telephone_band(w, rate) for w in waves]
        # Pad clips shorter than one frame's receptive field: silence cannot change the decision much.
        need = self.model.dims.receptive_field
        waves = [np.pad(w, (0, max(0, need - len(w)))) for w in waves]
        lengths = torch.tensor([len(w) for w in waves], dtype=torch.int64)
        batch = torch.zeros(len(waves), int(lengths.max()))
        for row, w in enumerate(waves):
            batch[row, : len(w)] = torch.from_numpy(w)
        out = self.model(batch.to(self.device), lengths.to(self.device))
        audio = self.model.intent_head.probabilities(out.intent_logits.float()).cpu()  # (B, L)
        ctc = out.ctc_log_probs.float().cpu().numpy() if out.ctc_log_probs is not None else None
        return _Heard(audio, ctc, [int(n) for n in out.frame_lengths])

    def _scores(self, probs: torch.Tensor) -> dict[str, float]:
        return {label: float(p) for label, p in zip(self.labels, probs.cpu().tolist(), strict=True)}

    def classify_file(self, path: str | Path) -> ClassifyResult:
        """Classify a WAV file of any format and rate (resampled to 8 kHz, channels mixed down)."""
        samples = load_audio(path, sample_rate_hz=INPUT_RATE_HZ)
        if len(samples) == 0:
            raise AudioError(f"{path}: no audio samples")
        return self.classify(samples)
