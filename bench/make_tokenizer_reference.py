"""Writes the reference tokenisation that `crates/cairn-models/tests/qwen.rs` compares cairn's
Qwen2 tokenizer (rebuilt from the GGUF metadata) against: llama.cpp's own tokenizer
(llama-cpp-python, `vocab_only`) on a few hundred varied strings.

Usage: python bench/make_tokenizer_reference.py MODEL.gguf OUT.jsonl [PASSAGES.csv]
Each output line is {"text": ..., "ids": [...]}, tokenised with special tokens parsed (as a
rendered ChatML prompt is) and no BOS. PASSAGES.csv (rag-mini-wikipedia's) adds real text.
"""
import csv
import json
import random
import sys

from llama_cpp import Llama

model, out = sys.argv[1], sys.argv[2]
passages = sys.argv[3] if len(sys.argv) > 3 else None

texts = [
    "Hello, world!",
    "hello world",
    " Hello",
    "  two leading spaces",
    "trailing spaces   ",
    "tabs\tand\t\ttabs",
    "new\nlines\n\nand\r\nCRLF\r\n",
    "\n\n\n",
    "   \n   \n",
    "It's, I'm, you're, we've, they'll, he'd, IT'S, I'M, YOU'RE",
    "don't won't can't shan't",
    "2024",
    "3.14159265358979",
    "1,000,000 and 1 000 000 and 1_000_000",
    "phone: +1 (555) 010-9999",
    "0x1F 0b1010 1e-9 -42",
    "Room 101, floor 12, year 1999.",
    "日本語のテキストです。",
    "中文文本，包含标点符号。",
    "한국어 문장입니다.",
    "Ελληνικά και русский текст",
    "naïve café — résumé, Zürich, São Paulo",
    "emoji: 🙂🚀🔥👍🏽 👨‍👩‍👧‍👦",
    "math: ∑ x² ≤ ∞, α β γ",
    "fn main() {\n    println!(\"{}\", 1 + 2);\n}\n",
    "def f(x):\n\treturn x ** 2  # square\n",
    "if (a && b || !c) { return a->b; }",
    "<div class=\"x\">text</div>",
    "SELECT * FROM t WHERE id = 42;",
    "https://example.com/path?q=1&r=two#frag",
    "user@example.com",
    "C:\\Users\\name\\file.txt",
    "snake_case camelCase PascalCase SCREAMING_CASE kebab-case",
    "!!!???...,,,;;;:::",
    "a    b     c      d",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are Qwen.<|im_end|>\n",
    "text with <|endoftext|> inside",
    "Sources:\n[1] cairns.md\n[2] trails.md\n\nAnswer with [1] and [2].",
    "",
]

rng = random.Random(20261208)
pieces = ["the", " cat", "2", "99", " ", "  ", "\n", "\t", "日本", "🙂", "'s", "'LL", "x=1;",
          "...", "—", "é", "{", "}", "()", "  \n", "\r\n", "Ω", "42.0", "ß", "ﬁ", "#", "@@"]
for _ in range(120):
    texts.append("".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))))

if passages:
    with open(passages, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rng.sample(rows, 140):
        texts.append(row["passage"][:600])

llm = Llama(model_path=model, vocab_only=True, verbose=False)
with open(out, "w") as f:
    for t in texts:
        ids = llm.tokenize(t.encode(), add_bos=False, special=True) if t else []
        f.write(json.dumps({"text": t, "ids": ids}, ensure_ascii=False) + "\n")
print(f"{len(texts)} strings -> {out}")
