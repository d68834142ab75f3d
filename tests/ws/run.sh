#!/usr/bin/env bash
# Browser and WebSocket tests of examples/ws_fanout.
#
# Installs what is missing (Debian packages chromium, libwebsockets-dev,
# nlohmann-json3-dev, redis-server; the npm packages of package-lock.json),
# builds the example, runs tests/ws/fanout.test.mjs and ends with the line
# `N passed, N failed`. Exit status: 0 only when everything passed.
#
# Environment:
#   BUILD_DIR      meson build directory (default: <repo>/build)
#   WS_FANOUT_BIN  use this server binary instead of building one
#   CHROMIUM       browser binary (default /usr/bin/chromium)
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="${BUILD_DIR:-$repo/build}"

fail() {
  echo "tests/ws: $*" >&2
  echo "0 passed, 1 failed"
  exit 1
}

# --- Debian packages --------------------------------------------------------
missing=()
for pkg in chromium libwebsockets-dev nlohmann-json3-dev redis-server; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "tests/ws: installing ${missing[*]}" >&2
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo -n)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q >&2 || fail "apt-get update failed"
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
    || fail "could not install ${missing[*]}"
fi

# --- node and npm packages --------------------------------------------------
command -v node >/dev/null && command -v npm >/dev/null || fail "node and npm are needed (node >= 20)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
((node_major >= 20)) || fail "node >= 20 is needed (playwright-core), found $(node --version)"
if [[ ! -f "$here/node_modules/.package-lock.json" || "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) >&2 || fail "npm ci failed"
fi

# --- the server under test ---------------------------------------------------
if [[ -z "${WS_FANOUT_BIN:-}" ]]; then
  if [[ ! -f "$build/build.ninja" ]]; then
    meson setup "$build" "$repo" >&2 || fail "meson setup failed"
  elif [[ ! -x "$build/examples/ws_fanout" ]]; then
    # Configured before libwebsockets was installed: look again.
    meson setup --reconfigure "$build" "$repo" >&2 || fail "meson reconfigure failed"
  fi
  ninja -C "$build" -j2 examples/ws_fanout >&2 || fail "building examples/ws_fanout failed"
  export WS_FANOUT_BIN="$build/examples/ws_fanout"
fi
[[ -x "$WS_FANOUT_BIN" ]] || fail "no server binary at $WS_FANOUT_BIN"

# --- run ------------------------------------------------------------------------
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cd "$here"
timeout -k 10 150 node --test --test-reporter=tap --test-reporter-destination=stdout fanout.test.mjs 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

passed="$(sed -n 's/^# pass \([0-9][0-9]*\)$/\1/p' "$log" | tail -n 1)"
failed="$(sed -n 's/^# fail \([0-9][0-9]*\)$/\1/p' "$log" | tail -n 1)"
# Tests that never ran because a hook failed count as failed.
cancelled="$(sed -n 's/^# cancelled \([0-9][0-9]*\)$/\1/p' "$log" | tail -n 1)"
[[ -n "$failed" ]] && failed=$((failed + ${cancelled:-0}))
if [[ -z "$passed" || -z "$failed" ]]; then
  echo "tests/ws: the test runner gave no summary (exit status $rc)" >&2
  echo "${passed:-0} passed, $(( ${failed:-0} + 1 )) failed"
  exit 1
fi
if ((rc != 0 && failed == 0)); then
  echo "tests/ws: the test runner exited with $rc" >&2
  failed=1
fi
echo "$passed passed, $failed failed"
((failed == 0))
