"""The hnswlib side of the vector-index benchmark: same vectors, same M / ef_construction / ef,
one thread. Reads what `cairn bench hnsw --dump-dir DIR` wrote.
Usage: python bench/hnsw_compare.py DIR
"""
import json
import sys
import time

import hnswlib
import numpy as np

d = sys.argv[1]
p = json.load(open(f"{d}/params.json"))
dim = p["dim"]
base = np.fromfile(f"{d}/base.f32", dtype="<f4").reshape(-1, dim)
queries = np.fromfile(f"{d}/queries.f32", dtype="<f4").reshape(-1, dim)
exact = np.argsort(-(queries @ base.T), axis=1)[:, :10]

index = hnswlib.Index(space="ip", dim=dim)
index.init_index(max_elements=len(base), M=p["m"], ef_construction=p["ef_construction"], random_seed=42)
index.set_num_threads(1)
t = time.perf_counter()
index.add_items(base, np.arange(len(base)), num_threads=1)
build = time.perf_counter() - t
rows = []
for ef in [int(e) for e in p["ef"].split(",")]:
    index.set_ef(ef)
    t = time.perf_counter()
    labels = [index.knn_query(q.reshape(1, -1), k=10, num_threads=1)[0][0] for q in queries]
    qps = len(queries) / (time.perf_counter() - t)
    recall = np.mean([len(set(l) & set(e)) / 10 for l, e in zip(labels, exact)])
    rows.append({"ef": ef, "recall@10": float(recall), "queries_per_s": qps})
print(json.dumps({"hnswlib": hnswlib.__version__ if hasattr(hnswlib, "__version__") else "0.8.0",
                  "vectors": len(base), "queries": len(queries), "build_s": build, "hnsw": rows}))
