#!/usr/bin/env bash
# SciFact (BEIR test split, 300 queries) through each store: the embedded index, Postgres with
# pgvector and Chroma, each ingesting the whole corpus itself (`cairn eval beir --store URL`
# ingests into the store, then scores it), dense and hybrid (Chroma: dense; it has no ranked
# full text). Prints one line per run: nDCG@10, ingest docs/s, query p50/p95.
#
#   bench/store_scifact.sh SCIFACT_DIR
#
# The servers come from scripts/peers/{postgres,chroma}.sh, started fresh in a temporary
# folder (with a fresh CAIRN_CACHE_DIR, so the embedded index is built too) and stopped on
# exit. Postgres runs at its defaults: the HNSW index (m 16, ef_construction 64) is built when
# the ingest ends, and queries use ef_search 100 (filtered: 400).
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 SCIFACT_DIR" >&2; exit 2; }
SF=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cairn=${CAIRN:-${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}/debug/cairn}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/store_scifact.XXXXXX")
chmod 755 "$WORK"
cleanup() {
  "$ROOT/scripts/peers/chroma.sh" stop "$WORK/chroma" >/dev/null 2>&1 || true
  "$ROOT/scripts/peers/postgres.sh" stop "$WORK/pg" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
line=$("$ROOT/scripts/peers/postgres.sh" start "$WORK/pg" 2>/dev/null)
PG=${line#CAIRN_TEST_PG_URL=}
line=$("$ROOT/scripts/peers/chroma.sh" start "$WORK/chroma" 2>/dev/null)
CHROMA=${line#CAIRN_TEST_CHROMA_URL=}
CHROMA=${CHROMA#http://}
export CAIRN_CACHE_DIR="$WORK/cache" RAYON_NUM_THREADS=2

report() { # LABEL MODE JSON
  python3 - "$@" <<'PY'
import json, sys
label, mode, path = sys.argv[1:4]
r = json.load(open(path))
d = r.get("ingest_docs_per_s")
ing = f"{d:.1f}" if d else "(reused)"
print(f"| {label} | {mode} | {r['ndcg@10']:.4f} | {ing} | {r['query_latency_ms_p50']:.2f} | {r['query_latency_ms_p95']:.2f} |")
PY
}

echo "| store | mode | nDCG@10 | ingest docs/s | query p50 ms | query p95 ms |"
echo "|---|---|---|---|---|---|"
run() { # LABEL MODE [--store URL]
  local label=$1 mode=$2
  shift 2
  "$cairn" -q eval beir "$SF" --mode "$mode" --json "$@" >"$WORK/out.json"
  report "$label" "$mode" "$WORK/out.json"
}
run embedded dense
run embedded hybrid
run postgres dense --store "$PG?collection=scifact"
run postgres hybrid --store "$PG?collection=scifact"
run chroma dense --store "chroma://$CHROMA/scifact"
