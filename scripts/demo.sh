#!/usr/bin/env bash
# `make run`: what this installation loads, then one scripted call through the default flow.
# The caller's first turn is a recording (a µ-law WAV) that the shipped model classifies; without a
# model (before `make model`), or when the model mishears it, the same turn is given as a typed intent so
# the walk-through still runs.
set -euo pipefail
cd "$(dirname "$0")/.."
IVR=${IVR:-.venv/bin/ivr}
MODEL=${IVR_MODEL:-models/ivr-tiny-8k.safetensors}

"$IVR" info
echo
"$IVR" flow validate flows/customer_service.yaml
echo
typed_turn="intent:report_lost_card@0.93"
if [[ -f "$MODEL" ]]; then
    first_turn="tests/data/lost_card_8k_ulaw.wav"
    heard=$("$IVR" classify --model "$MODEL" "$first_turn")
    echo "$heard"
    if [[ "$heard" != *": report_lost_card ("* ]]; then
        # The key presses below answer the lost-card path; a misheard first turn would send them elsewhere.
        echo "(the model did not hear report_lost_card, what the caller says: the walk-through types that turn"
        echo " instead; models/README.md says how often the model is right)"
        first_turn=$typed_turn
    fi
else
    echo "(no model at $MODEL yet: \`make model\` trains it; the caller's first turn is typed instead)"
    first_turn=$typed_turn
fi
echo
# A weekday morning, Eastern time: the business-hours check routes to the main menu.
"$IVR" --log-json flow simulate flows/customer_service.yaml --time 2026-12-01T10:00:00-05:00 \
    --events "$first_turn; 12345678#; 1; 4321#; webhook ok {\"verified\": true}" 2>/dev/null
