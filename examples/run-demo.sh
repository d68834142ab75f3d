#!/usr/bin/env bash
# Builds uvredis and runs the examples against REDIS_URL, or, when it is not
# set, against a private redis-server started here on a free loopback port
# (never 6379) and stopped by pid afterwards. Installs what is missing first
# (as root, Debian 12). Non-interactive.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/deps.sh
if [ ! -f build-demo/build.ninja ]; then
  meson setup build-demo -Dtests=false -Dbench=false --buildtype=debugoptimized >/dev/null
fi
ninja -C build-demo >/dev/null

server_pid=
dir=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$dir" ]; then rm -rf "$dir"; fi
}
trap cleanup EXIT

if [ -z "${REDIS_URL:-}" ]; then
  dir=$(mktemp -d /tmp/uvredis-demo-XXXXXX)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    --daemonize no --logfile "$dir/redis.log" &
  server_pid=$!
  for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.05
  done
  export REDIS_URL="redis://127.0.0.1:$port"
  echo "demo: private redis-server (pid $server_pid) on 127.0.0.1:$port"
fi

status=0
# The examples that run to completion on their own (ws_fanout is a server:
# see the README to run it).
for ex in quickstart recipes locks; do
  [ -f "examples/$ex.cpp" ] || continue
  [ -x "build-demo/examples/$ex" ] || { echo "examples/$ex.cpp was not built" >&2; status=1; continue; }
  echo "== examples/$ex.cpp"
  "build-demo/examples/$ex" || status=1
done
exit $status
