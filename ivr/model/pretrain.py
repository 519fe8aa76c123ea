"""The self-supervised objective: contrastive task over quantized targets + diversity + feature penalty."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ivr.model.encoder import Wav2Vec2Encoder
from ivr.model.features import lengths_to_mask

NUM_NEGATIVES = 100  # K distractors per masked frame (paper)
LOGIT_TEMPERATURE = 0.1  # kappa in the contrastive softmax (paper)
COSINE_EPS = 1e-8  # F.cosine_similarity's floor on a vector's norm
DIVERSITY_WEIGHT = 0.1  # alpha (paper)
# Weight of the L2 penalty on conv features, per extractor mode, as in fairseq's configs: 10 for base
# (group norm), 0 for large (layer norm). With layer norm everywhere the penalty can only be paid by
# shrinking the norms' gains, which starves the quantizer: our first tiny_8k runs collapsed to one code.
FEATURE_PENALTY_WEIGHTS = {"group_norm": 10.0, "layer_norm": 0.0}


@dataclass(frozen=True, slots=True)
class PretrainLosses:
    total: Tensor  # () contrastive + alpha * diversity + feature_penalty_weight * feature_penalty
    contrastive: Tensor  # () mean over masked frames of -log p(true target)
    diversity: Tensor  # () (GV - perplexity) / GV, in [0, 1)
    feature_penalty: Tensor  # ()
    accuracy: Tensor  # () fraction of masked frames whose true target scores highest
    temperature: float  # Gumbel temperature used


def gumbel_temperature(
    num_updates: int, start: float = 2.0, end: float = 0.5, decay: float = 0.999995
) -> float:
    """Annealed from 2 to 0.5 by a factor 0.999995 per update (paper)."""
    return max(start * decay**num_updates, end)


def diversity_loss(perplexity: Tensor, num_codebooks: int, codebook_size: int) -> Tensor:
    """(GV - perplexity) / GV: 0 when the batch uses every entry equally, 1 - 1/V when it uses one."""
    entries = num_codebooks * codebook_size
    return (entries - perplexity) / entries


def sample_negatives(num_masked: int, num_negatives: int, generator: torch.Generator | None = None) -> Tensor:
    """(n, K) indices of distractors for each of n masked frames: other masked frames, no repeats, never itself."""
    k = min(num_negatives, num_masked - 1)
    scores = torch.rand(num_masked, num_masked, generator=generator)  # (n, n) in [0, 1)
    scores.fill_diagonal_(2.0)  # self sorts last
    return scores.argsort(dim=1)[:, :k]  # (n, K)


def cosine_matrix(a: Tensor, b: Tensor, eps: float = COSINE_EPS) -> Tensor:
    """(n, E), (m, E) -> (n, m) float32 cosine similarities, each norm clamped at ``eps`` as
    ``F.cosine_similarity`` does; in float32 under autocast too (divided by the temperature of 0.1, bf16's
    three digits would blur the targets' scores)."""
    with torch.autocast(a.device.type, enabled=False):
        return F.normalize(a.float(), dim=-1, eps=eps) @ F.normalize(b.float(), dim=-1, eps=eps).T


def contrastive_loss(
    predictions: Tensor,
    targets: Tensor,
    mask: Tensor,
    *,
    num_negatives: int = NUM_NEGATIVES,
    temperature: float = LOGIT_TEMPERATURE,
    generator: torch.Generator | None = None,
    exclude_identical: bool = False,
) -> tuple[Tensor, Tensor]:
    """predictions, targets (B, F, E), mask (B, F) -> (mean loss, accuracy) over masked frames.

    For each masked frame: softmax over cosine similarities / temperature of its prediction with its own
    target and K targets of other masked frames of the same utterance.

    fairseq leaves out a distractor equal to the target (the same code chosen twice). We keep it by
    default: leaving it out rewards codebook collapse, since once every frame picks the same code no
    distractor is left and the loss is exactly 0. Our tiny_8k run fell into that within 900 steps
    (contrastive 0.0, diversity 0.994). Kept, identical distractors make collapse the worst outcome,
    log(1 + K); with G x V codes in use they are rare, so the task is otherwise the same.
    """
    losses, correct, count = [], [], 0
    for b in range(predictions.shape[0]):
        index = mask[b].nonzero().squeeze(1)  # (n,)
        if len(index) < 2:
            continue
        pred, target = predictions[b, index], targets[b, index]  # (n, E)
        negatives = sample_negatives(len(index), num_negatives, generator).to(pred.device)  # (n, K)
        # Every prediction against every target once, then each row's own target and its distractors
        # picked out of that matrix: indexing the targets themselves by ``negatives`` would backpropagate
        # through an accumulating index_put, whose CPU threads add in a different order on every run.
        similarity = cosine_matrix(pred, target)  # (n, n)
        logits = torch.cat([similarity.diagonal()[:, None], similarity.gather(1, negatives)], dim=1)
        logits = logits / temperature  # (n, 1 + K)
        if exclude_identical:
            fixed = target.detach()
            same = (fixed[negatives] == fixed[:, None]).all(-1)  # (n, K)
            logits = torch.cat([logits[:, :1], logits[:, 1:].masked_fill(same, float("-inf"))], dim=1)
        zeros = torch.zeros(len(index), dtype=torch.long, device=logits.device)
        losses.append(F.cross_entropy(logits, zeros, reduction="sum"))
        # Correct only if the target beats every distractor: a tie (identical codes) is not a hit.
        correct.append((logits[:, :1] > logits[:, 1:]).all(-1).sum())
        count += len(index)
    if count == 0:
        zero = predictions.sum() * 0.0
        return zero, zero.detach()
    return torch.stack(losses).sum() / count, torch.stack(correct).sum().float() / count


def pretraining_loss(
    encoder: Wav2Vec2Encoder,
    wave: Tensor,
    lengths: Tensor,
    *,
    num_updates: int,
    generator: torch.Generator | None = None,
    attention: str | None = None,
) -> PretrainLosses:
    """wave (B, T), lengths (B,) -> the paper's loss on span-masked features, correct under padding.

    ``attention``: the context network's mask kind while pre-training, if not the encoder's own.
    """
    d = encoder.dims
    out = encoder(wave, lengths, mask=encoder.pretraining_masking(), attention=attention)
    assert out.mask is not None
    valid = lengths_to_mask(out.frame_lengths, out.frames.shape[1])  # (B, F)
    temperature = gumbel_temperature(num_updates)
    features = F.dropout(out.features, d.quantizer_dropout, training=encoder.training)
    quantized = encoder.quantizer(features, valid, temperature)
    targets = encoder.project_q(quantized.codevectors)  # (B, F, final_dim)
    predictions = encoder.final_proj(out.frames)  # (B, F, final_dim)
    contrastive, accuracy = contrastive_loss(predictions, targets, out.mask, generator=generator)
    diversity = diversity_loss(quantized.perplexity, d.num_codebooks, d.codebook_size)
    feature_penalty_weight = FEATURE_PENALTY_WEIGHTS[d.extractor_mode]
    total = contrastive + DIVERSITY_WEIGHT * diversity + feature_penalty_weight * out.feature_penalty
    return PretrainLosses(total, contrastive, diversity, out.feature_penalty, accuracy, temperature)
