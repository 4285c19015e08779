"""llama.cpp (llama-cpp-python) side of `cairn bench generate`: the same GGUF file, prompt, thread
count and decoded-token count, greedy, EOS ignored. Prints one JSON line per run."""
import argparse
import json
import time

from llama_cpp import Llama

ap = argparse.ArgumentParser()
ap.add_argument("--model-file", required=True)
ap.add_argument("--prompt-file", required=True)
ap.add_argument("--tokens", type=int, default=128)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--runs", type=int, default=3)
a = ap.parse_args()

t0 = time.perf_counter()
llm = Llama(model_path=a.model_file, n_ctx=2048, n_batch=512, n_threads=a.threads,
            n_threads_batch=a.threads, verbose=False)
load = time.perf_counter() - t0
prompt = open(a.prompt_file).read()
tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
for run in range(a.runs):
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(tokens)
    tok = llm.sample(top_k=1, temp=0.0)
    prefill = time.perf_counter() - t0
    t1 = time.perf_counter()
    for _ in range(a.tokens - 1):
        llm.eval([tok])
        tok = llm.sample(top_k=1, temp=0.0)
    decode = time.perf_counter() - t1
    print(json.dumps({"engine": "llama.cpp", "run": run, "threads": a.threads, "load_s": load,
                      "prompt_tokens": len(tokens), "output_tokens": a.tokens,
                      "prefill_tok_s": len(tokens) / prefill,
                      "decode_tok_s": (a.tokens - 1) / decode}))
