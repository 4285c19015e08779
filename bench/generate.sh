#!/usr/bin/env bash
# Local generation speed, cairn (candle; Q4_1 as shipped and re-quantised to Q8_0) next to
# llama.cpp (llama-cpp-python) on the same GGUF file, prompt and thread count, interleaved.
# Usage: [GGUF=file.gguf] bench/generate.sh [runs] [tokens]
# Needs llama-cpp-python in $LLAMA_PY's environment; it builds llama.cpp from source (~40 min on
# 2 cores). This machine's CPU reports AMX, which the sandbox does not enable (a native build
# dies with SIGILL in ggml's AMX matmul) and has no AVX-VNNI (only AVX512-VNNI; a build with it
# dies with SIGILL now and then), so build for AVX-512 without AMX or AVX-VNNI:
#   python3 -m venv ~/.cache/cairn/lcpenv && CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON \
#     -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON \
#     -DGGML_AVX512_BF16=ON -DGGML_AVX_VNNI=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF \
#     -DGGML_AMX_BF16=OFF" ~/.cache/cairn/lcpenv/bin/pip install llama-cpp-python==0.3.36
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-3}"
TOKENS="${2:-128}"
THREADS="${THREADS:-2}"
TARGET="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
LLAMA_PY="${LLAMA_PY:-$HOME/.cache/cairn/lcpenv/bin/python}"
CAIRN="$TARGET/debug/cairn"
# GGUF=path picks another file (e.g. the Qwen models under ~/.cache/cairn/models).
GGUF="${GGUF:-$("$CAIRN" models fetch | sed -n 's/^SmolLM2-135M-Instruct-GGUF ([^)]*): //p')/SmolLM2-135M-Instruct.Q4_1.gguf}"
echo "# $(nproc) cores, $THREADS threads, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for i in $(seq "$RUNS"); do
  RAYON_NUM_THREADS=$THREADS "$CAIRN" bench generate --model-file "$GGUF" --prompt-file bench/generate_prompt.txt --tokens "$TOKENS" --runs 1 --quant q8-0 --json
  RAYON_NUM_THREADS=$THREADS "$CAIRN" bench generate --model-file "$GGUF" --prompt-file bench/generate_prompt.txt --tokens "$TOKENS" --runs 1 --quant as-shipped --json
  "$LLAMA_PY" bench/llama_cpp_generate.py --model-file "$GGUF" --prompt-file bench/generate_prompt.txt --tokens "$TOKENS" --threads "$THREADS" --runs 1
done
