#!/usr/bin/env bash
# Installs, as root on Debian 12, every package the build, the demo and the
# tests need, but only what is missing (a second run installs nothing).
# Non-interactive. Usage: bash tests/deps.sh [extra-package ...]
set -euo pipefail

packages=(
  g++ pkg-config meson ninja-build python3
  libuv1-dev libhiredis-dev libspdlog-dev
  redis-server redis-tools
  googletest libgtest-dev libgmock-dev
  iptables iproute2 procps
  nlohmann-json3-dev libwebsockets-dev chromium
  libssl-dev openssl
  "$@"
)

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
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
