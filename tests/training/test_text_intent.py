"""Stage 2b: alignment, the confusion model, the held-out guarantee and a smoke run of the stage."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ivr.cli import main
from ivr.intents import DEFAULT_INTENTS, OUT_OF_SCOPE
from ivr.model.checkpoint import load_checkpoint, save_checkpoint
from ivr.model.ctc_decode import CTCBeamSearch
from ivr.model.model import IntentModel, build_model
from ivr.model.phoneme_lm import PhonemeLM, PhonemeLMDims
from ivr.runtime.classify import Classifier
from tests.model.helpers import small_dims
from tests.training.conftest import LABELS
from training import text_bank, text_intent
from training.alignment import align, edit_distance
from training.config import TrainConfig
from training.corpus import CorpusSpec, plan
from training.manifest import Utterance, read_manifest
from training.phrases import Wording, expand, heldout_templates
from training.synth import PHONEMES
from training.text_bank import expand_text
from training.text_ceiling import NgramBayes, ngrams
from training.text_intent import ConfusionModel, corrupt, estimate_confusion


def test_align_pairs_substitutions_deletions_and_insertions():
    assert align([2, 3, 4, 5], [2, 6, 4, 5, 7]) == [(2, 2), (3, 6), (4, 4), (5, 5), (None, 7)]
    assert align([2, 3, 4, 5], [2, 4, 5]) == [(2, 2), (3, None), (4, 4), (5, 5)]
    assert edit_distance([2, 3, 4, 5], [2, 6, 5, 7]) == 3
    assert align([], [4]) == [(None, 4)] and align([4], []) == [(4, None)]


def test_confusion_counts_a_hand_made_alignment():
    # symbol 2: read right twice, once as 3, deleted once; symbol 4: always right; one 6 inserted.
    pairs = [([2, 4], [2, 4]), ([2, 4], [3, 4, 6]), ([2, 2, 4], [2, 4])]
    m = estimate_confusion(pairs, 8, smoothing=0.0)
    assert m.deletion[2] == pytest.approx(1 / 4)
    assert m.substitution[2, 2] == pytest.approx(2 / 3) and m.substitution[2, 3] == pytest.approx(1 / 3)
    assert m.substitution[4, 4] == 1.0 and m.deletion[4] == 0.0
    assert m.insertion_rate == pytest.approx(1 / (3 + 3 + 4)) and m.insertion[6] == 1.0
    np.testing.assert_allclose(m.substitution.sum(1), 1.0)  # unseen symbols are read as themselves
    smoothed = estimate_confusion(pairs, 8, smoothing=1.0)
    assert 1 / 4 > smoothed.deletion[2] > 0.0 and smoothed.substitution[5, 5] == 1.0


def test_a_scaled_confusion_model_errs_that_much_more_often_and_stays_a_distribution():
    pairs = [([2, 4], [2, 4]), ([2, 4], [3, 4, 6]), ([2, 2, 4], [2, 4])]
    m = estimate_confusion(pairs, 8, smoothing=0.0)
    np.testing.assert_allclose(m.scaled(1.0).substitution, m.substitution)
    double = m.scaled(2.0)
    assert double.deletion[2] == pytest.approx(2 / 4)
    assert double.insertion_rate == pytest.approx(2 * m.insertion_rate)
    assert double.substitution[2, 3] == pytest.approx(2 / 3)
    assert double.substitution[2, 2] == pytest.approx(1 / 3)
    assert double.substitution[4, 4] == 1.0  # a symbol never misread stays right
    huge = m.scaled(10.0)  # more than every reading wrong: capped, never a negative probability
    assert huge.deletion.max() <= 1.0 and (huge.substitution >= 0).all()
    assert huge.substitution[2, 2] == 0.0 and huge.substitution[2, 3] == pytest.approx(1.0)
    for scaled in (double, huge, m.scaled(0.0)):
        np.testing.assert_allclose(scaled.substitution.sum(1), 1.0)
    assert m.scaled(0.0).deletion.max() == 0.0 and m.scaled(0.0).insertion_rate == 0.0
    with pytest.raises(ValueError, match="corruption scale"):
        m.scaled(-1.0)


def test_corruption_samples_follow_the_confusion_model():
    v = 8
    sub = np.eye(v)
    sub[2] = 0
    sub[2, 2], sub[2, 3] = 0.75, 0.25
    deletion = np.zeros(v)
    deletion[2] = 0.2
    insertion = np.zeros(v)
    insertion[5] = 1.0
    m = ConfusionModel(sub, deletion, 0.1, insertion)
    rng = np.random.default_rng(0)
    n = 4000
    samples = [corrupt([2, 4], m, rng) for _ in range(n)]
    deleted = sum(s.count(2) + s.count(3) == 0 for s in samples) / n
    as_3 = sum(s.count(3) for s in samples) / sum(s.count(2) + s.count(3) for s in samples)
    inserted = sum(s.count(5) for s in samples) / (3 * n)  # 3 slots around 2 reference symbols
    assert deleted == pytest.approx(0.2, abs=0.02)
    assert as_3 == pytest.approx(0.25, abs=0.02)
    assert inserted == pytest.approx(0.1, abs=0.015)
    assert all(s.count(4) == 1 for s in samples)  # 4 is never touched


def test_no_heldout_template_sentence_reaches_text_training():
    spec = CorpusSpec(
        unlabeled=0, train_per_label=0, dev_per_label=0, test_voice_per_label=0, test_phrase_per_label=80
    )
    test_phrase = {job.text for split, _, job in plan(spec) if split == "test_phrase"}
    assert test_phrase
    shared: set[str] = set()
    for label in [*DEFAULT_INTENTS, OUT_OF_SCOPE]:
        held = heldout_templates(label, seed=0)
        texts = text_intent.text_phrasings(label, 3000, seed=1337, text_bank=True)
        assert not {p.template for p in texts} & held, label
        shared |= {p.text for p in texts} & test_phrase
    # Two templates can still say the same sentence: held-out "yes please" and training (or text-bank)
    # "yes" plus the polite tail "please". That stays rare (6 of 1,377 sentences with both passes of the text bank).
    assert len(shared) <= 0.01 * len(test_phrase), sorted(shared)


def test_the_text_only_bank_adds_wording_but_never_the_unheard_templates(monkeypatch: pytest.MonkeyPatch):
    held_sentence = next(
        s
        for t in sorted(heldout_templates("check_balance", seed=0))
        for s in expand(t)
        if len(s.split()) >= 3
    )
    bank = {
        "check_balance": (
            "what's the damage on my tab",  # new wording: kept
            f"oh and {held_sentence} thanks",  # says a held-out sentence inside it: dropped
            " ".join(held_sentence.split()[:2]),  # said inside a held-out sentence: dropped
        )
    }
    monkeypatch.setattr(text_bank, "TEXT_TEMPLATES", bank)
    kept = {s for _, s in text_bank.text_bank_pool("check_balance")}
    assert kept == {"what's the damage on my tab"}, kept
    plain = text_intent.text_phrasings("check_balance", 400, seed=5)
    mixed = text_intent.text_phrasings("check_balance", 400, seed=5, text_bank=True)
    assert plain == text_intent.text_phrasings("check_balance", 400, seed=5)  # the default is unchanged
    from_bank = [p for p in mixed if p.template == "what's the damage on my tab"]
    assert 0 < len(from_bank) < 50  # about one template's share of ~30
    assert not {p.template for p in mixed} & heldout_templates("check_balance", seed=0)


def test_off_topic_phrasings_join_out_of_scope_only_by_template_and_never_unheard(
    monkeypatch: pytest.MonkeyPatch,
):
    held_sentence = next(
        s for t in sorted(heldout_templates(OUT_OF_SCOPE, seed=0)) for s in expand(t) if len(s.split()) >= 3
    )
    slots = {"pet": tuple(f"{name} dog" for name in ("rex", "fido", "max", "bo", "spot", "buddy"))}
    templates = ("my {pet} ate my homework", "is it sunny outside", f"oh {held_sentence} right")
    monkeypatch.setattr(text_bank, "OFF_TOPIC_SLOTS", slots)
    monkeypatch.setattr(text_bank, "OFF_TOPIC_TEMPLATES", templates)
    pool = text_bank.off_topic_pool()
    assert sorted(pool) == sorted(templates[:2])  # the template that says held-out wording is gone
    assert len(pool["my {pet} ate my homework"]) == 6
    assert text_intent.text_phrasings("deny", 300, seed=3, off_topic=True) == text_intent.text_phrasings(
        "deny", 300, seed=3
    )  # other labels draw exactly as before
    drawn = text_intent.text_phrasings(OUT_OF_SCOPE, 3000, seed=3, text_bank=True, off_topic=True)
    by_template = {t: sum(p.template == t for p in drawn) for t in templates[:2]}
    # Each off-topic template is drawn about as often as any other template (1 / ~400 of the draws), the
    # one with six slot values no more than the fixed sentence.
    assert all(1 <= n <= 25 for n in by_template.values()), by_template
    assert not {p.template for p in drawn} & heldout_templates(OUT_OF_SCOPE, seed=0)


# Training decodes greedy, or beam-searched by a jackknife LM and joined by decodes of clips no stage trained
# on (here the dev clips stand in for the corpus's text_bank split); the text in en-us or in the training
# voices' accents.
@pytest.mark.parametrize(
    ("lm_folds", "decode_splits", "pronunciation"), [(0, (), "reference"), (2, ("dev",), "spoken")]
)
def test_the_stage_trains_a_head_that_lowers_the_loss_and_exports_a_fused_model(
    tiny_corpus: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lm_folds: int,
    decode_splits: tuple[str, ...],
    pronunciation: str,
):  # and tries an LM beam search on dev, shipping the LM only if the fused model reads its decodes better
    # A random stage-2 model decodes noise (insertions everywhere): corrupt text as a trained one would.
    mild = ConfusionModel(
        np.eye(len(PHONEMES)), np.full(len(PHONEMES), 0.05), 0.02, np.full(len(PHONEMES), 1 / len(PHONEMES))
    )
    monkeypatch.setattr(text_intent, "estimate_confusion", lambda *args, **kw: mild)
    torch.manual_seed(0)
    labels = sorted(LABELS)
    stage2 = tmp_path / "stage2.safetensors"
    save_checkpoint(
        stage2,
        build_model(small_dims(), labels, len(PHONEMES)),
        extra={"ctc_vocab": list(PHONEMES), "threshold": 0.0, "stage": "finetune"},
    )
    cfg = TrainConfig(
        manifest=str(tiny_corpus), out_dir=str(tmp_path / "out"), seed=3, threads=1, batch_size=16,
        max_steps=60, lr=3e-3, min_lr=3e-4, warmup_steps=5, eval_interval=30, text_per_label=40,
        decode_draws=2, decode_fraction=0.25, eval_splits=("dev",), lm_order=3, lm_weights=(0.5,),
        lm_length_bonuses=(0.0, 1.0), lm_folds=lm_folds, decode_splits=decode_splits,
        rejection="oos_probability" if decode_splits else "max_probability", text_pronunciation=pronunciation,
    )  # fmt: skip
    path = text_intent.train(cfg, stage2)
    rows = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    with_text = [r["loss"] for r in rows if r["head"] == "with_text"]
    assert len(with_text) == 60 and np.mean(with_text[-10:]) < 0.8 * np.mean(with_text[:10])
    loaded = load_checkpoint(path)
    assert isinstance(loaded.model, IntentModel) and loaded.model.phoneme_head is not None
    assert 0.0 <= loaded.extra["fusion_weight"] <= 1.0 and loaded.extra["stage"] == "text_intent"
    # A rerun on the fused checkpoint finds the decode caches of its stage 2.
    assert text_intent.acoustic_key(loaded.model) == text_intent.acoustic_key(load_checkpoint(stage2).model)
    if decode_splits:  # calibrated on the out-of-scope probability, the arg-max threshold left at 0
        assert loaded.extra["threshold"] == 0.0 and 0.0 <= loaded.extra["oos_threshold"] <= 1.0
    else:
        assert loaded.extra["oos_threshold"] == 1.0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["acoustic"]["train_decodes"] == 2 * 4 * len(LABELS)
    assert report["acoustic"].get("unheard_decodes", 0) == (2 * len(LABELS) if decode_splits else 0)
    assert set(report["test"]["dev"]) >= {
        "audio",
        "text",
        "text_decodes_only",
        "fused",
        "fused_with_threshold",
    }
    assert 0 <= report["phonemization"]["mismatch_rate"] <= 1
    voices = {u.voice for u in read_manifest(tiny_corpus) if u.split == "train"}
    assert report["phonemization"].get("voices", []) == (sorted(voices) if pronunciation == "spoken" else [])
    decoder = report["decoder"]
    assert decoder["lm"]["order"] == 3 and len(decoder["lm"]["entries"]) == 3
    assert {"weight=0.5 bonus=0.0", "weight=0.5 bonus=1.0"} <= set(decoder)
    assert (loaded.model.phoneme_lm is not None) == (decoder["chosen"] != "greedy")
    assert ("jackknife" in decoder) == bool(lm_folds) and report["confusion"]["decodes"] == (
        "jackknife" if lm_folds else "greedy"
    )
    if lm_folds:  # every tiny-corpus clip was decorated from one training template
        assert decoder["jackknife"]["clips_without_a_template"] == 0
    r = Classifier.from_checkpoint(path).classify(np.zeros(4000, np.float32))
    assert r.text_scores is not None and set(r.scores) == set(labels)


def test_each_clip_is_decoded_by_an_lm_that_never_read_its_template():
    text = [[3, 4, 5]] * 20 + [[3, 6, 5]] * 20
    dims = PhonemeLMDims(vocab_size=len(PHONEMES), order=3, weight=1.0, length_bonus=0.0)
    full = PhonemeLM.fit(text[:20], dims)  # the full LM would print the first template
    frames = np.full((3, len(PHONEMES)), -20.0)
    frames[0, 3] = frames[2, 5] = 0.0
    frames[1, 4] = frames[1, 6] = np.log(0.5)  # the middle phoneme is a coin toss to the acoustics
    assert CTCBeamSearch.of(full).decode(frames) == [3, 4, 5]
    folds = text_intent.Folds([0, 1], [frozenset({0})] * 20 + [frozenset({1})] * 20, 0)
    hyps = text_intent.jackknife_decodes(full, text, folds, [frames, frames])
    assert hyps == [[3, 6, 5], [3, 4, 5]]  # each clip's LM knew only the other template


def test_no_clip_fold_reads_its_own_wording_from_the_templates_or_the_text_bank():
    drawn = text_intent.text_phrasings("speak_to_agent", 400, seed=1, text_bank=True)
    trained = set(text_intent.train_templates("speak_to_agent"))
    clips = [p for p in drawn if p.template in trained][:60]
    utts = [Utterance(Path("x.wav"), p.label, "train", p.text) for p in clips]
    folds = text_intent.jackknife_folds(utts, drawn, 5)
    assert folds.unmatched_clips == 0 and len(folds.text_excluded) == len(drawn)
    assert any(out for p, out in zip(drawn, folds.text_excluded, strict=True) if p.template not in trained)
    for clip, fold in zip(clips, folds.clips, strict=True):
        wording = Wording.of(expand(clip.template))
        for p, out in zip(drawn, folds.text_excluded, strict=True):
            if fold not in out:  # this fold's LM reads p: none of its sentences may share the clip's wording
                sentences = expand(p.template) if p.template in trained else expand_text(p.template)
                assert not any(wording.overlaps(x) for x in sentences), (clip.template, p.template)


def test_cached_decodes_keep_log_probabilities_beside_the_json(tmp_path: Path):
    rng = np.random.default_rng(0)
    log_probs = [rng.normal(size=(n, 5)).astype(np.float32) for n in (3, 0, 7)]
    made = text_intent.Decodes([[2], [], [3, 4]], [[2], [], [3]], [0, 1, 0], [[0.1, 0.2]] * 3, log_probs)
    path = tmp_path / "decodes-dev.json"
    assert text_intent.cached_decodes(path, "k", lambda: made) is made
    again = text_intent.cached_decodes(path, "k", lambda: pytest.fail("the cache was not used"))
    assert again.hyps == made.hyps and [len(lp) for lp in again.log_probs] == [3, 0, 7]
    for got, want in zip(again.log_probs, log_probs, strict=True):
        np.testing.assert_allclose(got, want, atol=2e-3)  # stored as float16
    plain = text_intent.cached_decodes(
        tmp_path / "plain.json", "k", lambda: dataclasses.replace(made, log_probs=[])
    )
    assert (
        text_intent.cached_decodes(tmp_path / "plain.json", "k", lambda: made).log_probs
        == plain.log_probs
        == []
    )  # a run that needs no log-probabilities takes the cache either way; one that needs them decodes again
    assert (
        text_intent.cached_decodes(tmp_path / "plain.json", "k", lambda: made, log_probs_needed=True) is made
    )
    assert text_intent.cached_decodes(
        path, "k", lambda: pytest.fail("cached"), log_probs_needed=True
    ).log_probs


def test_ngram_bayes_generalizes_through_shared_phoneme_ngrams():
    # Label 0 says sequences around 2-3-4, label 1 around 6-7-8; unseen ones sharing a trigram follow.
    train = [(2, 3, 4), (2, 3, 4, 5), (6, 7, 8), (6, 7, 8, 9)]
    bayes = NgramBayes.fit(train, [0, 0, 1, 1], 2, (2, 3))
    assert ngrams((2, 3), (2,)) == {(1, 2), (2, 3), (3, 1)}  # word boundaries at both ends
    assert bayes.predict([(9, 2, 3, 4), (5, 6, 7, 8)]).tolist() == [0, 1]
    assert bayes.predict([()]).tolist() in ([0], [1])  # nothing known: still a label, no crash


def test_ivr_train_text_intent_names_the_missing_phrase_bank(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    stage2 = tmp_path / "own.safetensors"
    save_checkpoint(stage2, build_model(small_dims(), ["open_claim", "close_claim"], len(PHONEMES)))
    code = main(["train", "text-intent", "--model", str(stage2), "--out-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and "none of the labels" in err and "Traceback" not in err


def test_the_decode_cache_key_changes_with_the_acoustic_weights():
    torch.manual_seed(0)
    model = build_model(small_dims(), ["open_claim", "close_claim"], len(PHONEMES))
    key = text_intent.acoustic_key(model)
    assert model.ctc_head is not None
    with torch.no_grad():
        next(model.ctc_head.parameters()).add_(1e-3)
    assert text_intent.acoustic_key(model) != key
