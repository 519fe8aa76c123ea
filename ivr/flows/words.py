"""Typed caller turns for the simulator and test runner: ``intent:NAME 0.62`` and plain words.

``match_words`` is a deliberately simple keyword matcher over the intent names plus a small synonym
table, so a person can drive a flow by typing what a caller would say. It is not the model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ivr.intents import DEFAULT_INTENTS, OUT_OF_SCOPE

DEFAULT_CONFIDENCE = 0.95

SYNONYMS: dict[str, tuple[str, ...]] = {
    "check_balance": ("balance", "owe", "how much", "amount due"),
    "make_payment": ("pay", "payment", "pay my bill"),
    "billing_question": ("bill", "billing", "charge", "charged", "invoice", "statement"),
    "technical_support": ("internet", "broken", "not working", "technical", "support", "outage", "wifi"),
    "cancel_service": ("cancel", "terminate", "close my account", "disconnect"),
    "new_service": ("new service", "sign up", "add a line", "upgrade", "new line"),
    "update_account": ("update", "address", "change my", "email address", "account details"),
    "reset_password": ("password", "reset", "locked out", "log in", "login"),
    "order_status": ("order", "package", "delivery", "shipped", "tracking"),
    "report_lost_card": ("lost", "stolen", "card"),
    "store_hours": ("hours", "open", "close", "store"),
    "speak_to_agent": ("agent", "human", "person", "representative", "operator", "someone"),
    "affirm": ("yes", "yeah", "yep", "correct", "right", "sure", "that's right"),
    "deny": ("no", "nope", "wrong", "not right", "incorrect"),
    "repeat": ("repeat", "again", "say that again", "what"),
    "goodbye": ("bye", "goodbye", "that's all", "hang up"),
    "main_menu": ("menu", "main menu", "start over"),
}


def parse_intents(text: str) -> list[tuple[str, float]]:
    """``check_balance 0.91, make_payment 0.05`` (or ``intent:check_balance``) -> top-k pairs."""
    pairs: list[tuple[str, float]] = []
    for part in text.removeprefix("intent:").split(","):
        fields = part.replace("@", " ").split()
        if not fields:
            continue
        if len(fields) > 2:
            raise ValueError(f"expected 'intent [confidence]', got {part.strip()!r}")
        name = fields[0].removeprefix("intent:")
        try:
            conf = float(fields[1]) if len(fields) == 2 else DEFAULT_CONFIDENCE
        except ValueError:
            raise ValueError(f"confidence {fields[1]!r} is not a number") from None
        if not 0.0 <= conf <= 1.0:
            raise ValueError(f"confidence {conf} is not between 0 and 1")
        pairs.append((name, conf))
    if not pairs:
        raise ValueError("no intent given")
    return sorted(pairs, key=lambda p: -p[1])


def match_words(text: str, labels: Sequence[str] = DEFAULT_INTENTS) -> list[tuple[str, float]]:
    """Score each intent by the keywords found in ``text``; the best gets most of the confidence."""
    words = " " + re.sub(r"[^a-z' ]+", " ", text.lower()) + " "
    scores: dict[str, float] = {}
    for intent in labels:
        keys = (*SYNONYMS.get(intent, ()), intent.replace("_", " "))
        for key in keys:
            if f" {key} " in words:
                scores[intent] = scores.get(intent, 0.0) + len(key.split())
    if not scores:
        return [(OUT_OF_SCOPE, 0.9)]
    total = sum(scores.values())
    ranked = sorted(scores.items(), key=lambda p: (-p[1], p[0]))
    return [(intent, round(0.5 + 0.45 * score / total, 2)) for intent, score in ranked[:3]]
