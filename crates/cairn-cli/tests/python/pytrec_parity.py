"""Checks cairn's retrieval metrics against pytrec_eval (trec_eval's own code).

Usage: pytrec_parity.py QRELS_TSV RUN_FILE CAIRN_JSON [TOLERANCE]

QRELS_TSV is a BEIR qrels file (query-id, corpus-id, score; header optional), RUN_FILE a TREC
run (`qid Q0 docid rank score tag`), CAIRN_JSON the `--json` output of `cairn eval beir` for
that run (`--run RUN_FILE` or `--score-run RUN_FILE`): its per_query map and its means.

pytrec_eval computes ndcg_cut_10, recall_10 and recall_100 on the whole run, and recip_rank on
the run cut to each query's top 10 (trec_eval has no MRR@10: recip_rank looks at every rank).
The cut follows trec_eval's own order: score descending, ties by document id descending.
A query cairn scored that pytrec_eval leaves out (the run has no line for it) counts 0, as
trec_eval -c counts it. Every value must agree within TOLERANCE (default 1e-6); the largest
difference of each metric is printed. Exits 1 on a disagreement.
"""

import json
import sys

import pytrec_eval

# cairn's key -> (pytrec_eval's measure, whether it is computed on the top-10 cut run)
METRICS = {
    "ndcg@10": ("ndcg_cut_10", False),
    "recall@10": ("recall_10", False),
    "recall@100": ("recall_100", False),
    "mrr@10": ("recip_rank", True),
}


def read_qrels(path):
    qrels = {}
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            cols = line.rstrip("\n").split("\t")
            if not line.strip() or (i == 0 and cols[0] == "query-id"):
                continue
            qrels.setdefault(cols[0], {})[cols[1]] = int(cols[2])
    return qrels


def read_run(path):
    run = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            cols = line.split()
            if not cols:
                continue
            if len(cols) != 6:
                sys.exit(f"{path}:{n}: expected 6 columns, found {len(cols)}")
            qid, _, doc, _, score, _ = cols
            if doc in run.setdefault(qid, {}):
                sys.exit(f"{path}:{n}: document {doc} twice for query {qid}")
            run[qid][doc] = float(score)
    return run


def top(run, k):
    """Each query's first k documents in trec_eval's order."""
    cut = {}
    for qid, docs in run.items():
        ranked = sorted(docs.items(), key=lambda d: (d[1], d[0]), reverse=True)
        cut[qid] = dict(ranked[:k])
    return cut


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    qrels = read_qrels(sys.argv[1])
    run = read_run(sys.argv[2])
    with open(sys.argv[3], encoding="utf-8") as f:
        cairn = json.load(f)
    tol = float(sys.argv[4]) if len(sys.argv) == 5 else 1e-6
    per_query = cairn["per_query"]

    full = {m for m, cut in METRICS.values() if not cut}
    cut10 = {m for m, cut in METRICS.values() if cut}
    ours = pytrec_eval.RelevanceEvaluator(qrels, full).evaluate(run)
    ours_cut = pytrec_eval.RelevanceEvaluator(qrels, cut10).evaluate(top(run, 10))

    failures = []
    extra = sorted(set(ours) - set(per_query))
    if extra:
        failures.append(f"pytrec_eval scored queries cairn did not: {extra[:10]}")
    missing = sorted(set(per_query) - set(ours))
    print(
        f"queries: cairn {len(per_query)}, pytrec_eval {len(ours)}, "
        f"scored 0 as absent from the run: {len(missing)}"
    )
    if not per_query:
        failures.append("cairn's per_query is empty")
    for key, (measure, cut) in METRICS.items():
        got = ours_cut if cut else ours
        worst, worst_q, total = 0.0, None, 0.0
        for qid, scores in per_query.items():
            want = got.get(qid, {}).get(measure, 0.0)
            total += want
            diff = abs(scores[key] - want)
            if worst_q is None or diff > worst:
                worst, worst_q = diff, qid
            if diff > tol:
                failures.append(
                    f"query {qid} {key}: cairn {scores[key]!r}, pytrec_eval {measure} {want!r}"
                )
        mean = total / max(len(per_query), 1)
        mean_diff = abs(cairn[key] - mean)
        if mean_diff > tol:
            failures.append(f"mean {key}: cairn {cairn[key]!r}, pytrec_eval {mean!r}")
        print(
            f"{key:<11} vs {measure:<11}: mean cairn {cairn[key]:.6f} pytrec_eval {mean:.6f} "
            f"(diff {mean_diff:.3g}); max per-query diff {worst:.3g} (query {worst_q})"
        )
    if failures:
        print(f"{len(failures)} disagreements (tolerance {tol}):", file=sys.stderr)
        for f in failures[:20]:
            print("  " + f, file=sys.stderr)
        sys.exit(1)
    print(f"parity: every value within {tol}")


if __name__ == "__main__":
    main()
