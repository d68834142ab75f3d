#!/usr/bin/env bash
# Uses uvredis from outside, the three ways the README documents, and checks
# what an install exposes. Each check is one result; the last line is
# `N passed, N failed` (tests/run-all.sh counts it). Exit status 0 only when
# everything passed.
#
#   installed  `meson install --destdir` of BUILD_DIR into a temp directory:
#              headers, libuvredis.so.0, uvredis.pc, uvredisConfig.cmake
#   headers    no installed header includes hiredis, spdlog, fmt or OpenSSL
#   exports    libuvredis.so: soname libuvredis.so.0, no fmt or spdlog symbol,
#              uvredis::detail exports only what public templates call
#   pkgconfig  uvredis.pc requires libuv only; hiredis/spdlog/ssl only in
#              Libs.private
#   pkgconfig-app  g++ app.cpp $(pkg-config --cflags --libs uvredis), run
#   cmake-app  find_package(uvredis) + uvredis::uvredis, run
#   ws-pkgconfig-app, ws-cmake-app  the same for uvredis-ws, when installed
#   meson-app  dependency('uvredis', fallback : 'uvredis') with the tree in
#              subprojects/, no options: no gtest, no examples; run
# The programs do SET and GET against a private redis-server on a free
# loopback port, stopped by pid at the end.
#
# Environment: BUILD_DIR  meson build directory to install from (default
# <repo>/build; configured here, library only, when it does not exist).
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="${BUILD_DIR:-$repo/build}"
jobs=$(nproc 2>/dev/null || echo 2)

passed=0
failed=0
pass() { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAILED: $1"; failed=$((failed + 1)); }
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}

tmp=$(mktemp -d /tmp/uvredis-consumers-XXXXXX)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- install -------------------------------------------------------------------
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$repo" --buildtype=plain -Dtests=false -Dbench=false -Dexamples=false \
    >"$tmp/setup.log" 2>&1 || { tail -n 30 "$tmp/setup.log"; fail installed; finish; }
fi
option() {  # value of a meson option of $build
  meson introspect "$build" --buildoptions |
    python3 -c "import json, sys; print(next(o['value'] for o in json.load(sys.stdin) if o['name'] == '$1'))"
}
# A build directory configured before uvredis.pc became relocatable (the
# project default now) would install a .pc that points at the real prefix.
if [ "$(option pkgconfig.relocatable)" != True ]; then
  meson configure "$build" -Dpkgconfig.relocatable=true >/dev/null || fail "meson configure $build"
fi
prefix=$(option prefix)
libdir=$(option libdir)
includedir=$(option includedir)
root="$tmp/root"
if meson install -C "$build" --destdir "$root" --quiet >"$tmp/install.log" 2>&1; then
  inst="$root$prefix"
  lib="$inst/$libdir/libuvredis.so.0"
  missing=
  for f in "$inst/$includedir/uvredis/uvredis.hpp" "$inst/$includedir/uvredis/version.hpp" \
    "$inst/$includedir/uvredis/export.hpp" "$lib" "$inst/$libdir/pkgconfig/uvredis.pc" \
    "$inst/$libdir/cmake/uvredis/uvredisConfig.cmake" "$inst/$libdir/cmake/uvredis/uvredisConfigVersion.cmake"; do
    [ -e "$f" ] || missing="$missing ${f#"$root"}"
  done
  leaked=$(cd "$inst/$includedir/uvredis" && ls meson.build version.hpp.in 2>/dev/null)
  if [ -z "$missing" ] && [ -z "$leaked" ]; then pass installed; else fail "installed: missing$missing; stray $leaked"; fi
else
  tail -n 30 "$tmp/install.log"
  fail installed
  finish
fi

# --- headers ---------------------------------------------------------------------
# json_codec.hpp is the documented opt-in exception: it needs nlohmann-json.
bad=$(grep -rlE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](hiredis|spdlog|fmt|openssl)/' \
  "$inst/$includedir/uvredis")
if [ -z "$bad" ]; then pass headers; else fail "headers: ${bad//$inst/} include a private dependency"; fi

# --- exports ---------------------------------------------------------------------
syms="$tmp/exports.txt"
nm -D --defined-only -C "$lib" | sed 's/^[0-9a-f]* . //' >"$syms"
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
third=$(grep -cE 'fmt::|spdlog::|^redis[A-Z]|^(SSL|EVP|ERR)_' "$syms")
# The only uvredis::detail entry points: the argv builder and option encoders
# (commands/*.hpp) with the stream-id check, KvStore's byte-level base and the
# misuse reporters.
detail=$(grep -oE '^(typeinfo for |typeinfo name for |vtable for )?uvredis::detail::[A-Za-z_]+' "$syms" |
  sed 's/^.*uvredis::detail:://' | sort -u |
  grep -vxE 'Args|KvCore|add_[a-z_]+|whole_seconds|unix_millis|valid_stream_id|callback_threw|value_of_error_result|error_of_ok_result')
total=$(wc -l <"$syms")
if [ "$soname" = libuvredis.so.0 ] && [ "$third" -eq 0 ] && [ -z "$detail" ] && grep -q '^uvredis::Client::Client' "$syms" &&
  grep -qx 'typeinfo for uvredis::Client' "$syms"; then
  pass "exports ($total symbols, soname $soname)"
else
  fail "exports: soname '$soname', $third fmt/spdlog/hiredis/ssl symbols, unexpected detail exports: ${detail//$'\n'/ }"
fi

# --- pkg-config file ---------------------------------------------------------------
export PKG_CONFIG_PATH="$inst/$libdir/pkgconfig"
requires=$(pkg-config --print-requires uvredis | tr -d ' \n')
requires_private=$(pkg-config --print-requires-private uvredis | tr -d ' \n')
cflags=$(pkg-config --cflags uvredis)
libs=$(pkg-config --libs uvredis)
static_libs=$(pkg-config --static --libs uvredis)
if [[ $requires == libuv* ]] && [ -z "$requires_private" ] &&
  ! grep -qE 'hiredis|SPDLOG|spdlog|fmt|ssl' <<<"${cflags//$inst/} ${libs//$inst/}" &&
  grep -q -- '-lhiredis' <<<"$static_libs" && grep -q -- '-lspdlog' <<<"$static_libs"; then
  pass pkgconfig
else
  fail "pkgconfig: Requires '$requires', Requires.private '$requires_private', cflags '$cflags', libs '$libs', static '$static_libs'"
fi

# --- a private redis-server ------------------------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
  --daemonize no --logfile "$tmp/redis.log" &
server_pid=$!
for _ in $(seq 200); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.05
done
export REDIS_URL="redis://127.0.0.1:$port"

run_app() {  # name, binary, [env...]
  local name=$1 bin=$2
  shift 2
  redis-cli -p "$port" del consumer:key >/dev/null 2>&1
  if out=$(env "$@" timeout 30 "$bin" 2>&1) && [ "$(redis-cli -p "$port" exists consumer:key)" = 1 ]; then
    pass "$name: $out"
  else
    fail "$name: $out"
  fi
}

# --- pkg-config + g++ ------------------------------------------------------------------
# shellcheck disable=SC2046  # the flags are meant to split
if g++ -std=c++20 -o "$tmp/pkgconfig-app" "$here/app.cpp" $(pkg-config --cflags --libs uvredis) \
  >"$tmp/pkgconfig.log" 2>&1; then
  run_app pkgconfig-app "$tmp/pkgconfig-app" LD_LIBRARY_PATH="$inst/$libdir"
else
  cat "$tmp/pkgconfig.log"
  fail "pkgconfig-app: g++ failed"
fi

# --- CMake -----------------------------------------------------------------------------
if command -v cmake >/dev/null; then
  if cmake -S "$here/cmake" -B "$tmp/cmake-build" -G Ninja -DCMAKE_PREFIX_PATH="$inst" >"$tmp/cmake.log" 2>&1 &&
    cmake --build "$tmp/cmake-build" >>"$tmp/cmake.log" 2>&1; then
    # No LD_LIBRARY_PATH: CMake puts the imported library's directory in the
    # build tree's RUNPATH.
    run_app cmake-app "$tmp/cmake-build/app"
  else
    tail -n 30 "$tmp/cmake.log"
    fail "cmake-app: configure or build failed"
  fi
else
  fail "cmake-app: cmake is not installed (bash tests/deps.sh installs it)"
fi

# --- uvredis-ws (installed when libwebsockets was found) ------------------------------
# ws-pkgconfig  uvredis-ws.pc requires uvredis only, no libwebsockets flags;
#               g++ app_ws.cpp $(pkg-config --cflags --libs uvredis-ws), run
# ws-cmake      find_package(uvredis-ws) + uvredis::ws, run
if [ -f "$inst/$libdir/pkgconfig/uvredis-ws.pc" ]; then
  ws_requires=$(pkg-config --print-requires uvredis-ws | tr -d ' \n')
  ws_flags=$(pkg-config --cflags --libs uvredis-ws)
  # shellcheck disable=SC2086  # the flags are meant to split
  if [[ $ws_requires == uvredis* ]] && ! grep -qE 'websockets|nlohmann|SPDLOG' <<<"${ws_flags//$inst/}" &&
    ! grep -qE '#[[:space:]]*include[[:space:]]*<(libwebsockets|nlohmann)' "$inst/$includedir/uvredis/ws_fanout.hpp" &&
    g++ -std=c++20 -o "$tmp/ws-pkgconfig-app" "$here/app_ws.cpp" $ws_flags >"$tmp/ws-pkgconfig.log" 2>&1; then
    run_app ws-pkgconfig-app "$tmp/ws-pkgconfig-app" LD_LIBRARY_PATH="$inst/$libdir"
  else
    cat "$tmp/ws-pkgconfig.log" 2>/dev/null
    fail "ws-pkgconfig-app: Requires '$ws_requires', flags '$ws_flags'"
  fi
  if command -v cmake >/dev/null; then
    if cmake -S "$here/cmake-ws" -B "$tmp/cmake-ws-build" -G Ninja -DCMAKE_PREFIX_PATH="$inst" >"$tmp/cmake-ws.log" 2>&1 &&
      cmake --build "$tmp/cmake-ws-build" >>"$tmp/cmake-ws.log" 2>&1; then
      run_app ws-cmake-app "$tmp/cmake-ws-build/app_ws"
    else
      tail -n 30 "$tmp/cmake-ws.log"
      fail "ws-cmake-app: configure or build failed"
    fi
  fi
fi

# --- meson subproject ----------------------------------------------------------------------
app="$tmp/meson-app"
mkdir -p "$app/subprojects"
cp "$here/meson/meson.build" "$here/app.cpp" "$app/"
ln -s "$repo" "$app/subprojects/uvredis"
# --force-fallback-for: use the subproject even where a uvredis.pc is installed.
if meson setup "$app/build" "$app" --buildtype=plain --force-fallback-for=uvredis >"$tmp/meson.log" 2>&1; then
  extra=$(grep -E 'Run-time dependency (gtest|gmock|libwebsockets|nlohmann_json) ' "$tmp/meson.log")
  targets=$(ninja -C "$app/build" -t targets all 2>/dev/null | grep -cE '(examples|tests)/')
  if [ -n "$extra" ] || [ "$targets" -ne 0 ]; then
    fail "meson-app: the subproject looked for '$extra' and has $targets example/test targets"
  elif ninja -C "$app/build" -j "$jobs" >>"$tmp/meson.log" 2>&1; then
    run_app meson-app "$app/build/app"
  else
    tail -n 30 "$tmp/meson.log"
    fail "meson-app: build failed"
  fi
else
  tail -n 30 "$tmp/meson.log"
  fail "meson-app: meson setup failed"
fi

finish
