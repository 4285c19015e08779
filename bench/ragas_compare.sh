#!/usr/bin/env bash
# cairn's judge metrics side by side with ragas (pinned) on the same answers, through the same
# judge: `cairn serve` with a local GGUF (greedy) as the OpenAI-compatible endpoint for both
# tools' chat and embedding calls (all-MiniLM-L6-v2 behind /v1/embeddings).
# The answers are the first N questions of rag-mini-wikipedia as a cairn run answered them
# (RUN.json, from bench/model_choice.sh); both tools score the same question, answer, contexts
# and reference. bench/ragas_table.py prints per-metric Pearson/Spearman, time and calls.
# Needs ragas in $RAGAS_PY's environment:
#   python3 -m venv ~/.cache/cairn/ragasenv && ~/.cache/cairn/ragasenv/bin/pip install \
#     ragas==0.4.3 langchain-openai==1.8.1 langchain-community==0.4.1   (0.4.2 dropped a module ragas imports)
# Usage: bench/ragas_compare.sh RUN.json [N] [JUDGE] [OUT_DIR]   (CAIRN_BIN=path skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="$1"
N="${2:-50}"
JUDGE="${3:-local:qwen2.5-coder-1.5b}"
OUT="${4:-/tmp/cairn-ragas}"
RAGAS_PY="${RAGAS_PY:-$HOME/.cache/cairn/ragasenv/bin/python}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}" CARGO_INCREMENTAL=0
if [ -n "${CAIRN_BIN:-}" ]; then cairn="$CAIRN_BIN"; else
  cargo build -q -p cairn-cli
  cairn="$CARGO_TARGET_DIR/debug/cairn"
fi
mkdir -p "$OUT"
python3 - "$RUN" "$N" "$OUT/answers.jsonl" <<'PY'
import json, re, sys
run, n, out = json.load(open(sys.argv[1])), int(sys.argv[2]), sys.argv[3]
with open(out, "w") as f:
    for s in run["samples"][:n]:
        f.write(json.dumps({
            "id": s["sample"]["id"], "user_input": s["sample"]["question"],
            "response": s["response"]["answer"],
            "retrieved_contexts": [c["text"] for c in s["response"]["contexts"]],
            "reference": s["sample"].get("reference") or "",
        }) + "\n")
PY
"$cairn" models fetch "${JUDGE#local:}" >/dev/null
# A fresh judge cache, so cairn's calls reach the judge as ragas's do.
export CAIRN_CACHE_DIR="$OUT/cache"
rm -rf "$CAIRN_CACHE_DIR"; mkdir -p "$CAIRN_CACHE_DIR"
ln -sfn "$HOME/.cache/cairn/models" "$CAIRN_CACHE_DIR/models"
"$cairn" serve --port 0 -m "$JUDGE" --index "${INDEX:-$(dirname "$RUN")/idx}" -q > "$OUT/serve.log" 2>&1 &
SERVE=$!
trap 'kill $SERVE 2>/dev/null || true' EXIT
for _ in $(seq 120); do
  URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$OUT/serve.log" | head -1 || true)
  [ -n "$URL" ] && curl -sf "$URL/health" >/dev/null 2>&1 && break
  sleep 1
done
[ -n "$URL" ] || { cat "$OUT/serve.log"; exit 1; }
echo "judge $JUDGE at $URL"
export OPENAI_BASE_URL="$URL/v1" OPENAI_API_KEY=unused
start=$(date +%s.%N)
"$cairn" eval rag --answers "$OUT/answers.jsonl" --judge "openai:$JUDGE" \
  --judge-embedder openai:all-MiniLM-L6-v2 \
  --metrics faithfulness,answer_relevancy,context_precision,context_recall,factual_correctness \
  --out "$OUT/cairn.json" > "$OUT/cairn-summary.txt"
echo "cairn $(echo "$(date +%s.%N) - $start" | bc)" > "$OUT/cairn-wall.txt"
"$RAGAS_PY" bench/ragas_score.py "$OUT/answers.jsonl" "$OUT/ragas.json" --base-url "$URL/v1" \
  --model "$JUDGE" --embedder all-MiniLM-L6-v2
"$RAGAS_PY" bench/ragas_table.py "$OUT"
