#!/usr/bin/env bash
# Builds uvredis twice (plain, and AddressSanitizer + UndefinedBehaviorSanitizer),
# runs every test suite of both against private redis-server processes that
# the tests start on free loopback ports, then the consumer checks
# (tests/consumers/run.sh: pkg-config, CMake and meson-subproject programs
# built against the installed library), and ends with one line
# "N passed, N failed" (", N skipped" when any). Exits non-zero on any failure.
# Installs what is missing first (as root, Debian 12). Non-interactive.
# The sanitizer build and the consumer checks compile at nice 19 beside the
# suites (which mostly wait on their servers), so the whole run is shorter.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash tests/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

jobs=$(nproc 2>/dev/null || echo 2)
results=$(mktemp -d /tmp/uvredis-results-XXXXXX)
trap 'rm -rf "$results"' EXIT
began=$(date +%s)
phase() { echo "== $* (at $(( $(date +%s) - began ))s)"; }

# The browser and the browser test's npm packages download while the builds
# compile (tests/ws/run.sh would install them itself, but later and waiting).
(
  bash tests/deps.sh browser && if [ -f tests/ws/package-lock.json ] && command -v npm >/dev/null; then
    (cd tests/ws && npm ci --no-audit --no-fund --loglevel=error)
  fi
) >"$results/browser-deps.log" 2>&1 &
browser_deps=$!

build() {  # dir, meson options...
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" -Dwerror=true "$@" >"$results/setup-$(basename "$dir").log" 2>&1 ||
      { cat "$results/setup-$(basename "$dir").log"; return 1; }
  fi
  ninja -C "$dir" -j "$jobs" >"$results/build-$(basename "$dir").log" 2>&1 ||
    { tail -n 60 "$results/build-$(basename "$dir").log"; return 1; }
}

suite_names() {  # build dir: every suite meson lists, so a suite that failed to build counts too
  local cfg=$1 suites extra
  [ -d "$cfg/tests" ] || return 0
  suites=$(sed -n "/^test_suites = \[/,/^\]/p" tests/meson.build | grep -o "'[a-z_0-9]*'" | tr -d "'")
  extra=$(find "$cfg/tests" -maxdepth 1 -type f -executable -name 'test_*' -printf '%f\n' | sed 's/^test_//')
  printf '%s\n' $suites $extra | sort -u
}

run_suites() {  # build dir [suite ...]: the given suites, or all of them, one after the other
  local cfg=$1 s exe out start rc
  shift
  [ -d "$cfg/tests" ] || return 0
  for s in ${@:-$(suite_names "$cfg")}; do
    exe="$cfg/tests/test_$s"
    out="$results/$cfg-$s"
    if [ ! -x "$exe" ]; then
      echo "MISSING $exe" >"$out.crash"
      continue
    fi
    start=$(date +%s)
    UVREDIS_EXAMPLES_DIR="$root/build/examples" timeout 600 "$exe" --gtest_output="json:$out.json" >"$out.log" 2>&1
    rc=$?
    echo "== $cfg/test_$s: exit $rc in $(( $(date +%s) - start ))s"
    grep -E '^\[  FAILED  \]|Failure$|ERROR: (Address|Leak)Sanitizer|runtime error:' "$out.log" | sort -u | head -n 20
    if [ $rc -ne 0 ]; then
      # A crash, a sanitizer report or a timeout: show the tail and count it.
      if ! grep -q '^\[  FAILED  \]' "$out.log"; then
        tail -n 40 "$out.log"
        echo "exit $rc" >"$out.crash"
      fi
    fi
  done
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

build_failures=0
phase "building (plain)"
# Test builds favour compile time (the test files instantiate the whole
# command table): -O1 with line tables for the plain build, -O0 for the
# sanitizer build. The demo and the benchmark build optimised on their own.
build build --buildtype=plain -Dunity_libs=true -Dunity_size=8 -Dcpp_args="['-O1','-g1']" || build_failures=$((build_failures + 1))

# The sanitizer build compiles at the lowest CPU priority while the plain
# build's suites run: they mostly wait on their servers, and at nice 19 the
# compiler gets only the CPU they leave, so they run as on a quiet machine.
# (The examples are built and run once, from the plain build: the sanitizer
# build checks the library through the suites.)
phase "building (address + undefined sanitizers) at low priority, meanwhile the plain build's suites"
(
  renice -n 19 -p "$BASHPID" >/dev/null 2>&1
  build build-sanitize --buildtype=plain -Dunity_libs=true -Dunity_size=8 -Db_sanitize=address,undefined -Db_lundef=false -Dbench=false \
    -Dexamples=false -Dcpp_args="['-O0','-g1','-fno-omit-frame-pointer','-fno-sanitize-recover=undefined']" \
    -Dcpp_link_args=-fno-sanitize-recover=undefined
  echo $? >"$results/sanitize-build.rc"
) &
sanitize_build=$!
run_suites build
wait "$sanitize_build"
[ "$(cat "$results/sanitize-build.rc" 2>/dev/null)" = 0 ] || build_failures=$((build_failures + 1))

# The library as users consume it: installed (pkg-config, CMake) and as a
# meson subproject, each building a program that talks to a private server.
# Mostly compiling: at low priority, beside the sanitizer build's suites.
(
  renice -n 19 -p "$BASHPID" >/dev/null 2>&1
  BUILD_DIR="$root/build" bash tests/consumers/run.sh >"$results/consumers.log" 2>&1
  echo $? >"$results/consumers.rc"
) &
consumers=$!
phase "build-sanitize suites, two at a time (the consumer checks run beside them at low priority)"
# Two lanes: the suites mostly wait on their servers. Each lane takes its
# servers' ports from a range of its own (UVREDIS_TEST_PORTS, below the
# kernel's ephemeral ports), so the lanes never meet on a port.
lane_a=() lane_b=()
i=0
for s in $(suite_names build-sanitize); do
  if [ $((i % 2)) = 0 ]; then lane_a+=("$s"); else lane_b+=("$s"); fi
  i=$((i + 1))
done
UVREDIS_TEST_PORTS=10000-14999 run_suites build-sanitize "${lane_a[@]}" &
lane=$!
UVREDIS_TEST_PORTS=15000-19999 run_suites build-sanitize "${lane_b[@]}"
wait "$lane"
phase "build-sanitize suites done"

wait "$consumers"
phase "tests/consumers/run.sh (pkg-config, CMake, meson subproject)"
rc=$(cat "$results/consumers.rc" 2>/dev/null || echo 1)
if [ "$rc" = 0 ]; then grep -E "^(ok|FAILED)" "$results/consumers.log"; else tail -n 40 "$results/consumers.log"; fi
last=$(tail -n 1 "$results/consumers.log")
if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
  echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}" >"$results/consumers.count"
else
  echo "exit $rc" >"$results/consumers.crash"
fi

# Browser test of the WebSocket fan-out example, when it is in the tree.
if [ -x tests/ws/run.sh ] || [ -f tests/ws/run.sh ]; then
  wait "$browser_deps" || { echo "installing the browser failed:"; tail -n 20 "$results/browser-deps.log"; }
  phase "tests/ws/run.sh (headless chromium)"
  bash tests/ws/run.sh >"$results/ws.log" 2>&1
  rc=$?
  tail -n 15 "$results/ws.log"
  last=$(tail -n 1 "$results/ws.log")
  if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
    echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}" >"$results/ws.count"
  fi
  [ $rc -ne 0 ] && [ ! -f "$results/ws.count" ] && echo "exit $rc" >"$results/ws.crash"
fi

python3 - "$results" "$build_failures" <<'PY'
import json, os, sys
d, build_failures = sys.argv[1], int(sys.argv[2])
passed = failed = skipped = 0
for f in sorted(os.listdir(d)):
    p = os.path.join(d, f)
    if f.endswith('.json'):
        data = json.load(open(p))
        for suite in data.get('testsuites', []):
            for t in suite.get('testsuite', []):
                if t.get('result') == 'SKIPPED' or t.get('status') == 'NOTRUN':
                    skipped += 1
                    print(f"skipped: {t['classname']}.{t['name']}: {t.get('skipped', {}).get('message', 'no reason given') if isinstance(t.get('skipped'), dict) else 'see log'}")
                elif t.get('failures'):
                    failed += 1
                else:
                    passed += 1
    elif f.endswith('.crash'):
        # The binary died, timed out or a sanitizer reported after the tests.
        print(f"failed: {f[:-6]}: {open(p).read().strip()}")
        failed += 1
    elif f.endswith('.count'):
        a, b = open(p).read().split()
        passed += int(a); failed += int(b)
failed += build_failures
line = f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else "")
print(line)
sys.exit(1 if failed else 0)
PY
