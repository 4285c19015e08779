#!/usr/bin/env bash
# Offline answers on the sample corpus: for each question in bench/sample_questions.tsv (question,
# the file that answers it), run `cairn ask --json` and report how many answers carry a citation
# the model wrote that passes the check, how many of those cite the right file, how many
# citations cairn attributed instead (never counted as verified), and the time per answer.
# Usage: bench/answer_quality.sh [--model provider:name] (default: the offline model)
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}"
CAIRN="$TARGET/debug/cairn"
INDEX="${CAIRN_BENCH_INDEX:-/tmp/cairn-bench-samples}"
"$CAIRN" ingest samples/corpus --index "$INDEX" -q >/dev/null
OUT=$(mktemp)
while IFS=$'\t' read -r q file; do
  start=$(date +%s.%N)
  "$CAIRN" ask "$q" --index "$INDEX" --json "$@" 2>/dev/null > "$OUT.json" || true
  end=$(date +%s.%N)
  python3 - "$OUT.json" "$file" "$start" "$end" "$q" >> "$OUT" <<'PY'
import json, sys
path, want, start, end, q = sys.argv[1:]
try:
    d = json.load(open(path))
except Exception:
    print(json.dumps({"q": q, "error": True})); sys.exit()
cits = [c for s in d["sentences"] for c in s.get("citations", [])]
verified = [c for c in cits if c["origin"] == "model" and c["status"] in ("supported", "entailed")]
files = {x["n"]: x["source"] for x in d["sources"]}
right = any(files.get(c["source"], "").endswith(want) for c in verified)
attributed = [c for c in cits if c["origin"] == "cairn"]
print(json.dumps({"q": q, "model": d.get("model"), "answer": d["answer"],
                  "written": sum(c["origin"] == "model" for c in cits), "verified": len(verified) > 0,
                  "right_file": right, "attributed": len(attributed),
                  "attributed_right_file": any(files.get(c["source"], "").endswith(want) for c in attributed),
                  "seconds": float(end) - float(start)}))
PY
done < bench/sample_questions.tsv
python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for r in rows:
    print(f"{'V' if r.get('verified') else '-'}{'R' if r.get('right_file') else '-'} {r.get('seconds', 0):5.1f}s  {r['q']}\n      {r.get('answer', '')[:160]!r}")
n = len(rows)
print(json.dumps({"model": rows[0].get("model"), "questions": n,
                  "citations_written_by_model": sum(r.get("written", 0) for r in rows),
                  "with_verified_model_citation": sum(bool(r.get("verified")) for r in rows),
                  "verified_cites_right_file": sum(bool(r.get("right_file")) for r in rows),
                  "attributed_by_cairn": sum(r.get("attributed", 0) for r in rows),
                  "attributed_right_file": sum(bool(r.get("attributed_right_file")) for r in rows),
                  "mean_seconds": sum(r.get("seconds", 0) for r in rows) / n}))
PY
