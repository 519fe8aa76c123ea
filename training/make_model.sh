#!/usr/bin/env bash
# The whole recipe, end to end: corpus -> stage 1 -> stage 2 -> stage 2b -> evaluation -> models/.
#
# Resumable: each stage is skipped when its output exists, and an interrupted training stage
# continues from its last checkpoint (runs/*/state.pt). On 2 CPU cores: 2 h 40 min on an AMD EPYC VM with
# AVX-512 BF16 (stage 2's 13,000 steps in bf16; 1 h 50 min for the 10,000 of 2026-12-02 on a faster instance);
# for 10,000 steps about 4 hours on an Intel Xeon VM with the same flags (stage 2 in float32, faster there) and
# about 5 hours without AVX-512, a third more for stage 2 now (docs/training.md, "Time budget").
#
#   training/make_model.sh            # the shipped model (make model)
#   training/make_model.sh --smoke    # a minute-long dry run into data/smoke and runs/smoke
#   SEED=7 RUNS=runs/seed7 MODEL=runs/seed7/model.safetensors training/make_model.sh   # another seed
#   HELDOUT_VOICES=espeak:en-gb-scotland,flite:rms DATA=data/corpus-x RUNS=runs/x MODEL=runs/x/model.safetensors \
#       training/make_model.sh   # other voices held out (training.corpus --heldout-voices)
#   TRANSCRIPTION=spoken RUNS=runs/spoken MODEL=runs/spoken/model.safetensors training/make_model.sh
#       # CTC targets as each voice speaks (training.pronunciation), the text head's text in their accents
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
DATA=${DATA:-data/corpus}
RUNS=${RUNS:-runs}
MODEL=${MODEL:-models/ivr-tiny-8k.safetensors}
CORPUS_ARGS=(--unlabeled 3000 --train-per-label 600 --dev-per-label 40 --dev-phrase-per-label 40 --test-voice-per-label 60 --test-phrase-per-label 60 --test-both-per-label 60)
PRETRAIN_ARGS=()
FINETUNE_ARGS=()
TEXT_ARGS=()

if [[ "${1:-}" == "--smoke" ]]; then
    DATA=data/smoke RUNS=runs/smoke MODEL=runs/smoke/ivr-smoke.safetensors
    CORPUS_ARGS=(--unlabeled 16 --train-per-label 4 --dev-per-label 2 --dev-phrase-per-label 2 --test-voice-per-label 2 --test-phrase-per-label 2 --test-both-per-label 2)
    PRETRAIN_ARGS=(--max_steps=4 --batch_size=4 --checkpoint_interval=2)
    FINETUNE_ARGS=(--max_steps=4 --batch_size=4 --checkpoint_interval=2 --eval_interval=0 --warmup_steps=2 --freeze_encoder_steps=0)
    TEXT_ARGS=(--text_per_label=20 --decode_draws=1 --max_steps=20 --batch_size=16 --warmup_steps=2 --eval_interval=0)
fi

if [[ -n "${HELDOUT_VOICES:-}" ]]; then
    CORPUS_ARGS+=(--heldout-voices "$HELDOUT_VOICES")
fi

# SEED=n trains another draw of the same recipe: the seed fixes initial weights, batches, masks and channel
# noise (stages 1 and 2 repeat exactly on the same kind of machine and thread count), so with RUNS and MODEL
# pointed elsewhere it measures how far the figures move between seeds.
if [[ -n "${SEED:-}" ]]; then
    PRETRAIN_ARGS+=(--seed="$SEED")
    FINETUNE_ARGS+=(--seed="$SEED")
    TEXT_ARGS+=(--seed="$SEED")
fi

step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "system packages: espeak-ng and flite (never festival: it is kept for independent evaluation)"
if ! command -v espeak-ng >/dev/null || ! command -v flite >/dev/null; then
    apt-get install -y --no-install-recommends espeak-ng flite
fi

step "corpus -> $DATA/manifest.jsonl"
if [[ ! -f "$DATA/manifest.jsonl" ]]; then
    "$PY" -m training.corpus --out "$DATA" "${CORPUS_ARGS[@]}"
fi

# TRANSCRIPTION=spoken: the stages read a copy of the manifest whose phonemes are what each voice says (its
# accent, flite's lexicon) instead of en-us for everyone, and stage 2b spells its text in the training voices'
# accents to match (docs/training.md, "What each voice says").
MANIFEST="$DATA/manifest.jsonl"
if [[ "${TRANSCRIPTION:-reference}" == "spoken" ]]; then
    step "spoken phonemes -> $DATA/manifest-spoken.jsonl"
    if [[ ! "$DATA/manifest-spoken.jsonl" -nt "$MANIFEST" ]]; then
        "$PY" -m training.pronunciation --manifest "$MANIFEST" --out "$DATA/manifest-spoken.jsonl"
    fi
    MANIFEST="$DATA/manifest-spoken.jsonl"
    TEXT_ARGS+=(--text_pronunciation=spoken)
fi

step "stage 1: self-supervised pre-training -> $RUNS/pretrain/encoder.safetensors"
if [[ ! -f "$RUNS/pretrain/encoder.safetensors" ]]; then
    "$PY" -m training.pretrain --config training/configs/pretrain.yaml \
        --manifest="$MANIFEST" --out_dir="$RUNS/pretrain" "${PRETRAIN_ARGS[@]}"
fi

step "stage 2: intent + phoneme CTC fine-tuning -> $RUNS/finetune/model.safetensors"
if [[ ! -f "$RUNS/finetune/model.safetensors" ]]; then
    "$PY" -m training.finetune --config training/configs/finetune.yaml \
        --manifest="$MANIFEST" --out_dir="$RUNS/finetune" \
        --init="$RUNS/pretrain/encoder.safetensors" "${FINETUNE_ARGS[@]}"
fi

# Stage 2b (the text head, fused with the audio head) is part of the recipe since its decoder got good
# enough to pay (docs/training.md); TEXT_HEAD=0 skips it and ships the stage-2 model alone.
FINAL="$RUNS/finetune/model.safetensors"
if [[ "${TEXT_HEAD:-1}" == "1" ]]; then
    step "stage 2b: phoneme (text) intent head on unsynthesized phrasings, fused -> $RUNS/text_intent/model.safetensors"
    if [[ ! -f "$RUNS/text_intent/model.safetensors" ]]; then
        "$PY" -m training.text_intent --config training/configs/text_intent.yaml \
            --model "$RUNS/finetune/model.safetensors" --out "$RUNS/text_intent" \
            --manifest="$MANIFEST" "${TEXT_ARGS[@]}"
    fi
    FINAL="$RUNS/text_intent/model.safetensors"
fi

step "evaluation on held-out voices and phrases -> $RUNS/eval/report.md"
if [[ ! "$RUNS/eval/report.json" -nt "$FINAL" ]]; then  # a report older than the model is stale
    "$PY" -m training.evaluate --model "$FINAL" \
        --manifest "$MANIFEST" --splits test_voice,test_phrase,test_both --out "$RUNS/eval"
fi

step "install -> $MODEL"
mkdir -p "$(dirname "$MODEL")"
cp "$FINAL" "$MODEL"
cat "$RUNS/eval/report.md"
echo "done: $MODEL (fill the figures of models/README.md from $RUNS/eval/report.md)"
