#!/usr/bin/env bash
# `cairn serve` under load, beside its peers in one run (BENCHMARKS.md, "Serving over HTTP"):
#   1. /v1/embeddings: cairn serve vs infinity-emb serving the same MiniLM files, 1/8/32 clients;
#   2. /v1/search (hybrid, k = 10) on the SciFact index, 1/8/32 clients;
#   3. /v1/chat/completions through cairn serve vs calling llmock directly, one client;
#   4. a soak: 16 clients for SOAK seconds on a mix of the three routes, resident memory sampled.
# The load generator is `cairn bench http` (one thread, closed loop), the same for every server.
#
# Usage: bench/serve.sh SCIFACT_DIR SCIFACT_INDEX [SECONDS_PER_LEVEL] [SOAK_SECONDS]
#   SCIFACT_INDEX: an index of SciFact, made if missing (`cairn --index DIR ingest` of the corpus
#   as BEIR documents takes ~10 min here; `cairn eval beir SCIFACT_DIR --index DIR` makes one).
# Needs: a built cairn, llmock (scripts/test installs it), and infinity-emb in a venv:
#   python3 -m venv ~/.cache/cairn/bench-venv
#   ~/.cache/cairn/bench-venv/bin/pip install "infinity-emb[server,torch]==0.0.78"
# Do not run it while anything else (a build) is using the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
sf=$1 index=$2 secs=${3:-15} soak=${4:-600}
CACHE="${CAIRN_CACHE_DIR:-$HOME/.cache/cairn}"
cairn="${CARGO_TARGET_DIR:-$CACHE/target}/debug/cairn"
LLMOCK="${CAIRN_LLMOCK:-$CACHE/venv/bin/llmock}"
INFINITY="${INFINITY_EMB:-$CACHE/bench-venv/bin/infinity_emb}"
PY="$CACHE/venv/bin/python"
out=bench/results/serve
mkdir -p "$out"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 600); do curl -sf "$1" >/dev/null && return 0; sleep 0.5; done; echo "$1 did not come up" >&2; exit 1; }

if [ ! -e "$index" ]; then
  echo "== building the SciFact index at $index"
  "$cairn" eval beir "$sf" --index "$index" --json >/dev/null
fi

# The model's files, with the sentence-transformers descriptors infinity reads (mean pooling,
# 256 tokens: what all-MiniLM-L6-v2 publishes and cairn's embedder does).
model="$CACHE/models/all-MiniLM-L6-v2"
st="$work/st-model"
mkdir -p "$st/1_Pooling"
for f in config.json model.safetensors tokenizer.json; do ln -s "$model/$f" "$st/$f"; done
echo '[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},{"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]' >"$st/modules.json"
echo '{"max_seq_length":256,"do_lower_case":false}' >"$st/sentence_bert_config.json"
echo '{"word_embedding_dimension":384,"pooling_mode_cls_token":false,"pooling_mode_mean_tokens":true,"pooling_mode_max_tokens":false,"pooling_mode_mean_sqrt_len_tokens":false}' >"$st/1_Pooling/config.json"
echo '{"do_lower_case":true,"model_max_length":256,"tokenizer_class":"BertTokenizer"}' >"$st/tokenizer_config.json"

# Request bodies: SciFact abstracts' first sentences for embeddings, test queries for search.
"$PY" - "$sf" "$work" <<'PY'
import json, sys
sf, work = sys.argv[1], sys.argv[2]
with open(f"{sf}/corpus.jsonl") as f, open(f"{work}/embed.jsonl", "w") as o:
    for i, line in enumerate(f):
        if i >= 2000: break
        d = json.loads(line)
        text = (d.get("title", "") + ". " + d.get("text", ""))[:300]
        o.write(json.dumps({"model": "all-MiniLM-L6-v2", "input": text}) + "\n")
with open(f"{sf}/queries.jsonl") as f, open(f"{work}/search.jsonl", "w") as o:
    for line in list(f)[-300:]:
        q = json.loads(line)
        o.write(json.dumps({"query": q["text"], "k": 10}) + "\n")
with open(f"{work}/chat.jsonl", "w") as o:
    for i in range(100):
        o.write(json.dumps({"model": "gpt-4o-mini", "max_tokens": 32,
            "messages": [{"role": "user", "content": f"Say hello to visitor {i}."}]}) + "\n")
PY

mock_port=$(port)
"$LLMOCK" serve --host 127.0.0.1 --port "$mock_port" --log-level warning >/dev/null 2>&1 &
pids+=($!)
wait_up "http://127.0.0.1:$mock_port/health"

cairn_port=$(port)
OPENAI_BASE_URL="http://127.0.0.1:$mock_port/v1" OPENAI_API_KEY=sk-bench \
CAIRN_KEYS="$work/keys.sqlite" CAIRN_LEDGER="$work/ledger.sqlite" \
  "$cairn" --index "$index" serve --port "$cairn_port" \
  --model openai:gpt-4o-mini --concurrency 256 2>"$work/serve.log" &
cairn_pid=$!
pids+=($cairn_pid)
wait_up "http://127.0.0.1:$cairn_port/health"

inf_port=$(port)
"$INFINITY" v2 --model-id "$st" --served-model-name all-MiniLM-L6-v2 --engine torch --device cpu \
  --port "$inf_port" --url-prefix /v1 --log-level warning --no-model-warmup >"$work/infinity.log" 2>&1 &
inf_pid=$!
pids+=($inf_pid)
wait_up "http://127.0.0.1:$inf_port/health"

load() { "$cairn" bench http --json --duration "$secs" --warmup 3 "$@"; }

echo "== /v1/embeddings, one short text per request: cairn serve vs infinity-emb, interleaved"
for n in 1 8 32; do
  load --label "cairn serve" --url "http://127.0.0.1:$cairn_port/v1/embeddings" \
    --bodies "$work/embed.jsonl" --clients "$n" --watch-pid "$cairn_pid"
  load --label "infinity-emb" --url "http://127.0.0.1:$inf_port/v1/embeddings" \
    --bodies "$work/embed.jsonl" --clients "$n" --watch-pid "$inf_pid"
done | tee "$out/embeddings.jsonl"
kill "$inf_pid"

echo "== /v1/search, hybrid, k = 10, SciFact test queries"
load --label "cairn serve /v1/search" --url "http://127.0.0.1:$cairn_port/v1/search" \
  --bodies "$work/search.jsonl" --clients 1,8,32 --watch-pid "$cairn_pid" | tee "$out/search.jsonl"

echo "== /v1/chat/completions: llmock direct vs through cairn serve, one client, interleaved"
for round in 1 2 3; do
  load --label "llmock direct" --url "http://127.0.0.1:$mock_port/v1/chat/completions" \
    -H "Authorization: Bearer sk-bench" --bodies "$work/chat.jsonl" --clients 1
  load --label "through cairn serve" --url "http://127.0.0.1:$cairn_port/v1/chat/completions" \
    --bodies "$work/chat.jsonl" --clients 1 --watch-pid "$cairn_pid"
done | tee "$out/chat.jsonl"

echo "== soak: 16 clients for ${soak}s (6 embeddings, 6 search, 4 chat)"
"$cairn" bench http --json --duration "$soak" --warmup 0 --label "soak /v1/embeddings" \
  --url "http://127.0.0.1:$cairn_port/v1/embeddings" --bodies "$work/embed.jsonl" --clients 6 \
  --watch-pid "$cairn_pid" >"$work/soak-embed.json" &
a=$!
"$cairn" bench http --json --duration "$soak" --warmup 0 --label "soak /v1/search" \
  --url "http://127.0.0.1:$cairn_port/v1/search" --bodies "$work/search.jsonl" --clients 6 \
  >"$work/soak-search.json" &
b=$!
"$cairn" bench http --json --duration "$soak" --warmup 0 --label "soak /v1/chat/completions" \
  --url "http://127.0.0.1:$cairn_port/v1/chat/completions" --bodies "$work/chat.jsonl" --clients 4 \
  >"$work/soak-chat.json" &
c=$!
wait "$a" "$b" "$c"
cat "$work"/soak-*.json | tee "$out/soak.jsonl"
