#!/usr/bin/env bash
# Ingest into a database store, side by side: cairn vs LangChain, the first LIMIT BEIR SciFact
# documents embedded with all-MiniLM-L6-v2 on 2 threads, into Postgres/pgvector and into Chroma.
#
#   bench/store_ingest.sh VENV_PYTHON SCIFACT_DIR [LIMIT]     # LIMIT: default 1000
#
# VENV_PYTHON: a Python with sentence-transformers, langchain-postgres, langchain-chroma,
# langchain-huggingface, langchain-text-splitters, psycopg[binary] and chromadb (the LangChain
# side, bench/langchain_ingest.py). The servers come from scripts/peers/postgres.sh and
# scripts/peers/chroma.sh (their own venv), started fresh in a temporary folder and stopped on
# exit. Each side writes its own collection: scifact_cairn, scifact_langchain.
#
# The cairn side is `cairn ingest CORPUS --store URL --json`, timed from the shell (process start
# to exit: model load and connecting included). The LangChain side reports its own wall time
# (load + split + embed + write; imports, model load and store setup excluded) and is also
# timed from the shell ("process s"). Both chunk alike (see bench/langchain_ingest.py).
#
# Environment: CAIRN (the binary; default ${CARGO_TARGET_DIR:-~/.cache/cairn/target}/debug/cairn),
# THREADS (2), BATCH (32), MODEL_DIR (the LangChain side's model folder, default
# ~/.cache/cairn/models/all-MiniLM-L6-v2; when set, also given to cairn as CAIRN_MODEL_DIR),
# LC_ARGS (extra flags for langchain_ingest.py, e.g. "--chunking stock"), STORES ("postgres chroma"),
# KEEP=1 (leave the temporary folder: logs, corpus, server data).
set -euo pipefail

usage() {
  echo "usage: $0 VENV_PYTHON SCIFACT_DIR [LIMIT]" >&2
  exit 2
}
[ $# -ge 2 ] && [ $# -le 3 ] || usage
PY=$1
SCIFACT=$2
LIMIT=${3:-1000}
[ -x "$PY" ] || { echo "$0: $PY is not an executable Python" >&2; exit 2; }
[ -f "$SCIFACT/corpus.jsonl" ] || { echo "$0: no corpus.jsonl in $SCIFACT" >&2; exit 2; }
case "$LIMIT" in '' | *[!0-9]*) echo "$0: LIMIT must be a number, not $LIMIT" >&2; exit 2 ;; esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cairn=${CAIRN:-${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}/debug/cairn}
[ -x "$cairn" ] || { echo "$0: no cairn binary at $cairn (build it, or set CAIRN)" >&2; exit 2; }
THREADS=${THREADS:-2}
BATCH=${BATCH:-32}
STORES=${STORES:-postgres chroma}
LC_MODEL_DIR=${MODEL_DIR:-$HOME/.cache/cairn/models/all-MiniLM-L6-v2}
read -r -a LC_EXTRA <<<"${LC_ARGS:-}"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/store_ingest.XXXXXX")
log() { echo "store_ingest: $*" >&2; }
cleanup() {
  "$ROOT/scripts/peers/chroma.sh" stop "$WORK/chroma" >/dev/null 2>&1 || true
  "$ROOT/scripts/peers/postgres.sh" stop "$WORK/pg" >/dev/null 2>&1 || true
  if [ "${KEEP:-0}" = 1 ]; then
    log "kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The first LIMIT documents (non-blank lines) as their own corpus.jsonl.
CORPUS="$WORK/corpus.jsonl"
"$PY" - "$SCIFACT/corpus.jsonl" "$CORPUS" "$LIMIT" <<'PY'
import sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
k = 0
with open(src, encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as out:
    for line in f:
        if k >= n:
            break
        if line.strip():
            out.write(line if line.endswith("\n") else line + "\n")
            k += 1
if k < n:
    print(f"store_ingest: the corpus holds only {k} documents", file=sys.stderr)
PY
DOCS=$(wc -l <"$CORPUS" | tr -d ' ')
log "$DOCS documents in $CORPUS; cairn: $cairn; threads $THREADS"

# Servers. Each script prints one NAME=URL line on stdout.
PG_URL= CHROMA_URL=
for s in $STORES; do
  case "$s" in
  postgres)
    line=$("$ROOT/scripts/peers/postgres.sh" start "$WORK/pg")
    PG_URL=${line#CAIRN_TEST_PG_URL=}
    ;;
  chroma)
    line=$("$ROOT/scripts/peers/chroma.sh" start "$WORK/chroma")
    CHROMA_URL=${line#CAIRN_TEST_CHROMA_URL=}
    ;;
  *) log "unknown store $s (use postgres, chroma)"; exit 2 ;;
  esac
done

now() { date +%s.%N; }
secs() { "$PY" -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.3f}")' "$1" "$2"; }

# A field of the JSON object a command printed (the last object in the file), or "?".
json_field() { # FILE KEY...
  "$PY" - "$@" <<'PY'
import json, sys
path, keys = sys.argv[1], sys.argv[2:]
text = open(path, encoding="utf-8", errors="replace").read()
obj = None
try:
    obj = json.loads(text)
except ValueError:
    # Not one document: take the last line, or the last {...} block, that parses.
    lines = text.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        for j in (i, *(k for k in range(i - 1, -1, -1) if lines[k].startswith("{"))):
            try:
                obj = json.loads("\n".join(lines[j:i + 1]))
                break
            except ValueError:
                continue
        if obj is not None:
            break


def find(o, key):
    if isinstance(o, dict):
        if key in o and not isinstance(o[key], (dict, list)):
            return o[key]
        for v in o.values():
            r = find(v, key)
            if r is not None:
                return r
    elif isinstance(o, list):
        for v in o:
            r = find(v, key)
            if r is not None:
                return r
    return None


for k in keys:
    v = find(obj, k)
    if v is not None:
        print(v)
        break
else:
    print("?")
PY
}

# How many chunks each store holds for a collection (a check that the writes landed), or "?".
stored() { # STORE URL COLLECTION SIDE
  "$PY" - "$@" 2>>"$WORK/count.log" <<'PY' || echo "?"
import sys
store, url, coll, side = sys.argv[1:5]
if store == "postgres":
    import psycopg
    with psycopg.connect(url, connect_timeout=10) as c:
        if side == "cairn":
            q, args = f'SELECT count(*) FROM "{coll}".chunks', ()
        else:
            q = ("SELECT count(*) FROM langchain_pg_embedding e JOIN langchain_pg_collection c "
                 "ON c.uuid = e.collection_id WHERE c.name = %s")
            args = (coll,)
        print(c.execute(q, args).fetchone()[0])
else:
    from urllib.parse import urlsplit
    import chromadb
    from chromadb.config import Settings
    u = urlsplit(url)
    client = chromadb.HttpClient(host=u.hostname, port=u.port,
                                 settings=Settings(anonymized_telemetry=False))
    print(client.get_collection(coll).count())
PY
}

ROWS=()
RAW=()
for s in $STORES; do
  if [ "$s" = postgres ]; then
    http_url=$PG_URL
    case "$PG_URL" in *\?*) cairn_url="$PG_URL&collection=scifact_cairn" ;; *) cairn_url="$PG_URL?collection=scifact_cairn" ;; esac
  else
    http_url=$CHROMA_URL
    hostport=${CHROMA_URL#http://}
    hostport=${hostport%/}
    cairn_url="chroma://$hostport/scifact_cairn"
  fi

  # cairn
  out="$WORK/cairn-$s.json" err="$WORK/cairn-$s.log"
  log "$s: cairn ingest -> ${cairn_url//:*@/:***@}"
  cairn_env=(RAYON_NUM_THREADS="$THREADS")
  [ -n "${MODEL_DIR:-}" ] && cairn_env+=(CAIRN_MODEL_DIR="$MODEL_DIR")
  t0=$(now)
  rc=0
  (cd "$WORK" && env "${cairn_env[@]}" "$cairn" ingest "$CORPUS" --store "$cairn_url" --json) \
    >"$out" 2>"$err" || rc=$?
  t1=$(now)
  c_wall=$(secs "$t0" "$t1")
  if [ $rc -ne 0 ]; then
    log "$s: cairn exited $rc; its output ends:"
    tail -n 15 "$err" >&2 || true
    tail -n 5 "$out" >&2 || true
    c_docs="failed" c_chunks="?" c_stored="?"
  else
    c_docs=$(json_field "$out" documents added docs)
    c_chunks=$(json_field "$out" chunks chunks_added)
    c_stored=$(stored "$s" "$http_url" scifact_cairn cairn)
  fi
  RAW+=("cairn $s: $(tr -d '\n' <"$out" | tr -s ' ')")
  ROWS+=("$s|cairn|$c_docs|$c_chunks|$c_stored|$c_wall|$c_wall|$rc")

  # LangChain
  out="$WORK/langchain-$s.json" err="$WORK/langchain-$s.log"
  log "$s: langchain_ingest.py"
  t0=$(now)
  rc=0
  RAYON_NUM_THREADS="$THREADS" "$PY" "$ROOT/bench/langchain_ingest.py" --store "$s" --url "$http_url" \
    --collection scifact_langchain --corpus "$CORPUS" --limit "$LIMIT" --model-dir "$LC_MODEL_DIR" \
    --threads "$THREADS" --batch-size "$BATCH" "${LC_EXTRA[@]}" >"$out" 2>"$err" || rc=$?
  t1=$(now)
  l_proc=$(secs "$t0" "$t1")
  if [ $rc -ne 0 ]; then
    log "$s: langchain_ingest.py exited $rc; its log ends:"
    tail -n 15 "$err" >&2 || true
    ROWS+=("$s|langchain|failed|?|?|?|$l_proc|$rc")
  else
    ROWS+=("$s|langchain|$(json_field "$out" docs)|$(json_field "$out" chunks)|$(stored "$s" "$http_url" scifact_langchain langchain)|$(json_field "$out" wall_s)|$l_proc|0")
  fi
  RAW+=("langchain $s: $(tail -n 1 "$out")")
done

# The table. ratio: the side's wall time over cairn's on the same store (>1: slower than cairn).
"$PY" - "$THREADS" "${ROWS[@]}" <<'PY'
import sys
threads, rows = sys.argv[1], [r.split("|") for r in sys.argv[2:]]


def num(x):
    try:
        return float(x)
    except ValueError:
        return None


cairn_wall = {r[0]: num(r[5]) for r in rows if r[1] == "cairn" and r[7] == "0"}
print(f"\n| store | side | docs | chunks | stored | wall s | docs/s | ratio | process s |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for store, side, docs, chunks, stored, wall, proc, rc in rows:
    w, d = num(wall), num(docs)
    dps = f"{d / w:.1f}" if w and d else "?"
    cw = cairn_wall.get(store)
    ratio = f"{w / cw:.2f}×" if w and cw and rc == "0" else "?"
    print(f"| {store} | {side} | {docs} | {chunks} | {stored} | {wall if rc == '0' else 'failed'} "
          f"| {dps} | {ratio} | {proc} |")
print(f"\n{threads} threads each. wall s: cairn timed from the shell (whole process); LangChain "
      "load + split + embed + write as it reports it (imports, model load, store setup excluded; "
      "`process s` is its whole process from the shell). ratio: wall s over cairn's on the same "
      "store. stored: chunks counted in the store afterwards.")
PY
echo
echo "Raw reports:"
printf '%s\n' "${RAW[@]}"
# Non-zero when a side failed.
for r in "${ROWS[@]}"; do
  [ "${r##*|}" = 0 ] || exit 1
done
