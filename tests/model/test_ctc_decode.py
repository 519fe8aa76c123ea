"""CTC decoding: the beam search agrees with greedy where the acoustics are sure, and the LM decides where not."""

import itertools

import numpy as np
import pytest

from ivr.model.ctc_decode import CTCBeamSearch, decoder_for, greedy_ids, spell
from ivr.model.phoneme_intent import clean_ids
from ivr.model.phoneme_lm import PhonemeLM, PhonemeLMDims

V = 7


def frames(*rows):
    """Log-probs from per-frame probability dicts; the rest of each frame's mass spread evenly."""
    out = np.full((len(rows), V), 1e-3)
    for t, row in enumerate(rows):
        for symbol, p in row.items():
            out[t, symbol] = p
        out[t] /= out[t].sum()
    return np.log(out)


def sure(symbols):
    """A peaky utterance: each symbol for one frame, blanks between."""
    rows = []
    for s in symbols:
        rows += [{0: 0.99}, {s: 0.99}]
    return frames(*rows, {0: 0.99})


def test_without_an_lm_a_peaky_utterance_decodes_as_greedy():
    log_probs = sure([2, 3, 3, 1, 4])
    assert CTCBeamSearch(None).decode(log_probs) == clean_ids(greedy_ids(log_probs)) == [2, 3, 3, 1, 4]
    assert decoder_for(None)(log_probs) == [2, 3, 3, 1, 4]


def test_the_beam_sums_alignments_that_greedy_cannot():
    # Greedy reads blank, blank -> nothing (p 0.16); "3" sums three alignments: 0.35^2 + 2 x 0.35 x 0.4 = 0.40.
    log_probs = frames({0: 0.4, 3: 0.35, 2: 0.25}, {0: 0.4, 3: 0.35, 2: 0.25})
    assert clean_ids(greedy_ids(log_probs)) == []
    assert CTCBeamSearch(None, length_bonus=0.0).decode(log_probs) == [3]


def test_the_lm_resolves_an_ambiguous_phoneme_toward_text_it_knows():
    lm = PhonemeLM.fit([[2, 3, 4]] * 20 + [[5, 6]] * 20, PhonemeLMDims(vocab_size=V, order=3))
    log_probs = frames({0: 0.98}, {2: 0.98}, {0: 0.98}, {5: 0.5, 3: 0.45}, {0: 0.98}, {4: 0.98}, {0: 0.98})
    assert CTCBeamSearch(None).decode(log_probs) == [2, 5, 4]
    assert CTCBeamSearch(lm, weight=0.5, length_bonus=1.0).decode(log_probs) == [2, 3, 4]
    assert CTCBeamSearch.of(lm).decode(log_probs) == decoder_for(lm)(log_probs)


@pytest.mark.parametrize("cut", [1, 4, 7])
def test_advancing_in_pieces_ends_where_one_pass_ends(cut):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(12, V)) * 3
    log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    lm = PhonemeLM.fit([[2, 3, 4, 1, 5], [6, 2, 1, 3]], PhonemeLMDims(vocab_size=V, order=3))
    search = CTCBeamSearch(lm, beam=4)
    start = search.start()
    first = search.advance(start, log_probs[:cut])
    assert search.best(search.advance(first, log_probs[cut:])) == search.decode(log_probs)
    assert start == search.start()  # advancing leaves its input beams as they were


def test_word_boundaries_are_cleaned_like_the_greedy_decode():
    log_probs = sure([1, 2, 1, 1, 3, 1])
    assert CTCBeamSearch(None).decode(log_probs) == [2, 1, 3]
    assert spell([2, 1, 3], ["<blank>", " ", "a", "b"]) == "a b"


def test_an_empty_utterance_decodes_to_nothing():
    lm = PhonemeLM.fit([[2, 3]], PhonemeLMDims(vocab_size=V, order=2))
    assert CTCBeamSearch(lm).decode(np.zeros((0, V))) == []


def test_an_unpruned_search_finds_the_prefix_with_the_most_alignment_mass():
    # Brute force over every alignment of 5 frames of 4 symbols (1,024 paths): the collapsed prefix with
    # the largest total probability is what an unpruned prefix search must return.
    rng = np.random.default_rng(7)
    log_probs = np.log(rng.dirichlet(np.ones(4) * 0.7, size=5))
    mass: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(4), repeat=5):
        collapsed = tuple(s for t, s in enumerate(path) if s != 0 and (t == 0 or path[t - 1] != s))
        mass[collapsed] = mass.get(collapsed, 0.0) + float(
            np.exp(sum(log_probs[t, s] for t, s in enumerate(path)))
        )
    wide = CTCBeamSearch(None, length_bonus=0.0, beam=10_000, prune=np.inf)
    beams = wide.advance(wide.start(), log_probs)
    assert {p: round(float(np.exp(wide._score(e))), 9) for p, e in beams.items()} == {
        p: round(m, 9) for p, m in mass.items()
    }
    assert wide.best(beams) == clean_ids(max(mass, key=mass.__getitem__))
