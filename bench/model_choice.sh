#!/usr/bin/env bash
# Picks the offline default by the numbers: each local generator answers the first N questions
# of the development QA set through `cairn ask`'s pipeline (`cairn eval rag`, no judge), over one
# index of the 3,200 rag-mini-wikipedia passages; bench/model_choice_table.py prints the table
# (accuracy, own-citation and verified-citation rates, seconds per answer).
# Usage: bench/model_choice.sh [N] [OUT_DIR] [MODEL ...]   (CAIRN_BIN=path skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-200}"
OUT="${2:-/tmp/cairn-model-choice}"
shift $(( $# < 2 ? $# : 2 ))
MODELS=("$@")
[ ${#MODELS[@]} -gt 0 ] || MODELS=(smollm2-135m-instruct qwen2.5-coder-0.5b qwen2.5-coder-1.5b)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}" CARGO_INCREMENTAL=0
TARGET="$CARGO_TARGET_DIR"
DATA="${CAIRN_QA_DIR:-$(cd .. && pwd)/shared/data/qa/rag-mini-wikipedia}"
if [ -n "${CAIRN_BIN:-}" ]; then cairn="$CAIRN_BIN"; else
  cargo build -q -p cairn-cli
  cairn="$TARGET/debug/cairn"
fi
mkdir -p "$OUT"
"$cairn" ingest "$DATA/passages.csv" --text-fields passage --id-field id --index "$OUT/idx"
for m in "${MODELS[@]}"; do
  "$cairn" models fetch "$m" >/dev/null
  start=$(date +%s.%N)
  "$cairn" eval rag "$DATA/question_answer.csv" --index "$OUT/idx" --max-questions "$N" \
    --model "local:$m" --out "$OUT/run-$m.json" --report "$OUT/report-$m.html" > "$OUT/summary-$m.txt"
  echo "$m $(echo "$(date +%s.%N) - $start" | bc)" >> "$OUT/wall.txt"
done
python3 bench/model_choice_table.py "$OUT" "${MODELS[@]}"
