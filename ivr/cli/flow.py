"""``ivr flow validate | simulate | test | graph``: the flow tools, thin over ivr.flows."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ivr.config import default_model_path
from ivr.errors import FlowError
from ivr.intents import DEFAULT_INTENTS


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("flow", help="check, try, test and draw YAML voice-menu flows")
    sub = parser.add_subparsers(
        dest="flow_command", metavar="ACTION", required=True, parser_class=type(parser)
    )

    p = sub.add_parser("validate", help="report every problem in flow files (exit 1 on errors)")
    p.add_argument("files", nargs="+", help="flow YAML files or folders of them")
    _labels_args(p)
    p.add_argument("--strict", action="store_true", help="fail on warnings too")
    p.set_defaults(func=validate)

    p = sub.add_parser("simulate", help="walk a flow as a caller, from the terminal or piped lines")
    p.add_argument("flow", help="flow YAML file")
    p.add_argument(
        "--model",
        help="intent model checkpoint, for WAV turns and the label set (default: the shipped model)",
    )
    p.add_argument("--labels", help="comma-separated intent labels (default: the shipped model's)")
    p.add_argument("--ani", default="+15551234567", help="caller number")
    p.add_argument("--dnis", default="+18005550100", help="number dialled")
    p.add_argument("--language", default="", help="caller language (default: the flow's first)")
    p.add_argument("--time", help="call time, ISO 8601 with offset (default: now)")
    p.add_argument("--verbose", action="store_true", help="also show timers and recognition actions")
    p.add_argument(
        "--events",
        help="caller turns instead of stdin, ';'-separated (or ','-separated): "
        '"intent:billing_question@0.91; 1; timer:no_input"',
    )
    p.set_defaults(func=simulate)

    p = sub.add_parser("test", help="run YAML test conversations and report coverage")
    p.add_argument("flow", help="flow YAML file")
    p.add_argument("tests", nargs="+", help="test conversation files or folders")
    _labels_args(p)
    p.add_argument("--verbose", action="store_true", help="print each conversation's transcript")
    p.set_defaults(func=test)

    p = sub.add_parser("graph", help="draw a flow: .svg/.png (Graphviz), .dot or .mmd (Mermaid)")
    p.add_argument("flow", help="flow YAML file")
    p.add_argument("-o", "--output", required=True, help="output file; its suffix picks the format")
    p.add_argument("--force", action="store_true", help="draw a flow even if it has errors")
    p.set_defaults(func=graph)


def _labels_args(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--labels", help="comma-separated intent labels the model can produce")
    group.add_argument("--model", help="a safetensors checkpoint whose metadata lists the labels")


def _labels(args: argparse.Namespace) -> tuple[str, ...]:
    from ivr.flows.validate import labels_from_model

    if getattr(args, "labels", None):
        labels = tuple(x.strip() for x in args.labels.split(",") if x.strip())
        if not labels:
            raise FlowError("--labels is empty")
        return labels
    if getattr(args, "model", None):
        return labels_from_model(args.model)
    return DEFAULT_INTENTS


def _files(paths: list[str], what: str) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
            if not found:
                raise FlowError(f"{path}: no {what} (*.yaml) in this folder")
            out += found
        elif path.is_file():
            out.append(path)
        else:
            raise FlowError(f"{path}: no such file")
    return out


def validate(args: argparse.Namespace) -> int:
    from ivr.flows.validate import validate_file

    labels = _labels(args)
    errors = warnings = 0
    files = _files(args.files, "flow files")
    for path in files:
        report = validate_file(path, labels)
        for issue in report.issues:
            print(issue)
        errors += len(report.errors)
        warnings += len(report.issues) - len(report.errors)
    status = "ok" if errors == 0 else "FAILED"
    print(f"{status}: {len(files)} file(s), {errors} error(s), {warnings} warning(s)", file=sys.stderr)
    return 1 if errors or (args.strict and warnings) else 0


def simulate(args: argparse.Namespace) -> int:
    from ivr.flows.simulate import Simulator, model_classifier, run
    from ivr.flows.validate import load_flow

    if args.model is None and default_model_path().is_file():
        args.model = str(default_model_path())
    labels = _labels_for_sim(args)
    flow = load_flow(args.flow, labels)
    now = _time(args.time)
    if args.events is not None:
        sep = ";" if ";" in args.events else ","
        turns = [t.strip() for t in args.events.split(sep) if t.strip()]
        sim = Simulator(flow, sys.stdout, model_classifier(args.model), labels, verbose=args.verbose)
        return run(sim, turns, now, args.ani, args.dnis, args.language)
    interactive = sys.stdin.isatty()
    sim = Simulator(flow, sys.stdout, model_classifier(args.model), labels, verbose=args.verbose)
    print(
        f"simulating {flow.version_tag} at {now.isoformat()}; type 'help' for what you can do",
        file=sys.stdout,
    )

    def prompt() -> None:
        print("caller> ", end="", flush=True)

    return run(sim, sys.stdin, now, args.ani, args.dnis, args.language, prompt if interactive else None)


def _labels_for_sim(args: argparse.Namespace) -> tuple[str, ...]:
    from ivr.flows.validate import labels_from_model

    if args.labels:
        return tuple(x.strip() for x in args.labels.split(",") if x.strip())
    if args.model and str(args.model).endswith(".safetensors") and Path(args.model).is_file():
        try:
            return labels_from_model(args.model)
        except FlowError:
            return DEFAULT_INTENTS
    return DEFAULT_INTENTS


def _time(text: str | None) -> datetime:
    if not text:
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise FlowError(f"--time {text!r} is not ISO 8601 (e.g. 2026-03-03T10:00:00-05:00)") from None
    if when.tzinfo is None:
        raise FlowError("--time needs a UTC offset, e.g. 2026-03-03T10:00:00-05:00")
    return when


def test(args: argparse.Namespace) -> int:
    from ivr.flows.testing import run_files
    from ivr.flows.validate import load_flow

    flow = load_flow(args.flow, _labels(args))
    results, cov = run_files(flow, _files(args.tests, "test files"))
    failed = [r for r in results if not r.passed]
    for r in results:
        print(
            f"{'PASS' if r.passed else 'FAIL'}  {r.name}  ({r.where}) -> {r.state.outcome or 'in progress'}"
        )
        for f in r.failures:
            print(f"      {f}")
        if args.verbose or not r.passed:
            print("\n".join(f"      | {line}" for line in r.transcript))
    missed_nodes, missed_edges = cov.missed()
    print(cov.summary())
    if missed_nodes:
        print(f"  nodes never visited: {', '.join(missed_nodes)}")
    if missed_edges:
        print(f"  routes never taken: {', '.join(missed_edges)}")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed or not results else 0


def graph(args: argparse.Namespace) -> int:
    from ivr.flows.graph import render
    from ivr.flows.validate import validate_file

    report = validate_file(args.flow)
    if report.flow is None or (report.errors and not args.force):
        problems = "\n".join(str(i) for i in report.errors)
        raise FlowError(f"{args.flow} has errors (--force draws it anyway):\n{problems}")
    out = render(report.flow, args.output)
    print(f"wrote {out}")
    return 0
