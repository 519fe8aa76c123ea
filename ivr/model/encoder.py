"""The wav2vec 2.0 encoder: waveform -> conv features -> (masked) projection -> context frames."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ivr.model.context import TransformerEncoder
from ivr.model.dims import EncoderDims
from ivr.model.features import (
    FeatureEncoder,
    FeatureProjection,
    conv_output_lengths,
    lengths_to_mask,
    normalize_waveform,
)
from ivr.model.masking import SpanMasking, span_mask
from ivr.model.quantizer import GumbelVectorQuantizer


@dataclass(frozen=True, slots=True)
class EncoderOutput:
    frames: Tensor  # (B, F, D) context network output, zero beyond frame_lengths
    frame_lengths: Tensor  # (B,) int64
    features: Tensor  # (B, F, C) layer-normed conv features: the quantizer's input
    feature_penalty: Tensor  # () mean square of the raw conv features over valid frames
    mask: Tensor | None  # (B, F) bool: frames replaced by the mask embedding, when masking was asked for
    hidden_states: tuple[Tensor, ...]  # input of layer 0, then each layer's output (as transformers)


class Wav2Vec2Encoder(nn.Module):
    """Feature encoder, projection, context network, and the pretraining parts (mask embedding, quantizer)."""

    def __init__(self, dims: EncoderDims):
        super().__init__()
        self.dims = dims
        self.feature_encoder = FeatureEncoder(dims)
        self.feature_projection = FeatureProjection(dims)
        self.context = TransformerEncoder(dims)
        self.mask_embedding = nn.Parameter(torch.empty(dims.embed_dim).uniform_())
        self.quantizer = GumbelVectorQuantizer(dims)
        self.project_q = nn.Linear(dims.codevector_dim, dims.final_dim)
        self.final_proj = nn.Linear(dims.embed_dim, dims.final_dim)

    def frame_lengths(self, sample_lengths: Tensor) -> Tensor:
        """(B,) samples -> (B,) frames: frame t needs samples [t * stride, t * stride + receptive_field)."""
        return conv_output_lengths(sample_lengths, self.dims.conv_layers)

    def pretraining_masking(self) -> SpanMasking:
        """The span masking stage 1 trains under: the dims' own."""
        return SpanMasking(self.dims.mask_prob, self.dims.mask_length)

    def forward(
        self, wave: Tensor, lengths: Tensor, mask: SpanMasking | None = None, attention: str | None = None
    ) -> EncoderOutput:
        """wave (B, T) float32, lengths (B,) int64 valid samples; ``mask``: span-mask the projected features.

        ``attention``: the context network's mask kind for this call, if not the dims' (stage 1 only).
        """
        check_input(wave, lengths, self.dims.receptive_field)
        if self.dims.normalize_waveform:
            wave = normalize_waveform(wave, lengths)
        conv = self.feature_encoder(wave, lengths)  # (B, F, C)
        frame_lengths = self.frame_lengths(lengths)  # (B,)
        valid = lengths_to_mask(frame_lengths, conv.shape[1])  # (B, F)
        weights = valid[..., None].to(conv.dtype)  # (B, F, 1)
        penalty = (conv.float() ** 2 * weights).sum() / (weights.sum() * conv.shape[-1]).clamp_min(1.0)
        x, features = self.feature_projection(conv)  # (B, F, D), (B, F, C)
        mask_indices = None
        if mask is not None:
            mask_indices = span_mask(frame_lengths, x.shape[1], mask_prob=mask.prob, mask_length=mask.length)
            x = torch.where(mask_indices[..., None], self.mask_embedding.to(x.dtype), x)  # (B, F, D)
        frames, hidden = self.context(x, valid, attention)  # (B, F, D)
        frames = frames * weights
        return EncoderOutput(frames, frame_lengths, features, penalty, mask_indices, hidden)


def check_input(wave: Tensor, lengths: Tensor, min_samples: int) -> None:
    """Public entry-point checks with the expected and found shapes in the message."""
    if wave.dim() != 2 or not wave.is_floating_point():
        raise ValueError(f"wave must be a float (B, T) tensor, got {tuple(wave.shape)} {wave.dtype}")
    if lengths.shape != (wave.shape[0],) or lengths.dtype != torch.int64:
        raise ValueError(
            f"lengths must be int64 of shape ({wave.shape[0]},), got {tuple(lengths.shape)} {lengths.dtype}"
        )
    if wave.shape[1] < min_samples:
        raise ValueError(f"wave has {wave.shape[1]} samples; the conv stack needs at least {min_samples}")
    if bool((lengths < 0).any()) or bool((lengths > wave.shape[1]).any()):
        raise ValueError(f"lengths must lie in [0, {wave.shape[1]}], got {lengths.tolist()}")
