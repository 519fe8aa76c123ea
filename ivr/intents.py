"""The default intent label set of the shipped model, shared by the model, the flows and the CLI."""

from __future__ import annotations

DEFAULT_INTENTS: tuple[str, ...] = (
    "check_balance",
    "make_payment",
    "billing_question",
    "technical_support",
    "cancel_service",
    "new_service",
    "update_account",
    "reset_password",
    "order_status",
    "report_lost_card",
    "store_hours",
    "speak_to_agent",
    "affirm",
    "deny",
    "repeat",
    "goodbye",
    "main_menu",
)

# What the classifier returns when no intent is confident enough: speech that is none of the above.
OUT_OF_SCOPE = "out_of_scope"
