#!/usr/bin/env bash
# Reproduces every number in BENCHMARKS.md, each next to its peer in the same run.
# Needs a Python venv with sentence-transformers, bm25s, PyStemmer and hnswlib:
#   python3 -m venv /tmp/stenv && /tmp/stenv/bin/pip install sentence-transformers bm25s PyStemmer hnswlib
# Usage: bench/run_all.sh VENV_PYTHON MODEL_DIR SCIFACT_DIR SCIFACT_INDEX
# (SCIFACT_INDEX: an index of SciFact, e.g. from `cairn eval beir SCIFACT_DIR --index DIR`.)
# Do not run it while anything else (a build) is using the CPU.
#
# It runs: embedding throughput, BM25 vs bm25s, search latency, HNSW vs hnswlib (synthetic and
# SciFact), and the citation verifiers against the BEGIN human labels. It leaves out, each with
# its own command in BENCHMARKS.md because each takes long or needs a peer built by hand:
# SciFact retrieval quality (`cairn eval beir`, ~10 min per mode), HNSW on 1M vectors (~1 h),
# the LLM client overhead (bench/llm_stream.sh, needs llmock), `cairn serve` under load beside
# infinity-emb and llmock (bench/serve.sh, ~15 min with its 10-minute soak), local generation vs llama.cpp
# (bench/generate.sh, needs llama-cpp-python built from source, ~40 min), the offline model
# comparison (bench/small_models.sh, bench/answer_quality.sh), the chunking curve
# (`cargo run --release -p cairn-ingest --example chunk_curve`) and the judge calibration
# (`cairn eval citations --verify model`, hours with a CPU model).
set -euo pipefail
py=$1 model=$2 sf=$3 index=$4
here=$(cd "$(dirname "$0")" && pwd)
cairn="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}/debug/cairn"
out="$here/results"
mkdir -p "$out"
echo "== embedding throughput (1000 SciFact documents)"
"$here/embed_throughput.sh" "$py" "$model" "$sf" 1000 | tee "$out/embed.txt"
echo "== BM25 vs bm25s"
"$py" "$here/bm25_compare.py" "$cairn" "$sf" | tee "$out/bm25.json"
echo "== search latency (SciFact test queries)"
tail -300 "$sf/queries.jsonl" > "$out/test-queries.jsonl"
for mode in hybrid dense bm25; do
  "$cairn" bench search "$out/test-queries.jsonl" --index "$index" --mode "$mode" --json | tee "$out/search-$mode.json"
done
echo "== HNSW vs hnswlib: 100k synthetic clustered 384-d vectors"
tmp=$(mktemp -d)
"$cairn" bench hnsw --n 100000 --dim 384 --clusters 1000 --queries 1000 --m 16 --ef-construction 200 \
  --ef 16,32,64,128,256 --dump-dir "$tmp" --json | tee "$out/hnsw-synthetic-cairn.json"
"$py" "$here/hnsw_compare.py" "$tmp" | tee "$out/hnsw-synthetic-hnswlib.json"
echo "== HNSW vs hnswlib: SciFact chunk embeddings (MiniLM)"
"$cairn" bench hnsw --from-index "$index" --queries 500 --m 16 --ef-construction 200 \
  --ef 16,32,64,128,256 --dump-dir "$tmp" --json | tee "$out/hnsw-scifact-cairn.json"
"$py" "$here/hnsw_compare.py" "$tmp" | tee "$out/hnsw-scifact-hnswlib.json"
rm -rf "$tmp"
echo "== citation verifiers vs human labels (BEGIN dev)"
"$cairn" eval citations "$here/../../shared/data/judgements/begin-dev" --json | tee "$out/verify-lexical.json"
