#!/usr/bin/env bash
# Installs, as root on Debian 12, the packages a set of tasks needs, but only
# what is missing (a second run installs nothing). Non-interactive.
#
# Usage: bash tests/deps.sh [SET] [extra-package ...]
#   tests (the default)  what tests/run-all.sh needs to build and run the
#                        suites: the build, both test builds, GoogleTest, the
#                        fault-injection tools, the WebSocket example, cmake
#                        for the consumer checks
#   browser              chromium, for the WebSocket example's browser test
#                        (run-all.sh installs it while the build compiles)
#   demo                 what examples/run-demo.sh needs: the compiler, meson,
#                        the library's dependencies and redis-server
set -euo pipefail

set_name=tests
case "${1:-}" in
  demo | tests | browser) set_name=$1; shift ;;
esac

# The library and the demo (recipes.cpp reads JSON; python3 finds a free port).
demo=(
  g++ pkg-config meson ninja-build python3
  libuv1-dev libhiredis-dev libspdlog-dev libssl-dev
  redis-server redis-tools
  nlohmann-json3-dev
)
packages=("${demo[@]}")
if [ "$set_name" = tests ]; then
  packages+=(
    googletest libgtest-dev libgmock-dev
    iptables iproute2 procps openssl
    libwebsockets-dev
    cmake
  )
elif [ "$set_name" = browser ]; then
  packages=(chromium)
fi
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages (${missing[*]}); run as root or install them" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Never let package scripts start a system redis-server: tests use their own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
# Waits for another apt-get (run-all.sh installs the browser in the
# background) rather than failing on its lock.
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
