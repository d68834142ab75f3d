#!/usr/bin/env bash
# Builds examples/ws_fanout (in build-demo/, next to the demo's build, so the
# library is compiled once for both) and runs it on 127.0.0.1:${PORT:-7681}
# until Ctrl-C. Redis: REDIS_URL when set, else a private redis-server started
# here on a free loopback port (never 6379) and stopped by pid on exit.
# Installs what is missing first (as root, Debian 12: the demo's packages and
# libwebsockets-dev). Extra arguments go to ws_fanout (--verbose, --policy ...).
#
#   bash examples/run-ws-fanout.sh
#   # then open http://127.0.0.1:7681/?room=lobby&name=alice in two tabs
set -euo pipefail
cd "$(dirname "$0")/.."

echo "ws_fanout: [1/3] checking the Debian packages (installs what is missing)"
bash tests/deps.sh demo libwebsockets-dev

echo "ws_fanout: [2/3] configuring and building build-demo/examples/ws_fanout"
if [ ! -f build-demo/build.ninja ]; then
  meson setup build-demo -Dtests=false -Dbench=false -Dexamples=true --buildtype=release
elif ! grep -q '^examples/ws_fanout:' <<<"$(ninja -C build-demo -t targets all)"; then
  # Configured before libwebsockets was installed: let meson look again.
  meson setup --reconfigure build-demo
fi
ninja -C build-demo examples/ws_fanout

server_pid=
dir=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$dir" ]; then rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${REDIS_URL:-}" ]; then
  dir=$(mktemp -d /tmp/uvredis-ws-XXXXXX)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    --daemonize no --logfile "$dir/redis.log" &
  server_pid=$!
  for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.05
  done
  export REDIS_URL="redis://127.0.0.1:$port"
fi

echo "ws_fanout: [3/3] serving on http://127.0.0.1:${PORT:-7681}/?room=lobby&name=alice (Redis: $REDIS_URL); Ctrl-C stops"
build-demo/examples/ws_fanout --port "${PORT:-7681}" "$@"
