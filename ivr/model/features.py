"""The feature encoder (a conv stack over raw samples) and the projection into the transformer width."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ivr.model.dims import EncoderDims


def conv_output_lengths(lengths: Tensor, conv_layers: tuple[tuple[int, int, int], ...]) -> Tensor:
    """Valid output steps of an unpadded conv stack: floor((L - kernel) / stride) + 1 per layer."""
    for _, kernel, stride in conv_layers:
        lengths = torch.div(lengths - kernel, stride, rounding_mode="floor") + 1
        lengths = lengths.clamp_min(0)
    return lengths


def lengths_to_mask(lengths: Tensor, width: int) -> Tensor:
    """(B,) lengths -> (B, width) bool, True on valid steps."""
    return torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]


def normalize_waveform(wave: Tensor, lengths: Tensor, eps: float = 1e-7) -> Tensor:
    """Zero mean, unit variance per utterance over its valid samples; padding stays 0."""
    valid = lengths_to_mask(lengths, wave.shape[1]).to(wave.dtype)  # (B, T)
    count = valid.sum(1, keepdim=True).clamp_min(1.0)  # (B, 1)
    mean = (wave * valid).sum(1, keepdim=True) / count  # (B, 1)
    var = ((wave - mean) ** 2 * valid).sum(1, keepdim=True) / count  # (B, 1)
    return (wave - mean) / torch.sqrt(var + eps) * valid  # (B, T)


class ConvLayer(nn.Module):
    """Conv1d -> optional norm -> GELU. ``norm`` is a GroupNorm (one group per channel) or a LayerNorm."""

    def __init__(self, in_dim: int, out_dim: int, kernel: int, stride: int, *, bias: bool, norm: str | None):
        super().__init__()
        self.conv = nn.Conv1d(in_dim, out_dim, kernel, stride=stride, bias=bias)
        nn.init.kaiming_normal_(self.conv.weight)
        self.norm: nn.Module | None = None
        if norm == "group":
            self.norm = nn.GroupNorm(out_dim, out_dim, affine=True)
        elif norm == "layer":
            self.norm = nn.LayerNorm(out_dim, elementwise_affine=True)

    def forward(self, x: Tensor, valid: Tensor | None) -> Tensor:
        """x (B, C_in, T) -> (B, C_out, T'); ``valid`` (B, T') keeps padding out of the group-norm statistics."""
        x = self.conv(x)  # (B, C, T')
        if isinstance(self.norm, nn.LayerNorm):
            # Normalise channels frame by frame, and apply GELU while the frames are contiguous: GELU's
            # backward over the transposed view took 7x its forward, and the next conv wants (B, C, T')
            # contiguous anyway: a training step 9-15 % faster (bench/bench_train_step.py, docs/benchmarks.md).
            return F.gelu(self.norm(x.transpose(1, 2))).transpose(1, 2).contiguous()
        if isinstance(self.norm, nn.GroupNorm):
            x = _masked_instance_norm(x, valid, self.norm)
        return F.gelu(x)


def _masked_instance_norm(x: Tensor, valid: Tensor | None, norm: nn.GroupNorm) -> Tensor:
    """GroupNorm with one channel per group, statistics over valid steps only, so padding changes nothing."""
    if valid is None or bool(valid.all()):  # no padding: the fused kernel, ~10x faster on CPU
        return norm(x)
    m = valid[:, None, :].to(x.dtype)  # (B, 1, T)
    count = m.sum(-1, keepdim=True).clamp_min(1.0)  # (B, 1, 1)
    mean = (x * m).sum(-1, keepdim=True) / count  # (B, C, 1)
    var = ((x - mean) ** 2 * m).sum(-1, keepdim=True) / count  # (B, C, 1)
    x = (x - mean) * torch.rsqrt(var + norm.eps)  # (B, C, T)
    return x * norm.weight[None, :, None] + norm.bias[None, :, None]


class FeatureEncoder(nn.Module):
    """Raw waveform -> conv features, one frame per ``dims.stride`` samples."""

    def __init__(self, dims: EncoderDims):
        super().__init__()
        self.dims = dims
        layers = []
        in_dim = 1
        for i, (out_dim, kernel, stride) in enumerate(dims.conv_layers):
            if dims.extractor_mode == "layer_norm":
                norm: str | None = "layer"
            else:
                norm = "group" if i == 0 else None
            layers.append(ConvLayer(in_dim, out_dim, kernel, stride, bias=dims.conv_bias, norm=norm))
            in_dim = out_dim
        self.conv_layers = nn.ModuleList(layers)

    def forward(self, wave: Tensor, lengths: Tensor) -> Tensor:
        """wave (B, T) float32, lengths (B,) -> features (B, F, C)."""
        x = wave[:, None, :]  # (B, 1, T)
        for layer, (_, kernel, stride) in zip(self.conv_layers, self.dims.conv_layers, strict=True):
            lengths = conv_output_lengths(lengths, ((0, kernel, stride),))
            valid = lengths_to_mask(lengths, (x.shape[-1] - kernel) // stride + 1)
            x = layer(x, valid)  # (B, C, T')
        return x.transpose(1, 2)  # (B, F, C)


class FeatureProjection(nn.Module):
    """LayerNorm -> Linear(C, D) -> dropout; also returns the normalised features the quantizer reads."""

    def __init__(self, dims: EncoderDims):
        super().__init__()
        self.layer_norm = nn.LayerNorm(dims.conv_dim)
        self.projection = nn.Linear(dims.conv_dim, dims.embed_dim)
        self.dropout = nn.Dropout(dims.feature_dropout)

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """features (B, F, C) -> (projected (B, F, D), normalised (B, F, C))."""
        normed = self.layer_norm(features)  # (B, F, C)
        return self.dropout(self.projection(normed)), normed
