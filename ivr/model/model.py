"""The intent model: an encoder with injected task heads, plus the factory that builds one from dims."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from ivr.model.dims import EncoderDims, HeadDims
from ivr.model.encoder import Wav2Vec2Encoder
from ivr.model.heads import CTCHead, IntentHead
from ivr.model.masking import SpanMasking
from ivr.model.phoneme_intent import PhonemeIntentClassifier
from ivr.model.phoneme_lm import PhonemeLM


@dataclass(frozen=True, slots=True)
class ModelOutput:
    intent_logits: Tensor  # (B, L)
    ctc_log_probs: Tensor | None  # (B, F, V) when the model has a CTC head
    frame_lengths: Tensor  # (B,)


class IntentModel(nn.Module):
    """Encoder -> pooled intent logits (and per-frame CTC log-probs for an auxiliary phoneme task).

    ``phoneme_head`` (optional) classifies the CTC decode; it is trained on text (stage 2b) and
    fused with the intent head by ``ivr.runtime.classify``, so ``forward`` does not run it.
    ``phoneme_lm`` (optional) makes that decode a beam search with a phoneme n-gram (``ctc_decode``)
    instead of the greedy one.
    """

    def __init__(
        self,
        encoder: Wav2Vec2Encoder,
        intent_head: IntentHead,
        ctc_head: CTCHead | None = None,
        phoneme_head: PhonemeIntentClassifier | None = None,
        phoneme_lm: PhonemeLM | None = None,
    ):
        super().__init__()
        if phoneme_lm is not None and (
            ctc_head is None or phoneme_lm.dims.vocab_size < ctc_head.proj.out_features
        ):
            raise ValueError(
                "a phoneme LM decodes the CTC head: the model needs one within the LM's vocabulary"
            )
        if phoneme_head is not None:
            if ctc_head is None:
                raise ValueError("a phoneme intent head reads the CTC decode: the model needs a CTC head")
            if phoneme_head.labels != intent_head.labels:
                raise ValueError(
                    f"phoneme head labels {list(phoneme_head.labels)} differ from the intent head's "
                    f"{list(intent_head.labels)}"
                )
            if phoneme_head.dims.vocab_size < ctc_head.proj.out_features:
                raise ValueError(
                    f"phoneme head vocabulary ({phoneme_head.dims.vocab_size}) is smaller than the CTC "
                    f"head's ({ctc_head.proj.out_features})"
                )
        self.encoder = encoder
        self.intent_head = intent_head
        self.ctc_head = ctc_head
        self.phoneme_head = phoneme_head
        self.phoneme_lm = phoneme_lm

    @property
    def dims(self) -> EncoderDims:
        return self.encoder.dims

    @property
    def labels(self) -> tuple[str, ...]:
        return self.intent_head.labels

    def forward(self, wave: Tensor, lengths: Tensor, mask: SpanMasking | None = None) -> ModelOutput:
        """wave (B, T) float32 at dims.sample_rate_hz, lengths (B,) int64 valid samples.

        ``mask``: span-mask the projected features, a regulariser the paper also fine-tunes with.
        """
        out = self.encoder(wave, lengths, mask=mask)
        logits = self.intent_head(out.frames, out.frame_lengths)  # (B, L)
        ctc = self.ctc_head(out.frames) if self.ctc_head is not None else None  # (B, F, V)
        return ModelOutput(logits, ctc, out.frame_lengths)

    def freeze_feature_encoder(self) -> None:
        """Fine-tuning keeps the conv stack as pretrained (paper); the rest keeps training."""
        for p in self.encoder.feature_encoder.parameters():
            p.requires_grad_(False)

    def parameter_groups(self, lr: float, encoder_lr_scale: float = 0.1) -> list[dict[str, Any]]:
        """Optimizer groups: heads at ``lr``, the trainable encoder at ``lr * encoder_lr_scale``."""
        encoder = [p for p in self.encoder.parameters() if p.requires_grad]
        heads = [
            p for name, p in self.named_parameters() if not name.startswith("encoder.") and p.requires_grad
        ]
        return [{"params": heads, "lr": lr}, {"params": encoder, "lr": lr * encoder_lr_scale}]


def build_model(
    dims: EncoderDims,
    labels: tuple[str, ...] | list[str],
    ctc_vocab_size: int | None = None,
    *,
    head: HeadDims | None = None,
) -> IntentModel:
    """A randomly initialised IntentModel; ``ctc_vocab_size`` overrides ``head.ctc_vocab_size``."""
    head = head or HeadDims()
    vocab = ctc_vocab_size if ctc_vocab_size is not None else head.ctc_vocab_size
    ctc = CTCHead(dims.embed_dim, vocab, head.dropout) if vocab is not None else None
    return IntentModel(Wav2Vec2Encoder(dims), IntentHead(dims.embed_dim, labels, head), ctc)


def head_dims(model: IntentModel) -> HeadDims:
    """The HeadDims a model was built with (stored in checkpoints)."""
    vocab = model.ctc_head.proj.out_features if model.ctc_head is not None else None
    return dataclasses.replace(model.intent_head.dims, ctc_vocab_size=vocab)
