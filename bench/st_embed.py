"""The sentence-transformers side of the embedding-throughput benchmark (see embed_throughput.sh)."""
import argparse
import json
import time

import torch
from sentence_transformers import SentenceTransformer

p = argparse.ArgumentParser()
p.add_argument("model_dir")
p.add_argument("corpus")
p.add_argument("--limit", type=int)
p.add_argument("--batch-size", type=int, default=32)
p.add_argument("--threads", type=int, default=2)
# cairn truncates at 256 tokens, as sentence-transformers does for this model when the folder has
# its sentence_bert_config.json; the packaged folder lacks it (so 512 would apply): set it here so
# both sides embed the same tokens.
p.add_argument("--max-seq-length", type=int, default=256)
a = p.parse_args()

torch.set_num_threads(a.threads)
texts = []
with open(a.corpus) as f:
    for line in f:
        if a.limit and len(texts) >= a.limit:
            break
        if line.strip():
            d = json.loads(line)
            texts.append(f"{d.get('title', '')} {d.get('text', '')}".strip())

model = SentenceTransformer(a.model_dir, device="cpu")
model.max_seq_length = a.max_seq_length
model.encode(texts[:8], batch_size=a.batch_size)  # warm up
t = time.perf_counter()
v = model.encode(texts, batch_size=a.batch_size, normalize_embeddings=True)
secs = time.perf_counter() - t
tokens = sum(len(model.tokenizer(t, truncation=True, max_length=a.max_seq_length)["input_ids"]) for t in texts)
print(json.dumps({"texts": len(texts), "tokens": tokens, "seconds": secs,
                  "texts_per_s": len(texts) / secs, "tokens_per_s": tokens / secs,
                  "batch_size": a.batch_size, "threads": torch.get_num_threads(),
                  "max_seq_length": model.max_seq_length,
                  "torch": torch.__version__}))
