"""BM25: cairn next to bm25s on the same corpus and tokenisation.

Both index SciFact documents whole (title + text) with the same pipeline: lowercase words of
2+ word characters, bm25s's English stopwords, Snowball English stemming; Lucene BM25, k1=1.5,
b=0.75. Reports queries/s for each (one thread) and how far their top 10 agree.
Usage: python bench/bm25_compare.py CAIRN_BIN SCIFACT_DIR
"""
import json
import subprocess
import sys
import tempfile
import time

import bm25s
import Stemmer

cairn, sf = sys.argv[1], sys.argv[2]
corpus, queries = f"{sf}/corpus.jsonl", f"{sf}/queries.jsonl"

ids, texts = [], []
for line in open(corpus):
    if line.strip():
        d = json.loads(line)
        ids.append(d["_id"])
        texts.append(f"{d.get('title', '')} {d.get('text', '')}")
qids, qtexts = [], []
for line in open(queries):
    if line.strip():
        d = json.loads(line)
        qids.append(str(d["_id"]))
        qtexts.append(d["text"])

stemmer = Stemmer.Stemmer("english")
t = time.perf_counter()
retriever = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
build = time.perf_counter() - t

repeat = 5
t = time.perf_counter()
for _ in range(repeat):
    q_tokens = bm25s.tokenize(qtexts, stopwords="en", stemmer=stemmer, show_progress=False)
    docs, scores = retriever.retrieve(q_tokens, k=10, show_progress=False, n_threads=1)
bm25s_qps = len(qtexts) * repeat / (time.perf_counter() - t)

with tempfile.NamedTemporaryFile("r", suffix=".tsv") as dump:
    out = subprocess.run([cairn, "bench", "bm25", corpus, queries, "--dump", dump.name,
                          "--repeat", str(repeat), "--json"], check=True, capture_output=True, text=True)
    ours = json.loads(out.stdout)
    cairn_top = {}
    for line in open(dump.name):
        qid, rest = line.rstrip("\n").split("\t")
        cairn_top[qid] = rest.split(",") if rest else []

overlap, same_order, top1 = 0.0, 0, 0
for i, qid in enumerate(qids):
    theirs = [ids[j] for j in docs[i]]
    mine = cairn_top[qid]
    overlap += len(set(theirs) & set(mine)) / max(len(theirs), 1)
    same_order += theirs == mine
    top1 += bool(mine) and theirs[0] == mine[0]
n = len(qids)
print(json.dumps({
    "documents": len(texts), "queries": n,
    "bm25s": {"version": bm25s.__version__, "queries_per_s": bm25s_qps, "build_s": build},
    "cairn": {"queries_per_s": ours["queries_per_s"], "build_s": ours["build_s"]},
    "top10_overlap": overlap / n, "identical_top10_order": same_order / n, "top1_agreement": top1 / n,
}, indent=1))
