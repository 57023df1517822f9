#!/usr/bin/env bash
# Three Coffer nodes on one PostgreSQL, without containers (docs/cluster.md).
#
#   scripts/cluster.sh [--reset] [DIR]
#
# Starts `coffer server` three times from this checkout, on 127.0.0.1:8271, :8272 and :8273, each with
# its own data dir under DIR (default: ${TMPDIR:-/tmp}/coffer-cluster) and all on the database
# `coffer_cluster` (created when absent) of the PostgreSQL server at COFFER_CLUSTER_POSTGRES_URL
# (default postgres://postgres@127.0.0.1:5432/postgres; its database part names the maintenance
# database used to create `coffer_cluster`). The first node initializes (file seal) and writes the
# admin token to DIR/node1/root-token; the others get a copy of its seal.key, the file seal's
# unseal key. Waits until every node's /v2/health answers, prints the URLs, and stops the nodes on
# Ctrl-C (SIGTERM, a graceful shutdown). A node's output goes to DIR/nodeN/server.log.
#
# --reset drops `coffer_cluster` and DIR first (the data dirs and the database belong together: a
# seal.key is useless without its database and the reverse).
set -eu

reset=0
if [ "${1:-}" = "--reset" ]; then
  reset=1
  shift
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
# Node 24: a checkout may carry it in node_modules/.bin (see bin/coffer.js).
PATH="$root/node_modules/.bin:$PATH"
dir="${1:-${TMPDIR:-/tmp}/coffer-cluster}"
admin_url="${COFFER_CLUSTER_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
database="coffer_cluster"
ports="8271 8272 8273"

# Runs one SQL statement on the maintenance database with the checkout's PostgreSQL client.
sql() {
  (cd "$root" && ADMIN_URL="$admin_url" SQL="$1" node --input-type=module -e '
    import pg from "pg";
    const client = new pg.Client({ connectionString: process.env.ADMIN_URL, connectionTimeoutMillis: 5000 });
    await client.connect();
    const result = await client.query(process.env.SQL);
    console.log(result.rows.length);
    await client.end();
  ')
}

if [ "$reset" = 1 ]; then
  sql "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null
  rm -rf "$dir"
fi
if [ "$(sql "SELECT 1 FROM pg_database WHERE datname = '$database'")" = "0" ]; then
  sql "CREATE DATABASE $database" >/dev/null
  echo "created database $database"
fi
database_url="$(node -e 'const u = new URL(process.argv[1]); u.pathname = "/" + process.argv[2]; console.log(u.href)' \
  "$admin_url" "$database")"

pids=""
stop() {
  trap - INT TERM EXIT
  [ -n "$pids" ] && kill $pids 2>/dev/null || true
  for pid in $pids; do wait "$pid" 2>/dev/null || true; done
  echo "stopped"
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

# Starts node N on PORT and waits until its /v2/health answers (200 or 503).
start_node() {
  n="$1" port="$2" data="$dir/node$1"
  if curl -s -o /dev/null "http://127.0.0.1:$port/v2/health"; then
    echo "port $port is in use (a cluster already running?)" >&2
    exit 1
  fi
  mkdir -p "$data"
  chmod 700 "$data"
  COFFER_DATA_DIR="$data" COFFER_DATABASE_URL="$database_url" COFFER_LISTEN="127.0.0.1:$port" \
    node "$root/bin/coffer.js" server >>"$data/server.log" 2>&1 &
  pids="$pids $!"
  pid=$!
  for _ in $(seq 1 600); do
    code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/health" || true)"
    if [ "$code" = 200 ] || [ "$code" = 503 ]; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "node $n exited; its log ($data/server.log):" >&2
      tail -n 20 "$data/server.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "node $n did not answer on port $port within 60 s ($data/server.log)" >&2
  exit 1
}

n=0
for port in $ports; do
  n=$((n + 1))
  if [ "$n" -gt 1 ] && [ ! -f "$dir/node$n/seal.key" ]; then
    mkdir -p "$dir/node$n"
    chmod 700 "$dir/node$n"
    cp "$dir/node1/seal.key" "$dir/node$n/seal.key"
    chmod 600 "$dir/node$n/seal.key"
  fi
  start_node "$n" "$port"
  echo "node $n: http://127.0.0.1:$port (log $dir/node$n/server.log)"
done

echo "admin token: $dir/node1/root-token"
echo "try: curl -s http://127.0.0.1:8272/v2/health"
echo "Ctrl-C stops the three nodes"
wait
