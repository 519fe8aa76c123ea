"""From CTC log-probabilities to the phoneme ids a text head reads: greedy, or beam search with an LM.

The beam search is a prefix search with a phoneme language model (shallow fusion), frame by frame.
Each prefix (the symbols printed so far, blanks dropped and repeats merged) keeps two CTC
probabilities, ending in a blank or not, as in Hannun et al. (2014). A prefix is ranked by
``log P_ctc + weight * log P_lm + length_bonus * symbols``; the length bonus offsets the LM's cost per
symbol, which would otherwise favour dropping phonemes. The search is frame-synchronous, so a call's
beams advance packet by packet and end where a search over the whole utterance ends.

Word boundaries follow ``clean_ids``: a boundary at the start or after another is not a symbol to the
LM and earns no bonus, since the printed decode drops it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ivr.model.phoneme_intent import SPACE_ID, clean_ids
from ivr.model.phoneme_lm import History, PhonemeLM

NEG_INF = -math.inf
Prefix = tuple[int, ...]
# Per prefix: [log P(ending in blank), log P(ending in a symbol), LM log-probability, LM history, symbols].
# Lists, not dataclasses: the inner loop touches millions of them per minute of audio.
Entry = list
Beams = dict[Prefix, Entry]


def greedy_ids(log_probs: npt.NDArray[np.floating]) -> list[int]:
    """(F, V) log-probabilities -> ids: arg-max per frame, repeats merged, blanks (0) dropped."""
    if not len(log_probs):
        return []
    best = log_probs.argmax(-1)
    keep = np.concatenate([[True], best[1:] != best[:-1]]) & (best != 0)
    return [int(i) for i in best[keep]]


def decoder_for(lm: PhonemeLM | None) -> Callable[[npt.NDArray[np.floating]], list[int]]:
    """How a model turns one utterance's (F, V) CTC log-probs into cleaned ids: with its LM if it has one."""
    if lm is None:
        return lambda log_probs: clean_ids(greedy_ids(log_probs))
    return CTCBeamSearch.of(lm).decode


def spell(ids: Sequence[int], vocab: Sequence[str]) -> str:
    """Cleaned ids as the CTC vocabulary's symbols, words separated by one space."""
    return " ".join("".join(vocab[i] for i in ids if i < len(vocab)).split())


def log_add(a: float, b: float) -> float:
    if a < b:
        a, b = b, a
    if b == NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a))


@dataclass(frozen=True, slots=True)
class CTCBeamSearch:
    """Decoding settings plus the LM (None: a plain prefix beam search)."""

    lm: PhonemeLM | None
    weight: float = 0.5
    length_bonus: float = 2.0
    beam: int = 8
    prune: float = 8.0  # symbols more than this many nats below a frame's best are not extended

    @classmethod
    def of(cls, lm: PhonemeLM) -> CTCBeamSearch:
        """The search with the settings stored beside ``lm`` in a checkpoint."""
        return cls(lm, lm.dims.weight, lm.dims.length_bonus, lm.dims.beam)

    def start(self) -> Beams:
        history = self.lm.start() if self.lm is not None else ()
        return {(): [0.0, NEG_INF, 0.0, history, 0]}

    def advance(self, beams: Beams, log_probs: npt.NDArray[np.floating]) -> Beams:
        """The beams after frames (F, V) of CTC log-probabilities; ``beams`` itself is left as it was."""
        rows = np.asarray(log_probs, np.float64)
        if not len(rows):
            return beams
        near = rows >= rows.max(-1, keepdims=True) - self.prune  # symbols worth extending, per frame
        near[:, 0] = False
        for row, candidates in zip(rows.tolist(), near.tolist(), strict=True):
            beams = self._step(beams, row, [c for c, keep in enumerate(candidates) if keep])
        return beams

    def _step(self, beams: Beams, row: list[float], candidates: list[int]) -> Beams:
        blank = row[0]
        extended: Beams = {}
        for prefix, (p_blank, p_symbol, lm_score, history, length) in beams.items():
            total = log_add(p_blank, p_symbol)
            same = extended.get(prefix)
            if same is None:
                same = extended[prefix] = [NEG_INF, NEG_INF, lm_score, history, length]
            same[0] = log_add(same[0], total + blank)
            last = prefix[-1] if prefix else -1
            for c in candidates:
                p = row[c]
                if c == last:  # a repeat merges unless a blank came between
                    same[1] = log_add(same[1], p_symbol + p)
                    source = p_blank + p
                else:
                    source = total + p
                if source == NEG_INF:
                    continue
                longer = (*prefix, c)
                entry = extended.get(longer)
                if entry is None:
                    entry = extended[longer] = self._extend(prefix, c, lm_score, history, length)
                entry[1] = log_add(entry[1], source)
        if len(extended) <= self.beam:
            return extended
        weight, bonus = self.weight, self.length_bonus
        entries = list(extended.items())
        scores = [log_add(e[0], e[1]) + weight * e[2] + bonus * e[4] for _, e in entries]
        # Stable and descending: ties keep their order of insertion.
        keep = sorted(range(len(entries)), key=scores.__getitem__, reverse=True)[: self.beam]
        return dict(entries[i] for i in keep)

    def _extend(self, prefix: Prefix, symbol: int, lm_score: float, history: History, length: int) -> Entry:
        if symbol == SPACE_ID and (not prefix or prefix[-1] == SPACE_ID):
            return [NEG_INF, NEG_INF, lm_score, history, length]  # printed as nothing: no LM step
        if self.lm is None:
            return [NEG_INF, NEG_INF, lm_score, history, length + 1]
        log_prob, after = self.lm.step(history, symbol)
        return [NEG_INF, NEG_INF, lm_score + log_prob, after, length + 1]

    def _score(self, entry: Entry) -> float:
        return log_add(entry[0], entry[1]) + self.weight * entry[2] + self.length_bonus * entry[4]

    def _final(self, entry: Entry) -> float:
        end = self.weight * self.lm.log_prob(entry[3], self.lm.dims.eos) if self.lm is not None else 0.0
        return self._score(entry) + end

    def best(self, beams: Beams) -> list[int]:
        """The best prefix as the sentence ends (the LM's end-of-sentence cost included), cleaned."""
        prefix = max(beams.items(), key=lambda kv: self._final(kv[1]))[0]
        return clean_ids(prefix)

    def decode(self, log_probs: npt.NDArray[np.floating]) -> list[int]:
        """The best cleaned decode of a whole utterance's (F, V) CTC log-probabilities."""
        return self.best(self.advance(self.start(), log_probs))
