"""YAML voice-menu flows: load and validate them, run calls through the pure engine, test and draw them.

    report = validate_file("flows/customer_service.yaml")      # every problem, file:line:column
    flow = load_flow("flows/customer_service.yaml")             # or FlowError
    state = new_call("call-1", flow)
    state, actions = step(flow, state, CallStarted(now=...))    # pure: no I/O, no clock

Reference: docs/flows.md.
"""

from ivr.flows.engine import CallState, explain, new_call, step
from ivr.flows.registry import FlowRegistry
from ivr.flows.schema import Flow
from ivr.flows.validate import Report, labels_from_model, load_flow, validate_file, validate_text

__all__ = [
    "CallState",
    "Flow",
    "FlowRegistry",
    "Report",
    "explain",
    "labels_from_model",
    "load_flow",
    "new_call",
    "step",
    "validate_file",
    "validate_text",
]
