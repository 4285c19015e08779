"""Per-metric agreement of cairn's and ragas's per-question scores (bench/ragas_compare.sh's
OUT_DIR: cairn.json, ragas.json, cairn-wall.txt), with wall time and judge calls per tool.
Usage: python bench/ragas_table.py OUT_DIR
"""
import json
import sys

from scipy.stats import pearsonr, spearmanr

out = sys.argv[1]
cairn = json.load(open(f"{out}/cairn.json"))
ragas = json.load(open(f"{out}/ragas.json"))
cairn_wall = float(open(f"{out}/cairn-wall.txt").read().split()[1])
by_id = {s["id"]: s for s in ragas["samples"]}
metrics = ["faithfulness", "answer_relevancy", "context_precision", "context_recall",
           "factual_correctness"]
rows = []
for m in metrics:
    pairs, c_only, r_only = [], 0, 0
    for s in cairn["samples"]:
        c = (s["metrics"].get(m) or {}).get("value")
        r = by_id.get(s["sample"]["id"], {}).get(m)
        if c is not None and r is not None:
            pairs.append((c, r))
        elif c is not None:
            c_only += 1
        elif r is not None:
            r_only += 1
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    const = len(set(xs)) < 2 or len(set(ys)) < 2
    pear = float("nan") if const or len(pairs) < 3 else pearsonr(xs, ys)[0]
    spear = float("nan") if const or len(pairs) < 3 else spearmanr(xs, ys)[0]
    mean = lambda v: sum(v) / len(v) if v else float("nan")
    cost = cairn.get("judge_cost", {}).get(m, {})
    rows.append({"metric": m, "both": len(pairs), "cairn_only": c_only, "ragas_only": r_only,
                 "pearson": pear, "spearman": spear, "cairn_mean": mean(xs),
                 "ragas_mean": mean(ys), "cairn_calls": cost.get("calls")})
n = len(cairn["samples"])
print(f"{n} questions; judge {cairn.get('judge')}")
print("| metric | scored by both | cairn only | ragas only | Pearson | Spearman | mean cairn | "
      "mean ragas | cairn judge calls |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['metric']} | {r['both']} | {r['cairn_only']} | {r['ragas_only']} | "
          f"{r['pearson']:.3f} | {r['spearman']:.3f} | {r['cairn_mean']:.3f} | "
          f"{r['ragas_mean']:.3f} | {r['cairn_calls']} |")
cairn_calls = sum((c.get("calls") or 0) for c in cairn.get("judge_cost", {}).values())
print()
print("| tool | wall time (s) | judge + embedding calls |")
print("|---|---|---|")
print(f"| cairn eval rag | {cairn_wall:.0f} | {cairn_calls} |")
print(f"| ragas 0.4.3 | {ragas['seconds']:.0f} | {ragas['llm_calls']} + "
      f"{ragas['embedding_calls']} |")
json.dump(rows, open(f"{out}/table.json", "w"), indent=1)
