"""``ivr train``: build the corpus, pre-train, fine-tune, add the text head and evaluate (training/).

Every ``TrainConfig`` option is also a flag (``--max-steps 200``), applied over the YAML config,
so fine-tuning on a call center's own recordings is one command:

    ivr train finetune --manifest calls.csv --init models/ivr-tiny-8k.safetensors --out-dir runs/mine
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from ivr.cli.classify import add_view_flags
from ivr.errors import ConfigError

_REPO = Path(__file__).resolve().parents[2]


def _training(module: str) -> ModuleType:
    """Import ``training.<module>`` from the source checkout this ``ivr`` package lives in."""
    if importlib.util.find_spec("training") is None:
        if not (_REPO / "training").is_dir():
            raise ConfigError(
                "ivr train needs the training/ folder of a source checkout: clone the repository "
                "and run `make setup` there"
            )
        sys.path.insert(0, str(_REPO))
    return importlib.import_module(f"training.{module}")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="corpus, pre-training, fine-tuning, text head, evaluation")
    stages = parser.add_subparsers(dest="train_command", metavar="STAGE", required=True)

    corpus = stages.add_parser("corpus", help="synthesize the call-center corpus and its manifest")
    corpus.add_argument("--out", type=Path, default=Path("data/corpus"))
    corpus.add_argument("--workers", type=int, default=None)
    for name in (
        "unlabeled",
        "train_per_label",
        "dev_per_label",
        "test_voice_per_label",
        "test_phrase_per_label",
        "seed",
    ):
        corpus.add_argument(f"--{name.replace('_', '-')}", type=int, default=None, metavar="N")
    corpus.set_defaults(func=run_corpus)

    for stage, default in (("pretrain", "pretrain.yaml"), ("finetune", "finetune.yaml")):
        p = stages.add_parser(
            stage, help=f"stage {'1: self-supervised' if stage == 'pretrain' else '2: multi-task'}"
        )
        p.add_argument("--config", type=Path, default=_REPO / "training" / "configs" / default)
        _add_config_flags(p)
        p.set_defaults(func=run_stage, stage=stage)

    text = stages.add_parser(
        "text-intent", help="stage 2b: the phoneme (text) intent head and phoneme LM, fused with stage 2"
    )
    text.add_argument("--config", type=Path, default=_REPO / "training" / "configs" / "text_intent.yaml")
    text.add_argument("--model", type=Path, default=Path("runs/finetune/model.safetensors"))
    _add_config_flags(text)
    text.set_defaults(func=run_text_intent)

    ev = stages.add_parser("evaluate", help="accuracy, F1, out-of-scope rates and plots on held-out splits")
    add_evaluate_flags(ev)
    ev.set_defaults(func=run_evaluate)


def add_evaluate_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of ``ivr train evaluate`` and ``python -m training.evaluate`` (read by ``evaluate_args``)."""
    parser.add_argument("--model", type=Path, default=Path("runs/finetune/model.safetensors"))
    parser.add_argument("--manifest", type=Path, default=Path("data/corpus/manifest.jsonl"))
    parser.add_argument("--splits", default="test_voice,test_phrase", help="comma-separated split names")
    parser.add_argument("--out", type=Path, default=Path("runs/eval"))
    parser.add_argument("--no-channel", action="store_true", help="score the audio as is (real recordings)")
    parser.add_argument(
        "--line-spread",
        action="store_true",
        help="cross phone lines whose band filters differ instead of the one telephone band",
    )
    parser.add_argument(
        "--no-band-limit",
        action="store_true",
        help="feed clips that skipped a phone line to the model as they are (the classifier band-limits them)",
    )
    parser.add_argument(
        "--threshold", type=float, default=None, help="replace the model's arg-max probability threshold"
    )
    parser.add_argument(
        "--oos-threshold",
        type=float,
        default=None,
        help="replace the model's out-of-scope probability threshold",
    )
    add_view_flags(parser, "each clip")


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One ``--option`` per TrainConfig field; unset flags leave the YAML value alone."""
    try:
        config = _training("config")
    except ConfigError:
        return  # an installed package without training/: the stage itself reports how to fix it
    group = parser.add_argument_group("training options (override the config file)")
    for field in dataclasses.fields(config.TrainConfig):
        flags = {f"--{field.name.replace('_', '-')}", f"--{field.name}"}
        group.add_argument(*sorted(flags), dest=field.name, default=argparse.SUPPRESS, metavar="VALUE")


def _overrides(args: argparse.Namespace) -> list[str]:
    fields = {f.name for f in dataclasses.fields(_training("config").TrainConfig)}
    return [f"{name}={value}" for name, value in vars(args).items() if name in fields]


def run_corpus(args: argparse.Namespace) -> int:
    corpus = _training("corpus")
    fields = [f.name for f in dataclasses.fields(corpus.CorpusSpec)]
    spec = corpus.CorpusSpec(**{k: getattr(args, k) for k in fields if getattr(args, k) is not None})
    print(corpus.build_corpus(args.out, spec, workers=args.workers))
    return 0


def run_stage(args: argparse.Namespace) -> int:
    config = _training("config").load_config(args.config, _overrides(args))
    print(_training(args.stage).train(config))
    return 0


def run_text_intent(args: argparse.Namespace) -> int:
    config = _training("config").load_config(args.config, _overrides(args))
    print(_training("text_intent").train(config, args.model))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    evaluate = _training("evaluate")
    print(evaluate.markdown(evaluate.evaluate_args(args)), end="")
    return 0
