"""The clips of a split that an older phrase bank never trained on: a fair test when the bank changes.

A model trained on bank A and a model trained on bank B each have their own ``test_phrase``; neither
is unheard by the other. This keeps the clips of one corpus's split whose wording is unheard by the
other bank's training templates too, under the phrase split's rule (no sentence of two words or more
inside the other, either way), so both models are scored on wording neither heard:

    python -m training.unheard --manifest data/corpus/manifest.jsonl --other-bank old/phrases.py \\
        --out data/corpus/manifest-unheard.jsonl
    python -m training.evaluate --manifest data/corpus/manifest-unheard.jsonl --splits unheard_phrase ...
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from training.manifest import read_manifest, write_manifest
from training.phrases import (
    PREFIXES,
    SUFFIXES,
    TEMPLATES,
    WRAPPERS,
    Wording,
    expand,
    templates_of,
)

Words = tuple[str, ...]


def load_bank(path: Path) -> ModuleType:
    """Import another version of ``training/phrases.py`` from a file, beside this one."""
    spec = importlib.util.spec_from_file_location("other_phrases", path)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def training_sentences(bank: ModuleType, *, seed: int = 0) -> list[str]:
    """Every sentence the training templates of ``bank`` expand to (either split API)."""
    out = []
    for label, templates in bank.TEMPLATES.items():
        if hasattr(bank, "templates_of"):
            trained = bank.templates_of(label, "train", seed=seed)
        else:
            held = bank.heldout_templates(label, seed=seed)
            trained = [t for t in templates if t not in held]
        out += [s for t in trained for s in bank.expand(t)]
    return out


def unheard_templates(other: Iterable[str], *, split: str = "heldout_phrase", seed: int = 0) -> set[str]:
    """This bank's ``split`` templates none of whose sentences overlap a sentence of ``other``."""
    heard = Wording.of(other)
    keep = set()
    for label in TEMPLATES:
        for t in templates_of(label, split, seed=seed):
            if not any(heard.overlaps(s) for s in expand(t)):  # a sentence the other bank said, either way
                keep.add(t)
    return keep


def possible_cores(text: str) -> set[str]:
    """Every sentence ``phrases.decorate`` could have dressed to give ``text``: lead-in and tail
    stripped every way they fit, an indirect wrapper removed, a stutter ("i i want") merged.
    """
    words = text.split()
    merged = " ".join(w for i, w in enumerate(words) if i == 0 or w != words[i - 1])
    out = set()
    for sentence in {text, merged}:
        for lead in set(PREFIXES):
            if lead and not sentence.startswith(lead + " "):
                continue
            rest = sentence[len(lead) :].strip()
            for tail in set(SUFFIXES):
                if tail and not rest.endswith(" " + tail):
                    continue
                core = rest[: len(rest) - len(tail)].strip()
                out.add(core)
                out |= {core[len(w) - 2 :].strip() for w in WRAPPERS if core.startswith(w[:-2])}
    return out - {""}


def template_of(text: str, label: str, candidates: dict[str, set[str]]) -> str | None:
    """The one template of ``label`` among ``candidates`` that ``text`` was decorated from; None when no
    template, or more than one, fits.
    """
    cores = possible_cores(text)
    fits = {t for t in candidates.get(label, ()) if cores.intersection(expand(t))}
    return fits.pop() if len(fits) == 1 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument(
        "--other-bank", type=Path, required=True, help="another version of training/phrases.py"
    )
    parser.add_argument("--split", default="test_phrase")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0, help="the corpus seed of both banks")
    args = parser.parse_args()
    keep = unheard_templates(training_sentences(load_bank(args.other_bank), seed=args.seed), seed=args.seed)
    by_label = {label: set(templates_of(label, "heldout_phrase", seed=args.seed)) for label in TEMPLATES}
    rows = [u for u in read_manifest(args.manifest) if u.split == args.split and u.label and u.text]
    kept = [
        dataclasses.replace(u, split="unheard_phrase")
        for u in rows
        if (u.label is not None and template_of(u.text or "", u.label, by_label) in keep)
    ]
    write_manifest(args.out, kept)
    print(f"{len(kept)} of {len(rows)} {args.split} clips are unheard by {args.other_bank} -> {args.out}")


if __name__ == "__main__":
    main()
