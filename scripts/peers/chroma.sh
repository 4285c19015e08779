#!/usr/bin/env bash
# A real Chroma server for cairn-vectordb's `chroma` tests, from the PyPI package chromadb
# (its `chroma run`, the Rust server; no Docker).
#
#   scripts/peers/chroma.sh start DIR   # prints one line: CAIRN_TEST_CHROMA_URL=http://127.0.0.1:PORT
#   scripts/peers/chroma.sh stop DIR
#   scripts/peers/chroma.sh url DIR     # the line again, for a server already started
#
# `start` installs the pinned package into the venv "${CAIRN_CACHE_DIR:-$HOME/.cache/cairn}/venv"
# (created when missing, skipped when the pinned version is there), starts
# `chroma run --path DIR/data` on a free loopback port in the background with telemetry off,
# logging to DIR/chroma.log, waits until /api/v2/heartbeat answers, and prints the URL line.
# Starting a server that is already running prints its URL again. Messages go to stderr; only
# the URL line goes to stdout. `stop` ends the server it started (its pid is in DIR/chroma.pid).
set -euo pipefail

VERSION=1.5.9
usage() {
  echo "usage: $0 start|stop|url DIR" >&2
  exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
case "$cmd" in start | stop | url) ;; *) usage ;; esac
mkdir -p "$2"
DIR=$(cd "$2" && pwd)
CACHE="${CAIRN_CACHE_DIR:-$HOME/.cache/cairn}"
VENV="$CACHE/venv"
PIDFILE="$DIR/chroma.pid"
PORTFILE="$DIR/chroma.port"

log() { echo "chroma.sh: $*" >&2; }

installed() {
  [ -x "$VENV/bin/chroma" ] &&
    grep -qs "^Version: $VERSION$" "$VENV"/lib/python3*/site-packages/chromadb-*.dist-info/METADATA
}

running() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

# Whether the server at port $1 answers its heartbeat.
alive() {
  "$VENV/bin/python" - "$1" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/v2/heartbeat", timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

url_line() { echo "CAIRN_TEST_CHROMA_URL=http://127.0.0.1:$(cat "$PORTFILE")"; }

case "$cmd" in
stop)
  if running; then
    pid=$(cat "$PIDFILE")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "the server (pid $pid) did not stop in 10 s; killing it"
      kill -9 "$pid" 2>/dev/null || true
    fi
    log "stopped the server (pid $pid)"
  else
    log "no server running for $DIR"
  fi
  rm -f "$PIDFILE" "$PORTFILE"
  exit 0
  ;;
url)
  if running && [ -f "$PORTFILE" ]; then
    url_line
    exit 0
  fi
  log "no server running for $DIR (run: $0 start $DIR)"
  exit 1
  ;;
esac

# start
if ! installed; then
  command -v python3 >/dev/null || { log "python3 is required"; exit 1; }
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating the venv $VENV"
    mkdir -p "$CACHE"
    python3 -m venv "$VENV" >&2
  fi
  log "installing chromadb==$VERSION into $VENV (a few minutes the first time)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "chromadb==$VERSION" >&2
  installed || { log "chromadb==$VERSION did not install into $VENV"; exit 1; }
fi

if running && [ -f "$PORTFILE" ] && alive "$(cat "$PORTFILE")"; then
  url_line
  exit 0
fi
if running; then
  log "a server for $DIR (pid $(cat "$PIDFILE")) does not answer; restarting it"
  "$0" stop "$DIR"
fi
rm -f "$PIDFILE" "$PORTFILE"

port=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$DIR/data"
# No product telemetry, no OpenTelemetry export; the server reaches nothing outside.
ANONYMIZED_TELEMETRY=False CHROMA_ANONYMIZED_TELEMETRY=False OTEL_SDK_DISABLED=true \
  nohup setsid "$VENV/bin/chroma" run --path "$DIR/data" --host 127.0.0.1 --port "$port" \
  >"$DIR/chroma.log" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$PIDFILE"
echo "$port" >"$PORTFILE"
for _ in $(seq 1 300); do
  if alive "$port"; then
    log "Chroma $VERSION is up on port $port (pid $pid, data in $DIR/data, log $DIR/chroma.log)"
    url_line
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    log "the server exited; its log ($DIR/chroma.log) ends:"
    tail -n 20 "$DIR/chroma.log" >&2 || true
    rm -f "$PIDFILE" "$PORTFILE"
    exit 1
  fi
  sleep 0.2
done
log "the server did not answer /api/v2/heartbeat within 60 s; see $DIR/chroma.log"
"$0" stop "$DIR"
exit 1
