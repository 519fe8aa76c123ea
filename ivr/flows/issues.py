"""A problem found in a flow file, printed as ``file:line:column: code: message`` plus a hint."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.flows.loader import Pos

# Every code the loader and validator emit, with what it means. docs/flows.md lists the same.
CODES: dict[str, str] = {
    "yaml-syntax": "the file is not valid YAML, or breaks a size/alias limit",
    "duplicate-key": "a mapping repeats a key",
    "unknown-key": "a key the flow language does not define (often a typo)",
    "wrong-type": "a value of the wrong type (text where a number belongs, ...)",
    "missing-field": "a required key is absent",
    "bad-value": "a value out of range or not one of the allowed choices",
    "bad-expression": "a condition or template does not parse",
    "unknown-timezone": "a calendar names a time zone that is not in the IANA database",
    "bad-hours": "opening hours or a holiday date that cannot be read",
    "unknown-target": "a goto/next/route names a node that does not exist",
    "unknown-subflow": "a call node names a sub-flow that does not exist",
    "unknown-calendar": "open()/holiday() names a calendar the flow does not declare",
    "unknown-variable": "an expression or prompt reads a variable nothing sets",
    "unreachable-node": "no path from the start reaches this node",
    "dead-end": "a node from which the call can neither continue nor end",
    "endless-loop": "nodes that can cycle forever without waiting for the caller",
    "unknown-intent": "a route on an intent the model cannot produce",
    "impossible-digits": "a DTMF route a phone keypad or the gather settings cannot produce",
    "duplicate-dtmf": "two routes of one node on the same keys",
    "duplicate-intent": "two routes of one node on the same intent with no condition",
    "missing-audio": "a prompt's audio file does not exist",
    "missing-translation": "a prompt lacks text for a language the flow declares",
}


@dataclass(frozen=True, slots=True)
class Issue:
    code: str
    message: str
    pos: Pos
    hint: str = ""
    severity: str = "error"  # error | warning

    def __str__(self) -> str:
        head = f"{self.pos}: {self.code}: {self.message}"
        if self.severity != "error":
            head = f"{self.pos}: {self.code} ({self.severity}): {self.message}"
        return f"{head}\n    hint: {self.hint}" if self.hint else head
