#!/usr/bin/env bash
# `make run`: what this installation loads, then one scripted call through the default flow.
# The caller's first turn is a recording (a µ-law WAV) that the shipped model classifies; without a
# model (before `make model`), the same turn is given as a typed intent so the walk-through still runs.
set -euo pipefail
cd "$(dirname "$0")/.."
IVR=${IVR:-.venv/bin/ivr}
MODEL=${IVR_MODEL:-models/ivr-tiny-8k.safetensors}

"$IVR" info
echo
"$IVR" flow validate flows/customer_service.yaml
echo
if [[ -f "$MODEL" ]]; then
    first_turn="tests/data/lost_card_8k_ulaw.wav"
    "$IVR" classify "$first_turn"
else
    echo "(no model at $MODEL yet: \`make model\` trains it; the caller's first turn is typed instead)"
    first_turn="intent:report_lost_card@0.93"
fi
echo
# A weekday morning, Eastern time: the business-hours check routes to the main menu.
"$IVR" --log-json flow simulate flows/customer_service.yaml --time 2026-12-01T10:00:00-05:00 \
    --events "$first_turn; 12345678#; 1; 4321#; webhook ok {\"verified\": true}" 2>/dev/null
