"""A phoneme n-gram language model for the CTC decoder: interpolated Kneser-Ney, stored as tensors.

The acoustic model misreads about one phoneme in five on held-out calls, and the intent text head
reads what the decoder prints. The phrase bank says which phoneme sequences callers produce, so a
beam search that weighs the CTC posteriors against an n-gram over those sequences (shallow fusion,
``ivr.model.ctc_decode``) prints far fewer wrong phonemes than the greedy decode. The model sits in the
checkpoint beside the heads, as tables of n-gram keys and log-probabilities (ARPA's backoff form of
interpolated Kneser-Ney, Chen & Goodman 1998), so loading it parses tensors and nothing else.

Symbols are the CTC vocabulary without the blank: ``SPACE_ID`` (the word boundary) and the phonemes.
Two more are added for sentence context: ``bos`` pads the history before the first symbol, ``eos``
ends a sentence.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ivr.model.dims import reject_unknown_fields

History = tuple[int, ...]
CACHE_LIMIT = 1_000_000  # looked-up probabilities kept; a long-running server must not grow without bound


@dataclass(frozen=True, slots=True)
class PhonemeLMDims:
    """Shape of a ``PhonemeLM`` and how the beam search uses it; stored in checkpoint metadata."""

    vocab_size: int  # CTC vocabulary, blank (0) included; bos = vocab_size, eos = vocab_size + 1
    order: int = 5  # n: a symbol is predicted from the n - 1 before it
    entries: tuple[int, ...] = ()  # n-grams stored per order 1..n (fixes the tensor shapes on load)
    contexts: tuple[int, ...] = ()  # histories with a backoff weight per order 2..n
    weight: float = 0.5  # alpha: LM log-probability added per symbol, times this
    length_bonus: float = 2.0  # beta: added per symbol, so the LM's cost does not favour deletions
    beam: int = 8  # prefixes kept per frame

    def __post_init__(self) -> None:
        if self.vocab_size < 3 or self.order < 1 or self.beam < 1 or self.weight < 0:
            raise ValueError(f"invalid PhonemeLMDims: sizes must be positive, weight >= 0, got {self}")
        if self.entries and len(self.entries) != self.order:
            raise ValueError(
                f"invalid PhonemeLMDims: {len(self.entries)} entry counts for order {self.order}"
            )
        if self.contexts and len(self.contexts) != self.order - 1:
            raise ValueError(
                f"invalid PhonemeLMDims: {len(self.contexts)} context counts for order {self.order}"
            )

    @property
    def bos(self) -> int:
        return self.vocab_size

    @property
    def eos(self) -> int:
        return self.vocab_size + 1

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["entries"], d["contexts"] = list(self.entries), list(self.contexts)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PhonemeLMDims:
        reject_unknown_fields(cls, d)
        d = dict(d)
        for name in ("entries", "contexts"):
            d[name] = tuple(int(n) for n in d.get(name, ()))
        return cls(**d)


class PhonemeLM(nn.Module):
    """log P(symbol | the n - 1 symbols before it), with backoff to shorter histories."""

    def __init__(self, dims: PhonemeLMDims):
        super().__init__()
        if len(dims.entries) != dims.order or len(dims.contexts) != dims.order - 1:
            raise ValueError(
                "a PhonemeLM is built from dims that count its entries (PhonemeLM.fit writes them)"
            )
        self.dims = dims
        for n, size in enumerate(dims.entries, start=1):
            self.register_buffer(f"keys{n}", torch.zeros(size, dtype=torch.int64))
            self.register_buffer(f"logp{n}", torch.zeros(size, dtype=torch.float32))
        for n, size in enumerate(dims.contexts, start=2):
            self.register_buffer(f"context_keys{n}", torch.zeros(size, dtype=torch.int64))
            self.register_buffer(f"backoff{n}", torch.zeros(size, dtype=torch.float32))
        self._tables: tuple[list[dict[int, float]], list[dict[int, float]]] | None = None
        self._cache: dict[tuple[History, int], tuple[float, History]] = {}

    @classmethod
    def fit(
        cls, sentences: Iterable[Sequence[int]], dims: PhonemeLMDims, *, discount: float = 0.75
    ) -> PhonemeLM:
        """Interpolated Kneser-Ney with one absolute ``discount`` on every order, from symbol sequences."""
        if not 0 < discount < 1:
            raise ValueError(f"discount must be in (0, 1), got {discount}")
        counts = ngram_counts(sentences, dims)
        if not counts[0]:
            raise ValueError("a phoneme LM needs at least one non-empty sentence")
        probs, backoffs = kneser_ney(counts, dims, discount)
        dims = dataclasses.replace(
            dims,
            entries=tuple(len(p) for p in probs),
            contexts=tuple(len(b) for b in backoffs[1:]),
        )
        lm = cls(dims)
        base = dims.vocab_size + 2
        for n, table in enumerate(probs, start=1):
            keys = sorted(table)
            getattr(lm, f"keys{n}").copy_(torch.tensor([encode(k, base) for k in keys], dtype=torch.int64))
            getattr(lm, f"logp{n}").copy_(torch.tensor([math.log(table[k]) for k in keys]))
        for n, table in enumerate(backoffs[1:], start=2):
            keys = sorted(table)
            getattr(lm, f"context_keys{n}").copy_(
                torch.tensor([encode(k, base) for k in keys], dtype=torch.int64)
            )
            getattr(lm, f"backoff{n}").copy_(torch.tensor([math.log(table[k]) for k in keys]))
        return lm

    def start(self) -> History:
        """The history before a sentence's first symbol."""
        return (self.dims.bos,) * (self.dims.order - 1)

    def advance(self, history: History, symbol: int) -> History:
        """The history after ``symbol``: the last order - 1 symbols."""
        return (*history, symbol)[1 - self.dims.order :] if self.dims.order > 1 else ()

    def log_prob(self, history: History, symbol: int) -> float:
        """log P(symbol | history); ``history`` holds the last order - 1 symbols (``start``/``advance``)."""
        return self.step(history, symbol)[0]

    def step(self, history: History, symbol: int) -> tuple[float, History]:
        """(log P(symbol | history), the history after it) in one cached lookup: the beam search's
        inner loop asks for both, for the same few histories, hundreds of times a second."""
        key = (history, symbol)
        cached = self._cache.get(key)
        if cached is None:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            cached = self._cache[key] = (self._log_prob(history, symbol), self.advance(history, symbol))
        return cached

    def _log_prob(self, history: History, symbol: int) -> float:
        probs, backoffs = self._lookup()
        base = self.dims.vocab_size + 2
        penalty = 0.0
        for n in range(min(len(history) + 1, self.dims.order), 0, -1):
            context = history[len(history) - (n - 1) :] if n > 1 else ()
            hit = probs[n - 1].get(encode((*context, symbol), base))
            if hit is not None:
                return penalty + hit
            if n > 1:
                penalty += backoffs[n - 1].get(encode(context, base), 0.0)
        return penalty + math.log(1e-6)  # a symbol the text never had (the blank, a foreign phoneme)

    def _lookup(self) -> tuple[list[dict[int, float]], list[dict[int, float]]]:
        """The tensors as dicts, built on first use (the beam search looks up symbols one at a time)."""
        if self._tables is None:
            probs = [
                dict(zip(getattr(self, f"keys{n}").tolist(), getattr(self, f"logp{n}").tolist(), strict=True))
                for n in range(1, self.dims.order + 1)
            ]
            backoffs: list[dict[int, float]] = [{}]
            for n in range(2, self.dims.order + 1):
                keys, values = (
                    getattr(self, f"context_keys{n}").tolist(),
                    getattr(self, f"backoff{n}").tolist(),
                )
                backoffs.append(dict(zip(keys, values, strict=True)))
            self._tables = (probs, backoffs)
        return self._tables

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._tables, self._cache = None, {}  # new tensors: rebuild the lookup on next use

    def sentence_log_prob(self, symbols: Sequence[int]) -> float:
        """log P(symbols, then end of sentence): what a test compares with hand-computed values."""
        history, total = self.start(), 0.0
        for s in [*symbols, self.dims.eos]:
            total += self.log_prob(history, s)
            history = self.advance(history, s)
        return total


def encode(symbols: Sequence[int], base: int) -> int:
    """An n-gram as one integer (a number in base ``base``, leading symbol most significant)."""
    key = 0
    for s in symbols:
        key = key * base + int(s)
    return key


def ngram_counts(sentences: Iterable[Sequence[int]], dims: PhonemeLMDims) -> list[dict[History, int]]:
    """Counts of every n-gram of order 1..n, sentences padded with bos before and eos after."""
    counts: list[dict[History, int]] = [defaultdict(int) for _ in range(dims.order)]
    for sentence in sentences:
        if not len(sentence):
            continue
        if min(sentence) < 1 or max(sentence) >= dims.vocab_size:
            raise ValueError(f"symbols must lie in [1, {dims.vocab_size}) (no blank), got {list(sentence)}")
        symbols = [dims.bos] * (dims.order - 1) + [int(s) for s in sentence] + [dims.eos]
        for end in range(dims.order - 1, len(symbols)):
            for n in range(1, dims.order + 1):
                counts[n - 1][tuple(symbols[end - n + 1 : end + 1])] += 1
    return counts


def kneser_ney(
    counts: list[dict[History, int]], dims: PhonemeLMDims, discount: float
) -> tuple[list[dict[History, float]], list[dict[History, float]]]:
    """(P(w | h) per stored n-gram, backoff weight per history) for every order, interpolated.

    The top order uses raw counts, lower orders continuation counts (how many distinct symbols
    precede an n-gram), which is what makes Kneser-Ney predict well for unseen histories.
    """
    order = dims.order
    effective: list[dict[History, int]] = []
    for n in range(1, order + 1):
        if n == order:
            effective.append(dict(counts[n - 1]))
        else:
            continuation: dict[History, int] = defaultdict(int)
            for gram in counts[n]:
                continuation[gram[1:]] += 1
            effective.append(dict(continuation))
    probs: list[dict[History, float]] = []
    backoffs: list[dict[History, float]] = []
    predicted = [*range(1, dims.vocab_size), dims.eos]  # every symbol the model predicts
    for n in range(1, order + 1):
        totals: dict[History, int] = defaultdict(int)
        types: dict[History, int] = defaultdict(int)
        for gram, c in effective[n - 1].items():
            totals[gram[:-1]] += c
            types[gram[:-1]] += 1
        gamma = {h: discount * types[h] / totals[h] for h in totals}
        backoffs.append(gamma)
        table: dict[History, float] = {}
        if n == 1:
            floor = gamma[()] / len(predicted)
            for s in predicted:
                c = effective[0].get((s,), 0)
                table[(s,)] = max(c - discount, 0) / totals[()] + floor
        else:
            for gram, c in effective[n - 1].items():
                h = gram[:-1]
                table[gram] = max(c - discount, 0) / totals[h] + gamma[h] * _backed_off(
                    probs, backoffs, gram[1:]
                )
        probs.append(table)
    return probs, backoffs


def _backed_off(
    probs: list[dict[History, float]], backoffs: list[dict[History, float]], gram: History
) -> float:
    """P(gram[-1] | gram[:-1]) from the orders built so far, backing off through unseen histories."""
    scale = 1.0
    for n in range(len(gram), 0, -1):
        g = gram[len(gram) - n :]
        if g in probs[n - 1]:
            return scale * probs[n - 1][g]
        if n > 1:
            scale *= backoffs[n - 1].get(g[:-1], 1.0)
    raise AssertionError(f"unigram table lacks {gram[-1]}")  # every predicted symbol has a unigram
