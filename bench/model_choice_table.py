"""The model-choice table from bench/model_choice.sh's run files (`cairn eval rag --out`).

Per model, over the same questions:
- accuracy: SQuAD F1, exact match and "contains the reference" (means from the run summary, with
  their bootstrap intervals);
- own citations: share of answers in which the model itself wrote at least one [n] marker;
- verified: share of answers whose model-written citations all pass cairn's lexical check
  (ALCE citation precision 1.0), so the model's own citations back the answer;
- needs no attribution: share of answers whose every sentence is supported by the model's own
  citations (ALCE citation recall 1.0): cairn's attribution adds nothing there;
- refusals, and seconds per answer (the run's wall time over its questions, model load included).
Usage: python3 bench/model_choice_table.py OUT_DIR MODEL...
"""
import json
import sys

out, models = sys.argv[1], sys.argv[2:]


def mean_ci(summary, name):
    s = summary.get(name) or {}
    m = s.get("mean")
    if m is None:
        return "–"
    ci = s.get("ci95")
    return f"{m:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{m:.3f}"


rows = []
for m in models:
    run = json.load(open(f"{out}/run-{m}.json"))
    samples = run["samples"]
    n = len(samples)
    answered = [s for s in samples if s["response"].get("answered")]
    own = [s for s in answered if any(st.get("cites") for st in s["response"].get("statements", []))]

    def metric(s, name):
        return (s["metrics"].get(name) or {}).get("value")

    verified = [s for s in own if metric(s, "citation_precision") == 1.0]
    full = [s for s in own if metric(s, "citation_recall") == 1.0]
    rows.append({
        "model": m,
        "questions": n,
        "f1": mean_ci(run["summary"], "f1"),
        "exact_match": mean_ci(run["summary"], "exact_match"),
        "contains": mean_ci(run["summary"], "contains"),
        "own_citation_rate": len(own) / n,
        "verified_citation_rate": len(verified) / n,
        "no_attribution_needed_rate": len(full) / n,
        "refusal_rate": 1 - len(answered) / n,
        "seconds_per_answer": run["seconds"] / n,
    })

print("| model | questions | F1 | exact match | contains | own citations | verified | "
      "needs no attribution | refusals | s/answer |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| local:{r['model']} | {r['questions']} | {r['f1']} | {r['exact_match']} | "
          f"{r['contains']} | {r['own_citation_rate']:.1%} | {r['verified_citation_rate']:.1%} | "
          f"{r['no_attribution_needed_rate']:.1%} | {r['refusal_rate']:.1%} | "
          f"{r['seconds_per_answer']:.1f} |")
json.dump(rows, open(f"{out}/table.json", "w"), indent=1)
