"""Manifests: the list of utterances a training run reads, ours or a call center's own.

A manifest is JSONL (one object per line) or CSV (a header row). Fields:

- ``audio`` (required): a WAV path, absolute or relative to the manifest's folder;
- ``label``: an intent name, ``out_of_scope``, or empty for unlabeled audio (pre-training);
- ``split``: ``train`` (default), ``dev``, ``test`` or any other name;
- ``text``, ``phonemes``, ``voice``: optional; ``phonemes`` feeds the CTC task when present.

Every bad line is reported at once as ``file:line: problem``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ivr.errors import IvrError

FIELDS = ("audio", "label", "split", "text", "phonemes", "voice")


class ManifestError(IvrError):
    """A manifest that cannot be read: every problem, one ``file:line: message`` per line."""


@dataclass(frozen=True, slots=True)
class Utterance:
    """One line of a manifest."""

    audio: Path
    label: str | None = None  # None: unlabeled (stage-1 audio)
    split: str = "train"
    text: str = ""
    phonemes: str = ""  # normalized IPA (training.synth.PHONEMES); "" when unknown
    voice: str = ""  # ``engine:name`` for synthetic speech

    def to_json(self, root: Path) -> str:
        row = asdict(self)
        audio = self.audio.resolve()
        row["audio"] = str(audio.relative_to(root) if audio.is_relative_to(root) else audio)
        return json.dumps(row, ensure_ascii=False)


def write_manifest(path: Path, utterances: Iterable[Utterance]) -> int:
    """Write JSONL with paths relative to ``path``'s folder; returns the number of lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    root = path.parent.resolve()
    tmp = path.with_suffix(path.suffix + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        for u in utterances:
            f.write(u.to_json(root) + "\n")
            n += 1
    tmp.replace(path)
    return n


def read_manifest(path: Path, *, check_audio: bool = True) -> list[Utterance]:
    """Read a JSONL or CSV manifest (chosen by suffix: ``.csv`` is CSV, anything else JSONL)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read manifest: {exc}") from exc
    rows = _csv_rows(path, text) if path.suffix.lower() == ".csv" else _jsonl_rows(path, text)
    problems: list[str] = []
    out = []
    for line, row in rows:
        if isinstance(row, str):
            problems.append(f"{path}:{line}: {row}")
            continue
        utt = _utterance(row, path.parent)
        if isinstance(utt, str):
            problems.append(f"{path}:{line}: {utt}")
        elif check_audio and not utt.audio.is_file():
            problems.append(f"{path}:{line}: audio file not found: {utt.audio}")
        else:
            out.append(utt)
    if not out and not problems:
        problems.append(f"{path}: manifest is empty")
    if problems:
        raise ManifestError(
            "\n".join(problems[:50] + [f"... {len(problems) - 50} more"] * (len(problems) > 50))
        )
    return out


def _jsonl_rows(path: Path, text: str) -> list[tuple[int, dict[str, object] | str]]:
    rows: list[tuple[int, dict[str, object] | str]] = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append((i, f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        rows.append(
            (
                i,
                row if isinstance(row, dict) else f"expected a JSON object, found {type(row).__name__}",
            )
        )
    return rows


def _csv_rows(path: Path, text: str) -> list[tuple[int, dict[str, object] | str]]:
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    if "audio" not in header:
        return [(1, f"CSV header must name an 'audio' column (found {', '.join(header) or 'nothing'})")]
    rows: list[tuple[int, dict[str, object] | str]] = []
    for row in reader:
        line = reader.line_num
        if None in row:
            rows.append((line, f"more fields than the header's {len(header)}"))
        else:
            rows.append((line, {k: v for k, v in row.items() if v not in (None, "")}))
    return rows


def _utterance(row: dict[str, object], root: Path) -> Utterance | str:
    unknown = sorted(set(row) - set(FIELDS))
    if unknown:
        return f"unknown field(s) {', '.join(unknown)} (expected some of {', '.join(FIELDS)})"
    audio = row.get("audio")
    if not isinstance(audio, str) or not audio.strip():
        return "missing 'audio' (a WAV path)"
    for key in FIELDS[1:]:
        if row.get(key) is not None and not isinstance(row[key], str):
            return f"'{key}' must be a string, found {type(row[key]).__name__}"
    label = str(row.get("label") or "").strip() or None
    utt = Utterance(audio=(root / audio).resolve() if not Path(audio).is_absolute() else Path(audio))
    return replace(
        utt,
        label=label,
        split=str(row.get("split") or "train"),
        text=str(row.get("text") or ""),
        phonemes=str(row.get("phonemes") or ""),
        voice=str(row.get("voice") or ""),
    )


def labels_of(utterances: Iterable[Utterance]) -> list[str]:
    """The sorted label set of labeled utterances."""
    return sorted({u.label for u in utterances if u.label is not None})
