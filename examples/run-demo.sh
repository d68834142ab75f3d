#!/usr/bin/env bash
# Builds uvredis and runs the examples against REDIS_URL, or, when it is not
# set, against a private redis-server started here on a free loopback port
# (never 6379) and stopped by pid afterwards. Installs what is missing first
# (as root, Debian 12: `tests/deps.sh demo`, no test-only packages).
# Non-interactive. Builds only the library and the examples it runs, in
# build-demo/ (optimised, no debug info); a second run rebuilds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

examples=(quickstart pipeline transaction subscriber lock cache recipes locks coro)

echo "demo: [1/4] checking the Debian packages (installs what is missing)"
bash tests/deps.sh demo

echo "demo: [2/4] configuring build-demo/ (meson)"
if [ ! -f build-demo/build.ninja ]; then
  log=$(mktemp /tmp/uvredis-demo-setup-XXXXXX.log)
  if ! meson setup build-demo -Dtests=false -Dbench=false -Dexamples=true --buildtype=release >"$log" 2>&1; then
    cat "$log"
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
fi
# recipes.cpp is only configured where nlohmann-json is installed.
all_targets=$(ninja -C build-demo -t targets all)
targets=()
for ex in "${examples[@]}"; do
  if grep -q "^examples/$ex:" <<<"$all_targets"; then targets+=("examples/$ex"); fi
done

if [ -x build-demo/examples/quickstart ]; then
  echo "demo: [3/4] building ${targets[*]} (up to date unless the sources changed)"
else
  echo "demo: [3/4] building the library and ${targets[*]}: the first build takes about 3 minutes on 2 cores"
fi
ninja -C build-demo "${targets[@]}"

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
  echo "demo: [4/4] running the examples against a private redis-server (pid $server_pid) on 127.0.0.1:$port"
else
  echo "demo: [4/4] running the examples against REDIS_URL"
fi

status=0
# The examples that run to completion on their own (ws_fanout is a server:
# see the README to run it).
for ex in "${examples[@]}"; do
  [ -f "examples/$ex.cpp" ] || continue
  [ -x "build-demo/examples/$ex" ] || { echo "examples/$ex.cpp was not built" >&2; status=1; continue; }
  echo "== examples/$ex.cpp"
  "build-demo/examples/$ex" || status=1
done
exit $status
