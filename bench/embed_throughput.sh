#!/usr/bin/env bash
# Embedding throughput, cairn (candle) next to sentence-transformers (PyTorch CPU), same model
# files, same texts (SciFact title + text), same batch size, 2 threads each, run back to back.
# Usage: bench/embed_throughput.sh VENV_PYTHON MODEL_DIR SCIFACT_DIR [LIMIT]
set -euo pipefail
py=$1 model=$2 sf=$3 limit=${4:-1000}
cairn="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}/debug/cairn"  # numeric crates build at opt-level 3 (Cargo.toml)
echo "sentence-transformers: $("$py" "$(dirname "$0")/st_embed.py" "$model" "$sf/corpus.jsonl" --limit "$limit" --batch-size 32 --threads 2 2>/dev/null)"
echo "cairn:                 $(RAYON_NUM_THREADS=2 "$cairn" bench embed "$sf/corpus.jsonl" --model-dir "$model" --limit "$limit" --batch-size 32 --json)"
