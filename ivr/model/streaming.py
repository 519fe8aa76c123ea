"""Exact streaming inference for block-causal encoders: ``infer(encoder, chunk, lengths, state)``.

The modules hold no per-call state; everything a call carries between packets is an ``EncoderState``,
batched over calls so a scheduler can stack many calls into one forward pass and split them back.
Feeding a call through ``infer`` in any packet sizes, then once more with ``final=True``, yields the
same frames as one offline ``encoder(wave, lengths)`` (same block-causal mask, up to float rounding).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ivr.model.context import ContextCache
from ivr.model.ctc_decode import Beams, CTCBeamSearch
from ivr.model.dims import EncoderDims
from ivr.model.encoder import Wav2Vec2Encoder
from ivr.model.features import lengths_to_mask
from ivr.model.heads import PoolState
from ivr.model.model import IntentModel
from ivr.model.phoneme_intent import clean_ids, fuse, pad_ids


@dataclass(frozen=True, slots=True)
class EncoderState:
    """What a batch of calls carries between packets. Treat as immutable: ``infer`` returns a new one."""

    samples: Tensor  # (B, S) samples not yet covered by a whole frame (< receptive field + stride)
    sample_count: Tensor  # (B,) int64 real samples in ``samples``
    pending: Tensor  # (B, P, D) projected frames of the chunk being filled (P < chunk_frames)
    pending_count: Tensor  # (B,) int64
    cache: ContextCache  # positional-conv past and per-layer keys/values of the last left_chunks chunks
    frames_done: Tensor  # (B,) int64 frames emitted so far

    @property
    def batch_size(self) -> int:
        return int(self.sample_count.shape[0])


def init_state(dims: EncoderDims, batch: int = 1, *, device: torch.device | None = None) -> EncoderState:
    """The state of ``batch`` calls that have sent nothing yet."""
    D, H, M = dims.embed_dim, dims.num_heads, dims.left_chunks * dims.chunk_frames
    kv = torch.zeros(dims.num_layers, batch, H, M, D // H, device=device)
    zeros = torch.zeros(batch, dtype=torch.long, device=device)
    cache = ContextCache(
        torch.zeros(batch, dims.pos_conv_kernel - 1, D, device=device), kv, kv.clone(), zeros
    )
    return EncoderState(
        torch.zeros(batch, 0, device=device),
        zeros,
        torch.zeros(batch, 0, D, device=device),
        zeros,
        cache,
        zeros,
    )


@torch.no_grad()
def infer(
    encoder: Wav2Vec2Encoder,
    chunk: Tensor,
    lengths: Tensor,
    state: EncoderState,
    *,
    final: bool | Tensor = False,
) -> tuple[Tensor, Tensor, EncoderState]:
    """Advance each call by its new samples (the encoder should be in eval mode: dropout is not streamed).

    Args:
        chunk: (B, S) float32 new samples per call, right-padded; S may be 0.
        lengths: (B,) int64 real samples in each row of ``chunk``.
        state: the calls' state from ``init_state``/``stack_states`` or the previous ``infer``.
        final: bool or (B,) bool; the call ends here, so its last partial chunk is processed too.
            A state is finished after ``final``; start the next utterance from ``init_state``.

    Returns:
        frames (B, F, D) completed by this packet (whole chunks of ``chunk_frames``, zero-padded),
        frame_lengths (B,) int64, and the new state.
    """
    d = encoder.dims
    if not d.streamable:
        raise ValueError(
            "streaming needs attention='block_causal', a layer-norm extractor and no waveform normalisation"
        )
    _check(chunk, lengths, state)
    B, D, C = state.batch_size, d.embed_dim, d.chunk_frames
    final_rows = torch.as_tensor(final, dtype=torch.bool, device=chunk.device).expand(B)
    # 1. Conv encoder over the carried tail + the new samples; a frame needs its whole receptive field.
    wave, wave_len = _concat(
        state.samples, state.sample_count, chunk.to(state.samples.dtype), lengths
    )  # (B, T)
    new_frames = encoder.frame_lengths(wave_len)  # (B,)
    x = wave.new_zeros(B, 0, D)
    if wave.shape[1] >= d.receptive_field:
        x, _ = encoder.feature_projection(encoder.feature_encoder(wave, wave_len))  # (B, F, D)
    samples, sample_count = _drop(wave, wave_len, new_frames * d.stride)
    # 2. The context network works in whole chunks: queue frames until one fills (or the call ends).
    pending, pending_count = _concat(state.pending, state.pending_count, x, new_frames)  # (B, P, D)
    full = pending_count // C  # (B,)
    steps = full + (final_rows & (pending_count > full * C)).long()  # (B,)
    emitted = torch.where(final_rows, pending_count, full * C)  # (B,)
    frames, cache = _run_chunks(encoder, pending, pending_count, steps, emitted, state.cache)  # (B, F, D)
    frames = frames * lengths_to_mask(emitted, frames.shape[1])[..., None]
    pending, pending_count = _drop(pending, pending_count, emitted)
    new_state = EncoderState(
        samples, sample_count, pending, pending_count, cache, state.frames_done + emitted
    )
    return frames, emitted, new_state


def _run_chunks(
    encoder: Wav2Vec2Encoder,
    pending: Tensor,
    pending_count: Tensor,
    steps: Tensor,
    emitted: Tensor,
    cache: ContextCache,
) -> tuple[Tensor, ContextCache]:
    """Step s runs chunk s of every call that has one; calls with fewer chunks sit that step out."""
    B, D, C = pending.shape[0], pending.shape[2], encoder.dims.chunk_frames
    num_steps = int(steps.max()) if B else 0
    pending = _fit(pending, max(pending.shape[1], num_steps * C))  # room for a last partial chunk
    frames = pending.new_zeros(B, int(emitted.max()) if B else 0, D)  # (B, F, D)
    for s in range(num_steps):
        rows = (steps > s).nonzero().squeeze(1)  # (b,) calls with a chunk at this step
        everyone = len(rows) == B  # the usual case: skip gathering and scattering the cache
        sub = cache if everyone else _select_cache(cache, rows)
        count = (pending_count[rows] - s * C).clamp_max(C)  # (b,)
        y, sub = encoder.context.step(pending[rows, s * C : (s + 1) * C], count, sub)  # (b, C, D)
        width = min(C, frames.shape[1] - s * C)
        frames[rows, s * C : s * C + width] = y[:, :width]
        cache = sub if everyone else _scatter_cache(cache, rows, sub)
    return frames, cache


def stack_states(states: Sequence[EncoderState]) -> EncoderState:
    """Join the states of several calls (each batched) into one batch, in order."""

    def cat_padded(xs: list[Tensor]) -> Tensor:
        width = max(x.shape[1] for x in xs)
        return torch.cat([_fit(x, width) for x in xs])

    return EncoderState(
        cat_padded([s.samples for s in states]),
        torch.cat([s.sample_count for s in states]),
        cat_padded([s.pending for s in states]),
        torch.cat([s.pending_count for s in states]),
        ContextCache(
            torch.cat([s.cache.pos_past for s in states]),
            torch.cat([s.cache.keys for s in states], dim=1),
            torch.cat([s.cache.values for s in states], dim=1),
            torch.cat([s.cache.cached for s in states]),
        ),
        torch.cat([s.frames_done for s in states]),
    )


def select_state(state: EncoderState, rows: Tensor) -> EncoderState:
    """The state of calls ``rows`` (int64 indices) of a batch."""
    return EncoderState(
        state.samples[rows],
        state.sample_count[rows],
        state.pending[rows],
        state.pending_count[rows],
        _select_cache(state.cache, rows),
        state.frames_done[rows],
    )


def split_states(state: EncoderState) -> list[EncoderState]:
    """One state (batch of 1) per call."""
    device = state.sample_count.device
    return [select_state(state, torch.tensor([b], device=device)) for b in range(state.batch_size)]


@dataclass(frozen=True, slots=True)
class DecodeState:
    """The CTC decode of each call so far, kept for the phoneme (text) head.

    Greedy in ``ids``/``count``/``last``; with a phoneme LM, the beam search's prefixes per call in ``beams``.
    """

    ids: Tensor  # (B, U) int64 symbols, blanks dropped and repeats merged, padded with the blank (0)
    count: Tensor  # (B,) int64 symbols in ``ids``
    last: Tensor  # (B,) int64 arg-max of the call's last frame (the blank before its first)
    text_probs: Tensor | None = None  # (B, L) the text head's reading of the decode; None until first read
    beams: tuple[Beams, ...] | None = None  # per call, with a phoneme LM; None until the first frames


def init_decode(batch: int, *, device: torch.device | None = None) -> DecodeState:
    zeros = torch.zeros(batch, dtype=torch.long, device=device)
    return DecodeState(torch.zeros(batch, 0, dtype=torch.long, device=device), zeros, zeros)


def extend_decode(state: DecodeState, log_probs: Tensor, frame_lengths: Tensor) -> DecodeState:
    """Append the greedy decode of new frames (B, F, V) with frame_lengths (B,) valid.

    A repeat is merged across packets too (the previous packet's last arg-max is carried), so the
    running decode equals the greedy decode of the whole utterance.
    """
    if log_probs.shape[1] == 0:
        return state
    best = log_probs.argmax(-1)  # (B, F)
    previous = torch.cat([state.last[:, None], best[:, :-1]], dim=1)  # (B, F)
    keep = (best != previous) & (best != 0) & lengths_to_mask(frame_lengths, best.shape[1])
    order = torch.sort((~keep).long(), dim=1, stable=True).indices  # kept symbols first, in order
    ids, count = _concat(state.ids, state.count, best.gather(1, order), keep.sum(1))
    last_frame = best.gather(1, (frame_lengths - 1).clamp_min(0)[:, None]).squeeze(1)  # (B,)
    last = torch.where(frame_lengths > 0, last_frame, state.last)
    return DecodeState(ids, count, last, state.text_probs, state.beams)


def advance_beams(
    state: DecodeState, search: CTCBeamSearch, log_probs: Tensor, frame_lengths: Tensor
) -> DecodeState:
    """Advance every call's beam search by its valid new frames (B, F, V)."""
    beams = state.beams or tuple(search.start() for _ in range(log_probs.shape[0]))
    frames = log_probs.float().cpu().numpy()
    advanced = tuple(
        search.advance(b, frames[row, :n])
        for row, (b, n) in enumerate(zip(beams, frame_lengths.tolist(), strict=True))
    )
    return dataclasses.replace(state, beams=advanced)


def decoded_ids(state: DecodeState, search: CTCBeamSearch | None) -> list[list[int]]:
    """Each call's decode so far, cleaned: what the text head reads."""
    if search is not None and state.beams is not None:
        return [search.best(b) for b in state.beams]
    if search is not None:  # no frames yet
        return [[] for _ in range(len(state.count))]
    return [clean_ids(row[:n].tolist()) for row, n in zip(state.ids, state.count.tolist(), strict=True)]


@dataclass(frozen=True, slots=True)
class IntentStreamState:
    encoder: EncoderState
    pool: PoolState
    decode: DecodeState


class IntentStream:
    """Running intent probabilities for a batch of calls, updated packet by packet.

    With a phoneme head (stage 2b) and ``fusion_weight`` > 0 the probabilities are the fusion that
    ``ivr.runtime.classify`` computes offline: the audio head's pool and the text head's reading of
    the running CTC decode, so the decision at the end of an utterance is the shipped model's. It reads
    audio as it arrives, phone-band as calls bring it; ``Classifier`` also band-limits a full-band clip
    first (``ivr.audio.band.to_telephone_band``), which a stream cannot know of in advance: a transport
    whose calls skip a phone line band-limits them with ``ivr.audio.band.StreamingBandPass``. Nor does it
    hear the call through ``Classifier``'s voice views: a checkpoint's ``views`` apply offline only.
    """

    def __init__(self, model: IntentModel, *, fusion_weight: float = 0.0):
        if not 0 <= fusion_weight <= 1:
            raise ValueError(f"fusion_weight must be in [0, 1], got {fusion_weight}")
        self.model = model
        self.fused = model.phoneme_head is not None and model.ctc_head is not None and fusion_weight > 0
        self.fusion_weight = fusion_weight
        self.search = CTCBeamSearch.of(model.phoneme_lm) if model.phoneme_lm is not None else None

    def init_state(self, batch: int = 1, *, device: torch.device | None = None) -> IntentStreamState:
        dims = self.model.dims
        pool = self.model.intent_head.init_pool(batch, dims.embed_dim, device=device)
        return IntentStreamState(
            init_state(dims, batch, device=device), pool, init_decode(batch, device=device)
        )

    @torch.no_grad()
    def step(
        self, chunk: Tensor, lengths: Tensor, state: IntentStreamState, *, final: bool | Tensor = False
    ) -> tuple[Tensor, IntentStreamState]:
        """chunk (B, S), lengths (B,) -> calibrated probabilities (B, L) over every frame so far, new state.

        Before a call's first frame the probabilities are those of an empty pool (the head's prior),
        fused with the text head's reading of an empty decode.
        """
        head = self.model.intent_head
        frames, frame_lengths, encoder_state = infer(
            self.model.encoder, chunk, lengths, state.encoder, final=final
        )
        pool = head.accumulate(state.pool, frames, frame_lengths)
        probs = head.probabilities(head.logits_from(pool))
        decode = state.decode
        if self.fused:
            assert self.model.ctc_head is not None and self.model.phoneme_head is not None
            log_probs = self.model.ctc_head(frames)
            if self.search is not None:
                decode = advance_beams(decode, self.search, log_probs, frame_lengths)
            else:
                decode = extend_decode(decode, log_probs, frame_lengths)
            if decode.text_probs is None or bool((frame_lengths > 0).any()):
                # Frames arrive a chunk (320 ms) at a time: most packets leave every decode as it was.
                text_head = self.model.phoneme_head
                ids, id_lengths = pad_ids(decoded_ids(decode, self.search))
                text_probs = text_head.probabilities(
                    text_head(ids.to(chunk.device), id_lengths.to(chunk.device))
                )
                decode = dataclasses.replace(decode, text_probs=text_probs)
            assert decode.text_probs is not None
            text = decode.text_probs
            probs = fuse(probs, text, self.fusion_weight)
        return probs, IntentStreamState(encoder_state, pool, decode)


def _check(chunk: Tensor, lengths: Tensor, state: EncoderState) -> None:
    B = state.batch_size
    if chunk.dim() != 2 or chunk.shape[0] != B or not chunk.is_floating_point():
        raise ValueError(
            f"chunk must be a float ({B}, S) tensor for a state of {B} calls, got {tuple(chunk.shape)}"
        )
    if lengths.shape != (B,) or lengths.dtype != torch.int64:
        raise ValueError(f"lengths must be int64 of shape ({B},), got {tuple(lengths.shape)} {lengths.dtype}")
    if B and (bool((lengths < 0).any()) or bool((lengths > chunk.shape[1]).any())):
        raise ValueError(f"lengths must lie in [0, {chunk.shape[1]}], got {lengths.tolist()}")


def _fit(x: Tensor, width: int) -> Tensor:
    """Trim or zero-pad dim 1 of x (B, W, ...) to ``width``."""
    if x.shape[1] >= width:
        return x[:, :width]
    return torch.cat([x, x.new_zeros(x.shape[0], width - x.shape[1], *x.shape[2:])], dim=1)


def _take(x: Tensor, index: Tensor) -> Tensor:
    """x (B, W, ...) gathered along dim 1 with index (B, N) -> (B, N, ...)."""
    shape = (*index.shape, *([1] * (x.dim() - 2)))
    return x.gather(1, index.reshape(shape).expand(*index.shape, *x.shape[2:]))


def _rows_mask(mask: Tensor, x: Tensor) -> Tensor:
    """(B, W) -> broadcastable against x (B, W, ...)."""
    return mask.reshape(*mask.shape, *([1] * (x.dim() - 2)))


def _concat(a: Tensor, a_len: Tensor, b: Tensor, b_len: Tensor) -> tuple[Tensor, Tensor]:
    """Per row, a[:a_len] then b[:b_len], zero-padded on the right; (B, W, ...), lengths (B,)."""
    total = a_len + b_len
    width = int(total.max()) if len(total) else 0
    a, b = _fit(a, width), _fit(b, width)
    t = torch.arange(width, device=a.device)[None, :]  # (1, W)
    from_b = _take(b, (t - a_len[:, None]).clamp(0, max(width - 1, 0)))
    out = torch.where(_rows_mask(t < a_len[:, None], a), a, from_b)
    return out * _rows_mask(t < total[:, None], out), total


def _drop(x: Tensor, count: Tensor, n: Tensor) -> tuple[Tensor, Tensor]:
    """Per row, drop the first n of count entries: x[n:count], zero-padded; (B, W', ...), lengths (B,)."""
    left = count - n
    width = int(left.max()) if len(left) else 0
    if width == 0:
        return x[:, :0], left
    t = torch.arange(width, device=x.device)[None, :]  # (1, W')
    out = _take(x, (t + n[:, None]).clamp_max(x.shape[1] - 1))
    return out * _rows_mask(t < left[:, None], out), left


def _select_cache(cache: ContextCache, rows: Tensor) -> ContextCache:
    return ContextCache(cache.pos_past[rows], cache.keys[:, rows], cache.values[:, rows], cache.cached[rows])


def _scatter_cache(cache: ContextCache, rows: Tensor, sub: ContextCache) -> ContextCache:
    """A copy of ``cache`` with ``rows`` replaced by ``sub``; the input is left untouched."""
    return ContextCache(
        cache.pos_past.index_copy(0, rows, sub.pos_past),
        cache.keys.index_copy(1, rows, sub.keys),
        cache.values.index_copy(1, rows, sub.values),
        cache.cached.index_copy(0, rows, sub.cached),
    )
