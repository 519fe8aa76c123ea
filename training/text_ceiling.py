"""How far could the text route go? Intent classifiers on the *reference* phonemes of each split.

Stage 2b classifies the stage-2 model's greedy decodes. Before blaming the classifier or the
decoder, this measures the ceiling with a perfect decoder: a bag of phoneme n-grams with
multinomial naive Bayes (trained on the references of the train split), the stage-2b head if one is
given, and, with ``--decodes``, both on the acoustic model's own decodes through the channel.

    python -m training.text_ceiling --text-model runs/text_intent/model.safetensors --decodes
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from ivr.model.checkpoint import load_checkpoint
from ivr.model.model import IntentModel
from ivr.model.phoneme_intent import SPACE_ID
from ivr.runtime.classify import Classifier
from training.data import DEFAULT_CHANNEL, ClipBank
from training.evaluate import classify_results
from training.manifest import Utterance, read_manifest
from training.text_intent import head_logits, spelled

Seq = tuple[int, ...]


def ngrams(ids: Seq, orders: Sequence[int]) -> set[Seq]:
    """The distinct phoneme n-grams of a word-bounded sequence (presence, not counts)."""
    s = (SPACE_ID, *ids, SPACE_ID)
    return {s[i : i + n] for n in orders for i in range(len(s) - n + 1)}


@dataclass(frozen=True, slots=True)
class NgramBayes:
    """Multinomial naive Bayes over n-gram presence: the bag-of-words baseline, on phonemes."""

    orders: tuple[int, ...]
    vocab: dict[Seq, int]
    log_likelihood: npt.NDArray[np.float64]  # (L, V)

    @classmethod
    def fit(
        cls,
        seqs: Sequence[Seq],
        labels: Sequence[int],
        n_labels: int,
        orders: Sequence[int],
        alpha: float = 0.5,
    ) -> NgramBayes:
        vocab: dict[Seq, int] = {}
        rows = [ngrams(s, orders) for s in seqs]
        for grams in rows:
            for g in grams:
                vocab.setdefault(g, len(vocab))
        counts = np.full((n_labels, len(vocab)), alpha)
        for grams, label in zip(rows, labels, strict=True):
            counts[label, [vocab[g] for g in grams]] += 1
        return cls(tuple(orders), vocab, np.log(counts / counts.sum(1, keepdims=True)))

    def predict(self, seqs: Sequence[Seq]) -> npt.NDArray[np.int64]:
        """Arg-max label per sequence (a uniform prior: the corpus is balanced)."""
        present = [[self.vocab[g] for g in ngrams(s, self.orders) if g in self.vocab] for s in seqs]
        return np.array([self.log_likelihood[:, idx].sum(1).argmax() for idx in present], np.int64)


def references(utts: Sequence[Utterance]) -> list[Seq]:
    return [tuple(spelled(u.phonemes)) for u in utts]


def accuracy(predicted: Sequence[int] | npt.NDArray[np.int64], truth: Sequence[int]) -> float:
    return float(np.mean(np.asarray(predicted) == np.asarray(truth))) if len(truth) else float("nan")


def run(
    manifest: Path, splits: Sequence[str], text_model: Path | None, acoustic_model: Path | None
) -> dict[str, dict[str, float]]:
    """{split: {classifier on input: accuracy}} over every clip (out_of_scope counts as a label)."""
    utts = [u for u in read_manifest(manifest) if u.label is not None and u.phonemes]
    labels = sorted({str(u.label) for u in utts if u.split == "train"})
    train = [u for u in utts if u.split == "train"]
    bayes = NgramBayes.fit(
        references(train), [labels.index(str(u.label)) for u in train], len(labels), (2, 3, 4)
    )
    head = None
    if text_model:
        loaded = load_checkpoint(text_model)
        head = loaded.model.phoneme_head if isinstance(loaded.model, IntentModel) else None
        if head is None or list(loaded.labels) != labels:
            raise SystemExit(f"{text_model}: no phoneme head over the labels {labels}")
    acoustic = Classifier.from_checkpoint(acoustic_model) if acoustic_model else None
    out: dict[str, dict[str, float]] = {}
    for split in splits:
        chosen = [u for u in utts if u.split == split]
        truth = [labels.index(str(u.label)) for u in chosen]
        inputs = {"references": references(chosen)}
        if acoustic is not None:
            results = classify_results(
                acoustic, ClipBank.load(chosen, manifest.parent / "cache"), channel=DEFAULT_CHANNEL
            )
            inputs["decodes"] = [tuple(spelled(r.transcript)) for r in results]
        row = {}
        for name, seqs in inputs.items():
            row[f"ngram_bayes_on_{name}"] = accuracy(bayes.predict(seqs), truth)
            if head is not None:
                with torch.no_grad():
                    row[f"text_head_on_{name}"] = accuracy(head_logits(head, seqs).argmax(-1).tolist(), truth)
        out[split] = row
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Text-route ceiling: intent from reference phonemes.")
    parser.add_argument("--manifest", type=Path, default=Path("data/corpus/manifest.jsonl"))
    parser.add_argument("--splits", default="dev,test_voice,test_phrase")
    parser.add_argument(
        "--text-model", type=Path, help="a stage-2b checkpoint (its phoneme head is scored too)"
    )
    parser.add_argument("--decodes", type=Path, nargs="?", const=Path("runs/finetune/model.safetensors"),
                        help="also score the greedy decodes of this stage-2 model (through the channel)")  # fmt: skip
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    report = run(args.manifest, args.splits.split(","), args.text_model, args.decodes)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
