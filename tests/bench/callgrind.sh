#!/bin/sh
# User-space instructions per command, counted by callgrind, for uvredis (typed
# set/get), uvredis through command(), and raw hiredis async, at one depth:
#
#   tests/bench/callgrind.sh build-rel/tests/bench/uvredis-bench [DEPTH [N]]    # defaults 1024, 100000
#
# Starts a private redis-server on a free loopback port (never 6379) in a
# temporary directory, stops it by pid on exit. uvredis-bench brackets each
# measured phase with callgrind's START/STOP requests, so with
# --instr-atstart=no only the N commands are counted (connect, PING and close
# are not). One valgrind run per contender and op; Ir / N is printed, with
# the ratios to raw hiredis. Needs valgrind; takes a few minutes.
set -eu
bin=${1:?usage: callgrind.sh PATH/TO/uvredis-bench [DEPTH [N]]}
depth=${2:-1024}
n=${3:-100000}
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 2; }

dir=$(mktemp -d /tmp/uvredis-cg-XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    if p != 6379: print(p); break'
}

port=$(free_port)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --daemonize no \
  --loglevel warning >"$dir/redis.log" 2>&1 &
pid=$!
i=0
until redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; do
  i=$((i + 1))
  if [ "$i" -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
    echo "callgrind.sh: redis-server did not start:" >&2; cat "$dir/redis.log" >&2; exit 1
  fi
  sleep 0.05
done

# count CONTENDER OP: instructions per command
count() {
  REDIS_URL="127.0.0.1:$port" valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$dir/cg.$1.$2" \
    "$bin" --only "$1" --op "$2" --depths "$depth" --no-burst --rounds 1 --n "$n" >/dev/null 2>"$dir/log.$1.$2" ||
    { echo "callgrind.sh: $1 $2 failed:" >&2; tail -20 "$dir/log.$1.$2" >&2; exit 1; }
  callgrind_annotate "$dir/cg.$1.$2" 2>/dev/null | awk -v n="$n" '/PROGRAM TOTALS/ { gsub(",", "", $1); printf "%.0f", $1 / n; exit }'
}

echo "instructions per command (callgrind), depth $depth, N=$n per run"
printf '%-16s %10s %10s %10s %12s\n' contender SET GET mean "/ hiredis"
h_set=$(count hiredis set)
h_get=$(count hiredis get)
for who in uvredis uvredis-command hiredis; do
  if [ "$who" = hiredis ]; then s=$h_set; g=$h_get; else s=$(count "$who" set); g=$(count "$who" get); fi
  awk -v w="$who" -v s="$s" -v g="$g" -v hs="$h_set" -v hg="$h_get" \
    'BEGIN { printf "%-16s %10d %10d %10d %12.2f\n", w, s, g, (s + g) / 2, (s + g) / (hs + hg) }'
done
