#!/usr/bin/env bash
# LLM client overhead: llmock (the local peer) streams a 10,000-word reply as OpenAI SSE, one
# chunk per word; cairn's client and raw reqwest read it in turn, interleaved.
# Usage: bench/llm_stream.sh [calls]   (needs a built cairn and llmock; scripts/test installs it)
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS="${1:-20}"
TARGET="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
LLMOCK="${CAIRN_LLMOCK:-${CAIRN_CACHE_DIR:-$HOME/.cache/cairn}/venv/bin/llmock}"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$LLMOCK" serve --host 127.0.0.1 --port "$PORT" --log-level warning >/dev/null 2>&1 &
PID=$!
trap 'kill $PID' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
TEXT=$(python3 -c 'print(" ".join("w%d" % (i % 1000) for i in range(10000)))')
curl -sf -XPOST "http://127.0.0.1:$PORT/_llmock/scenario" \
  -d "{\"behaviors\":[{\"type\":\"reply\",\"text\":\"$TEXT\",\"times\":null}]}" >/dev/null
"$TARGET/debug/cairn" bench llm-stream --base-url "http://127.0.0.1:$PORT/v1" --calls "$CALLS" --replay --json
