#!/usr/bin/env bash
# The offline default's answer quality (no-judge metrics) on the development QA set: ingest the
# 3,200 rag-mini-wikipedia passages, ask the first N questions through `cairn ask`'s pipeline
# with the offline model, score them. The baseline the offline-model issue must beat.
# Usage: bench/eval_rag_baseline.sh [N] [OUT_DIR]   (writes OUT_DIR/run.json and report.html)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-200}"
OUT="${2:-/tmp/cairn-eval-rag}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}" CARGO_INCREMENTAL=0
TARGET="$CARGO_TARGET_DIR"
DATA="${CAIRN_QA_DIR:-$(cd .. && pwd)/shared/data/qa/rag-mini-wikipedia}"
cargo build -q -p cairn-cli
cairn="$TARGET/debug/cairn"
mkdir -p "$OUT"
"$cairn" ingest "$DATA/passages.csv" --text-fields passage --id-field id --index "$OUT/idx"
"$cairn" eval rag "$DATA/question_answer.csv" --index "$OUT/idx" --max-questions "$N" \
  --out "$OUT/run.json" --report "$OUT/report.html"
