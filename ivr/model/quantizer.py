"""Product quantization with Gumbel-softmax: the discrete targets of the contrastive task."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ivr.model.dims import EncoderDims


@dataclass(frozen=True, slots=True)
class QuantizerOutput:
    codevectors: Tensor  # (B, F, codevector_dim): G chosen entries, concatenated
    perplexity: Tensor  # (): sum over codebooks of exp(entropy) of the batch-averaged soft assignment
    avg_probs: Tensor  # (G, V): that average, over valid frames


def codebook_perplexity(avg_probs: Tensor) -> Tensor:
    """(G, V) average assignment -> sum_g exp(H(p_g)); G when every frame picks one entry, G*V when usage is uniform."""
    entropy = -(avg_probs * torch.log(avg_probs + 1e-7)).sum(-1)  # (G,)
    return torch.exp(entropy).sum()


class GumbelVectorQuantizer(nn.Module):
    """Chooses one of V entries in each of G codebooks per frame; hard in the forward pass, soft in the backward."""

    def __init__(self, dims: EncoderDims):
        super().__init__()
        self.num_codebooks = dims.num_codebooks
        self.codebook_size = dims.codebook_size
        self.weight_proj = nn.Linear(dims.conv_dim, dims.num_codebooks * dims.codebook_size)
        nn.init.normal_(self.weight_proj.weight, mean=0.0, std=1.0)
        nn.init.zeros_(self.weight_proj.bias)
        entry_dim = dims.codevector_dim // dims.num_codebooks
        self.codevectors = nn.Parameter(torch.rand(1, dims.num_codebooks * dims.codebook_size, entry_dim))

    def forward(self, features: Tensor, valid: Tensor, temperature: float) -> QuantizerOutput:
        """features (B, F, C), valid (B, F) bool; Gumbel noise at ``temperature`` in training, argmax in eval."""
        B, T, _ = features.shape
        G, V = self.num_codebooks, self.codebook_size
        logits = self.weight_proj(features).reshape(B * T, G, V).float()  # (N, G, V)
        if self.training:
            onehot = F.gumbel_softmax(logits, tau=temperature, hard=True, dim=-1)  # (N, G, V)
        else:
            onehot = F.one_hot(logits.argmax(-1), V).to(logits.dtype)  # (N, G, V)
        weights = valid.reshape(B * T, 1, 1).to(logits.dtype)  # (N, 1, 1)
        avg_probs = (logits.softmax(-1) * weights).sum(0) / weights.sum().clamp_min(1.0)  # (G, V)
        book = self.codevectors.reshape(G, V, -1).to(logits.dtype)  # (G, V, d)
        chosen = torch.einsum("ngv,gvd->ngd", onehot, book)  # (N, G, d)
        codevectors = chosen.reshape(B, T, -1).to(features.dtype)  # (B, F, G*d)
        return QuantizerOutput(codevectors, codebook_perplexity(avg_probs), avg_probs)
