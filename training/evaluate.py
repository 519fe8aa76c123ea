"""Evaluate a fine-tuned checkpoint on held-out splits: the numbers the model card reports.

For each split: in-scope accuracy, macro-F1, per-intent precision/recall, out-of-scope rejection
and false-rejection rates, both with the calibrated threshold and with the out-of-scope class
alone (threshold 0); a confusion-matrix PNG and a reliability diagram PNG; for a model with a CTC
head, the phoneme error rate of its transcripts (the decode its text head reads). Clips go through the
telephony channel with a fixed seed, so two evaluations of one model agree exactly.

    python -m training.evaluate --model runs/finetune/model.safetensors --splits test_voice,test_phrase
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ivr.audio.warp import VoiceView
from ivr.cli.classify import views_from_flag
from ivr.cli.train import add_evaluate_flags
from ivr.errors import ConfigError
from ivr.intents import OUT_OF_SCOPE
from ivr.runtime.classify import Classifier, ClassifyResult
from training.alignment import error_rate
from training.calibrate import rejected, rule_thresholds
from training.channel import ChannelConfig, apply_channel
from training.data import DEFAULT_CHANNEL, SPREAD_CHANNEL, ClipBank
from training.manifest import Utterance, read_manifest
from training.synth import phoneme_ids

EVAL_SEED = 20240229  # channel draws for evaluation; fixed so reports are comparable
BATCH = 32
OPERATING_THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)  # the trade-off table of the report
OPERATING_OOS_THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)  # the same for the out-of-scope rule


@dataclass(frozen=True, slots=True)
class Metrics:
    """Scores of one split under one decision rule."""

    n: int
    inscope_accuracy: float  # correct intent among in-scope clips (a rejection counts as wrong)
    macro_f1: float  # over the in-scope intents
    oos_rejection: float  # out-of-scope clips answered out_of_scope (nan without any)
    false_rejection: float  # in-scope clips answered out_of_scope
    ece: float  # expected calibration error of the arg-max confidence, 10 bins
    per_intent: dict[str, dict[str, float]]  # precision, recall, support


def predictions(
    probs: npt.NDArray[np.floating], labels: Sequence[str], threshold: float, oos_threshold: float = 1.0
) -> npt.NDArray[np.int64]:
    """(N,) predicted index, with rejections mapped to the out-of-scope index (or -1 without one)."""
    oos = labels.index(OUT_OF_SCOPE) if OUT_OF_SCOPE in labels else -1
    pred = probs.argmax(-1)
    return np.where(rejected(probs, threshold, oos, oos_threshold), oos, pred).astype(np.int64)


def score(
    probs: npt.NDArray[np.floating],
    truth: npt.NDArray[np.int64],
    labels: Sequence[str],
    threshold: float,
    oos_threshold: float = 1.0,
) -> Metrics:
    """Metrics of calibrated ``probs`` (N, L) against ``truth`` (N,) indices into ``labels``."""
    oos = labels.index(OUT_OF_SCOPE) if OUT_OF_SCOPE in labels else -1
    pred = predictions(probs, labels, threshold, oos_threshold)
    inscope = truth != oos
    per_intent: dict[str, dict[str, float]] = {}
    f1s = []
    for i, label in enumerate(labels):
        tp = int(np.sum((pred == i) & (truth == i)))
        precision = tp / max(1, int(np.sum(pred == i)))
        recall = tp / max(1, int(np.sum(truth == i)))
        per_intent[label] = {"precision": precision, "recall": recall, "support": int(np.sum(truth == i))}
        if i != oos and np.any(truth == i):
            f1s.append(0.0 if tp == 0 else 2 * precision * recall / (precision + recall))
    return Metrics(
        n=len(truth),
        inscope_accuracy=float(np.mean(pred[inscope] == truth[inscope])) if inscope.any() else float("nan"),
        macro_f1=float(np.mean(f1s)) if f1s else float("nan"),
        oos_rejection=float(np.mean(pred[~inscope] == oos)) if (~inscope).any() else float("nan"),
        false_rejection=float(np.mean(pred[inscope] == oos)) if inscope.any() and oos >= 0 else 0.0,
        ece=expected_calibration_error(probs, truth),
        per_intent=per_intent,
    )


def reliability(
    probs: npt.NDArray[np.floating], truth: npt.NDArray[np.int64], bins: int = 10
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Per confidence bin: mean confidence, accuracy and count of the arg-max prediction."""
    conf, correct = probs.max(-1), probs.argmax(-1) == truth
    which = np.minimum((conf * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins)
    mean_conf = np.bincount(which, conf, bins) / np.maximum(count, 1)
    acc = np.bincount(which, correct.astype(float), bins) / np.maximum(count, 1)
    return mean_conf, acc, count


def expected_calibration_error(probs: npt.NDArray[np.floating], truth: npt.NDArray[np.int64]) -> float:
    mean_conf, acc, count = reliability(probs, truth)
    return float(np.sum(count * np.abs(mean_conf - acc)) / max(1, count.sum()))


def plot_confusion(
    path: Path,
    probs: npt.NDArray[np.floating],
    truth: npt.NDArray[np.int64],
    labels: Sequence[str],
    threshold: float,
    oos_threshold: float,
    title: str,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pred = predictions(probs, labels, threshold, oos_threshold)
    m = np.zeros((len(labels), len(labels)), np.int64)
    np.add.at(m, (truth, pred), 1)
    rows = m / np.maximum(1, m.sum(1, keepdims=True))
    fig, ax = plt.subplots(figsize=(9, 8))
    ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    for (r, c), v in np.ndenumerate(m):
        if v:
            ax.text(
                c,
                r,
                str(v),
                ha="center",
                va="center",
                fontsize=6,
                color="white" if rows[r, c] > 0.5 else "black",
            )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reliability(
    path: Path, probs: npt.NDArray[np.floating], truth: npt.NDArray[np.int64], title: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mean_conf, acc, count = reliability(probs, truth)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    has = count > 0
    ax.bar((np.arange(10) + 0.5)[has] / 10, acc[has], width=0.09, alpha=0.7, label="accuracy")
    ax.plot(mean_conf[has], acc[has], "o-", color="C1", label="mean confidence vs accuracy")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title} (ECE {expected_calibration_error(probs, truth):.3f})")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def classify_results(
    classifier: Classifier, bank: ClipBank, *, channel: ChannelConfig | None
) -> list[ClassifyResult]:
    """The decision for every clip, through a fixed-seed ``channel`` (``None``: as is); a fused model's
    heads included."""
    rng = np.random.default_rng(EVAL_SEED)
    out = []
    for start in range(0, len(bank), BATCH):
        clips = bank.clips[start : start + BATCH]
        if channel is not None:
            clips = [apply_channel(c, 8000, rng, channel, bank.clips) for c in clips]
        out += classifier.classify_batch(clips)
    return out


def score_matrix(scores: Sequence[dict[str, float]], labels: Sequence[str]) -> npt.NDArray[np.float64]:
    """(N, L) probabilities from per-clip score dicts, columns in ``labels`` order."""
    return np.asarray([[s[label] for label in labels] for s in scores], np.float64).reshape(-1, len(labels))


def transcript_error_rate(results: Sequence[ClassifyResult], utts: Sequence[Utterance]) -> float | None:
    """Phoneme error rate of the transcripts against the references; None when no clip has one."""
    pairs = [
        (phoneme_ids(u.phonemes), phoneme_ids(r.transcript))
        for r, u in zip(results, utts, strict=True)
        if u.phonemes
    ]
    if not pairs:
        return None
    refs, hyps = zip(*pairs, strict=True)
    return error_rate(refs, hyps)


def operating_points(
    probs: npt.NDArray[np.floating], truth: npt.NDArray[np.int64], labels: Sequence[str]
) -> list[dict[str, object]]:
    """Out-of-scope rejection and false rejection at each of ``OPERATING_THRESHOLDS`` (arg-max rule) and
    ``OPERATING_OOS_THRESHOLDS`` (out-of-scope rule): where to set the threshold for a deployment's own
    trade-off, read off one evaluation."""
    rows = []
    for rule, values in (
        ("max_probability", OPERATING_THRESHOLDS),
        ("oos_probability", OPERATING_OOS_THRESHOLDS),
    ):
        for t in values:
            m = score(probs, truth, labels, *rule_thresholds(rule, t))
            rows.append(
                {
                    "rule": rule,
                    "threshold": t,
                    "oos_rejection": m.oos_rejection,
                    "false_rejection": m.false_rejection,
                }
            )
    return rows


def evaluate(
    model: Path,
    manifest: Path,
    splits: Sequence[str],
    out: Path,
    *,
    channel: ChannelConfig | None = DEFAULT_CHANNEL,
    threshold: float | None = None,
    oos_threshold: float | None = None,
    band_limit: bool = True,
    views: Sequence[VoiceView] | None = None,
    view_rule: str | None = None,
) -> dict[str, object]:
    """Score ``model`` on each split of ``manifest``; writes report.json, report.md and PNGs to ``out``.

    ``channel`` is what each clip crosses first (``None``: scored as it is); ``threshold`` /
    ``oos_threshold`` replace the checkpoint's (fitted on dev) for this report; ``band_limit=False`` feeds
    clips that skipped a phone line to the model unfiltered; ``views`` / ``view_rule`` replace the
    checkpoint's voice views (``Classifier``; ``()``: each clip as received only).
    """
    classifier = Classifier.from_checkpoint(model)
    classifier.band_limit = band_limit
    if views is not None:
        classifier.views = tuple(views)
    if view_rule is not None:
        classifier.view_rule = view_rule
    if threshold is not None:
        classifier.threshold = threshold
    if oos_threshold is not None:
        classifier.oos_threshold = oos_threshold
    labels = list(classifier.labels)
    utts = [u for u in read_manifest(manifest) if u.label is not None]
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {
        "model": str(model),
        "threshold": classifier.threshold,
        "oos_threshold": classifier.oos_threshold,
        "channel": None if channel is None else asdict(channel),
        "band_limit": band_limit,
        "views": [str(v) for v in classifier.views],
        "view_rule": classifier.view_rule,
        "splits": {},
    }
    per: dict[str, float | None] = {}
    report["phoneme_error_rate"] = per
    for split in splits:
        chosen = [u for u in utts if u.split == split]
        if not chosen:
            raise ConfigError(f"{manifest}: no labeled utterances in split {split!r}")
        unknown = sorted({str(u.label) for u in chosen} - set(labels))
        if unknown:
            raise ConfigError(
                f"{manifest}: split {split!r} has labels the model does not know: {', '.join(unknown)}"
            )
        bank = ClipBank.load(chosen, manifest.parent / "cache")
        results = classify_results(classifier, bank, channel=channel)
        probs = score_matrix([r.scores for r in results], labels)
        has_ctc = classifier.model.ctc_head is not None
        per[split] = transcript_error_rate(results, chosen) if has_ctc else None
        truth = np.array([labels.index(str(u.label)) for u in chosen], np.int64)
        calibrated = score(probs, truth, labels, classifier.threshold, classifier.oos_threshold)
        class_only = score(probs, truth, labels, 0.0)
        report["splits"][split] = {  # type: ignore[index]
            "with_threshold": asdict(calibrated),
            "oos_class_only": asdict(class_only),
            "operating_points": operating_points(probs, truth, labels),
            "by_voice": by_voice(probs, truth, labels, classifier, results, chosen, has_ctc),
        }
        plot_confusion(
            out / f"confusion-{split}.png",
            probs,
            truth,
            labels,
            classifier.threshold,
            classifier.oos_threshold,
            f"{split} (n={len(truth)})",
        )
        plot_reliability(out / f"reliability-{split}.png", probs, truth, split)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(markdown(report))
    return report


def by_voice(
    probs: npt.NDArray[np.floating],
    truth: npt.NDArray[np.int64],
    labels: Sequence[str],
    classifier: Classifier,
    results: Sequence[ClassifyResult],
    utts: Sequence[Utterance],
    has_ctc: bool,
) -> dict[str, dict[str, float | None]]:
    """Clips, in-scope accuracy, false rejection and phoneme error per speaking voice (``Utterance.voice``;
    unnamed voices are one group): a split's figure can hide a voice the model cannot hear."""
    out: dict[str, dict[str, float | None]] = {}
    for voice in sorted({u.voice for u in utts}):
        picked = [i for i, u in enumerate(utts) if u.voice == voice]
        m = score(probs[picked], truth[picked], labels, classifier.threshold, classifier.oos_threshold)
        per = (
            transcript_error_rate([results[i] for i in picked], [utts[i] for i in picked])
            if has_ctc
            else None
        )
        out[voice or "-"] = {
            "n": m.n,
            "inscope_accuracy": m.inscope_accuracy,
            "false_rejection": m.false_rejection,
            "phoneme_error_rate": per,
        }
    return out


def markdown(report: dict[str, object]) -> str:
    lines = [
        f"# Evaluation of {report['model']}",
        "",
        f"Thresholds (fitted on dev): arg-max probability {report['threshold']:.3f}, "
        f"out-of-scope probability {report.get('oos_threshold', 1.0):.3f} (rejects at or above; 1: off)",
        "",
        "| split | rule | n | in-scope acc | macro-F1 | OOS rejection | false rejection | ECE |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for split, rules in report["splits"].items():  # type: ignore[attr-defined]
        for rule in ("with_threshold", "oos_class_only"):
            m = rules[rule]
            lines.append(
                f"| {split} | {rule} | {m['n']} | {m['inscope_accuracy']:.3f} | {m['macro_f1']:.3f} "
                f"| {m['oos_rejection']:.3f} | {m['false_rejection']:.3f} | {m['ece']:.3f} |"
            )
    for rule, values, what in (
        ("max_probability", OPERATING_THRESHOLDS, "an arg-max probability below"),
        ("oos_probability", OPERATING_OOS_THRESHOLDS, "an out-of-scope probability at or above"),
    ):
        lines += [
            "",
            f"Out-of-scope rejection / false rejection when rejecting {what} each threshold "
            "(pick a deployment's own trade-off):",
            "",
            "| split | " + " | ".join(f"{t:g}" for t in values) + " |",
            "|---|" + "---|" * len(values),
        ]
        for split, rules in report["splits"].items():  # type: ignore[attr-defined]
            points = [p for p in rules["operating_points"] if p.get("rule", "max_probability") == rule]
            cells = [f"{p['oos_rejection']:.2f} / {p['false_rejection']:.3f}" for p in points]
            lines.append(f"| {split} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Per voice (with the thresholds): clips, in-scope accuracy, false rejection, phoneme error rate:",
        "",
        "| split | voice | n | in-scope acc | false rejection | PER |",
        "|---|---|---|---|---|---|",
    ]
    for split, rules in report["splits"].items():  # type: ignore[attr-defined]
        for voice, v in rules.get("by_voice", {}).items():
            per = "-" if v["phoneme_error_rate"] is None else f"{v['phoneme_error_rate']:.3f}"
            lines.append(
                f"| {split} | {voice} | {v['n']} | {v['inscope_accuracy']:.3f} | {v['false_rejection']:.3f} | {per} |"
            )
    rates = {k: v for k, v in report.get("phoneme_error_rate", {}).items() if v is not None}  # type: ignore[attr-defined]
    if rates:
        heading = (
            "Phoneme error rate of the transcripts (the decode the text head reads; references: espeak-ng):"
        )
        lines += ["", heading, ""]
        lines += [f"- {split}: {rate:.3f}" for split, rate in rates.items()]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Evaluate a checkpoint on held-out splits.")
    add_evaluate_flags(parser)
    print(markdown(evaluate_args(parser.parse_args(argv))))
    return 0


def evaluate_args(args: argparse.Namespace) -> dict[str, object]:
    """``evaluate`` from parsed flags (this module's and ``ivr train evaluate``'s, which match)."""
    return evaluate(
        args.model,
        args.manifest,
        args.splits.split(","),
        args.out,
        channel=None if args.no_channel else SPREAD_CHANNEL if args.line_spread else DEFAULT_CHANNEL,
        threshold=args.threshold,
        oos_threshold=args.oos_threshold,
        band_limit=not args.no_band_limit,
        views=views_from_flag(args.views),
        view_rule=args.view_rule,
    )


if __name__ == "__main__":
    raise SystemExit(main())
