"""The context network: convolutional positional embedding + Transformer, offline and chunk by chunk."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from ivr.model.dims import EncoderDims


def attention_mask(valid: Tensor, kind: str, chunk_frames: int, left_chunks: int) -> Tensor:
    """(B, F) valid frames -> (B, F, F) bool, True where query frame t may attend key frame s.

    "full": every valid frame. "block_causal": frames of t's chunk and of the ``left_chunks`` chunks before
    it, which is exactly what the streaming cache holds. Every frame may see itself, so padded query rows
    are never empty (an empty softmax row is NaN, and NaN values leak even through zero weights).
    """
    width = valid.shape[1]
    allowed = valid[:, None, :]  # (B, 1, F)
    if kind == "block_causal":
        chunk = torch.arange(width, device=valid.device) // chunk_frames  # (F,)
        behind = chunk[:, None] - chunk[None, :]  # (F, F): how many chunks key s lies behind query t
        allowed = allowed & ((behind >= 0) & (behind <= left_chunks))[None]  # (B, F, F)
    eye = torch.eye(width, dtype=torch.bool, device=valid.device)[None]  # (1, F, F)
    return allowed | eye


@dataclass(frozen=True, slots=True)
class ContextCache:
    """What the context network carries from one chunk to the next, batched over calls."""

    pos_past: Tensor  # (B, K-1, D): last inputs of the causal positional conv
    keys: Tensor  # (L, B, H, M, hd): per layer, keys of the last left_chunks chunks (M frames, newest last)
    values: Tensor  # (L, B, H, M, hd)
    cached: Tensor  # (B,) int64: how many of the M cached frames are real (the rest precede the call)


class PositionalConv(nn.Module):
    """Grouped conv over frames, weight-normed over the kernel axis; causal in block-causal mode."""

    def __init__(self, dims: EncoderDims):
        super().__init__()
        self.kernel = dims.pos_conv_kernel
        self.causal = dims.attention == "block_causal"
        D = dims.embed_dim
        conv = nn.Conv1d(D, D, self.kernel, groups=dims.pos_conv_groups)
        nn.init.normal_(conv.weight, mean=0.0, std=math.sqrt(4.0 / (self.kernel * D)))
        nn.init.zeros_(conv.bias)  # type: ignore[arg-type]  # always set: bias=True
        self.conv = weight_norm(conv, name="weight", dim=2)

    def forward(self, x: Tensor) -> Tensor:
        """x (B, F, D) -> (B, F, D)."""
        width = x.shape[1]
        left, right = (self.kernel - 1, 0) if self.causal else (self.kernel // 2, self.kernel // 2)
        y = self.conv(F.pad(x.transpose(1, 2), (left, right)))  # (B, D, F), or F + 1 for an even kernel
        return F.gelu(y[..., :width]).transpose(1, 2)

    def step(self, x: Tensor, past: Tensor) -> tuple[Tensor, Tensor]:
        """Causal mode only: x (B, C, D) after ``past`` (B, K-1, D) -> (B, C, D), new past."""
        joined = torch.cat([past, x], dim=1)  # (B, K-1+C, D)
        y = self.conv(joined.transpose(1, 2))  # (B, D, C)
        return F.gelu(y).transpose(1, 2), joined[:, joined.shape[1] - past.shape[1] :]


class SelfAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int, dropout: float):
        super().__init__()
        self.num_heads = num_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(
        self, x: Tensor, mask: Tensor, past: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, T, D), mask (B, T, S) with S = cached + T -> (B, T, D) and this layer's keys/values (B, H, S, hd)."""
        B, T, D = x.shape
        q, k, v = (
            p(x).reshape(B, T, self.num_heads, -1).transpose(1, 2)
            for p in (self.q_proj, self.k_proj, self.v_proj)
        )
        if past is not None:
            k = torch.cat([past[0], k], dim=2)  # (B, H, S, hd)
            v = torch.cat([past[1], v], dim=2)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None], dropout_p=p)  # (B, H, T, hd)
        return self.out_proj(y.transpose(1, 2).reshape(B, T, D)), k, v


class FeedForward(nn.Module):
    def __init__(self, dims: EncoderDims):
        super().__init__()
        self.fc1 = nn.Linear(dims.embed_dim, dims.ffn_dim)
        self.fc2 = nn.Linear(dims.ffn_dim, dims.embed_dim)
        self.activation_dropout = nn.Dropout(dims.activation_dropout)
        self.dropout = nn.Dropout(dims.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.fc2(self.activation_dropout(F.gelu(self.fc1(x)))))


class TransformerLayer(nn.Module):
    """Self-attention + feed-forward; post-LN (base) or pre-LN (``layer_norm_first``, large and tiny-8k)."""

    def __init__(self, dims: EncoderDims):
        super().__init__()
        self.layer_norm_first = dims.layer_norm_first
        self.attention = SelfAttention(dims.embed_dim, dims.num_heads, dims.attention_dropout)
        self.dropout = nn.Dropout(dims.dropout)
        self.layer_norm = nn.LayerNorm(dims.embed_dim)
        self.feed_forward = FeedForward(dims)
        self.final_layer_norm = nn.LayerNorm(dims.embed_dim)

    def forward(
        self, x: Tensor, mask: Tensor, past: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, T, D) -> (B, T, D) and the keys/values the streaming cache keeps."""
        if self.layer_norm_first:
            y, k, v = self.attention(self.layer_norm(x), mask, past)
            x = x + self.dropout(y)
            x = x + self.feed_forward(self.final_layer_norm(x))
        else:
            y, k, v = self.attention(x, mask, past)
            x = self.layer_norm(x + self.dropout(y))
            x = self.final_layer_norm(x + self.feed_forward(x))
        return x, k, v


class TransformerEncoder(nn.Module):
    """Positional conv + LayerNorm + Transformer layers over projected (possibly masked) features."""

    def __init__(self, dims: EncoderDims):
        super().__init__()
        self.dims = dims
        self.pos_conv = PositionalConv(dims)
        self.layer_norm = nn.LayerNorm(dims.embed_dim)
        self.dropout = nn.Dropout(dims.dropout)
        self.layers = nn.ModuleList(TransformerLayer(dims) for _ in range(dims.num_layers))

    def forward(
        self, x: Tensor, valid: Tensor, attention: str | None = None
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """x (B, F, D), valid (B, F) -> (frames (B, F, D), (input of layer 0, output of each layer)).

        ``attention`` overrides the dims' mask kind for this call (stage 1 may pre-train a streaming model
        with full attention); the positional conv keeps its own kind, so the weights stay those of the dims.
        """
        d = self.dims
        x = x * valid[..., None].to(x.dtype)  # zero padding: the conv then sees what a lone utterance would
        x = x + self.pos_conv(x)  # (B, F, D)
        if not d.layer_norm_first:
            x = self.layer_norm(x)
        x = self.dropout(x)
        mask = attention_mask(valid, attention or d.attention, d.chunk_frames, d.left_chunks)  # (B, F, F)
        hidden = [x]
        for layer in self.layers:
            if not (self.training and d.layer_drop > 0 and float(torch.rand(())) < d.layer_drop):
                x, _, _ = layer(x, mask)
            hidden.append(x)
        if d.layer_norm_first:
            x = self.layer_norm(x)
        return x, tuple(hidden)

    def step(self, x: Tensor, valid_count: Tensor, cache: ContextCache) -> tuple[Tensor, ContextCache]:
        """One block-causal chunk: x (B, C, D) with ``valid_count`` (B,) real frames -> (B, C, D), new cache.

        The same arithmetic as ``forward`` under the block-causal mask; the cache update assumes a full chunk
        (a partial chunk only ever ends a call).
        """
        d = self.dims
        C = x.shape[1]
        M = cache.keys.shape[3]
        valid = torch.arange(C, device=x.device)[None, :] < valid_count[:, None]  # (B, C)
        x = x * valid[..., None].to(x.dtype)
        pos, pos_past = self.pos_conv.step(x, cache.pos_past)
        x = x + pos  # (B, C, D)
        if not d.layer_norm_first:
            x = self.layer_norm(x)
        past_valid = torch.arange(M, device=x.device)[None, :] >= (M - cache.cached)[:, None]  # (B, M)
        keys_valid = torch.cat([past_valid, valid], dim=1)  # (B, M + C)
        own = F.pad(torch.eye(C, dtype=torch.bool, device=x.device), (M, 0))  # (C, M + C)
        mask = keys_valid[:, None, :] | own[None]  # (B, C, M + C)
        new_keys, new_values = [], []
        for i, layer in enumerate(self.layers):
            x, k, v = layer(x, mask, (cache.keys[i], cache.values[i]))
            new_keys.append(k[:, :, k.shape[2] - M :])  # keep the newest M frames
            new_values.append(v[:, :, v.shape[2] - M :])
        if d.layer_norm_first:
            x = self.layer_norm(x)
        cached = (cache.cached + C).clamp_max(M)
        return x, ContextCache(pos_past, torch.stack(new_keys), torch.stack(new_values), cached)
