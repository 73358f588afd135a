#!/usr/bin/env bash
# Multi-source download benchmark on loopback, all on one SIZE_MIB file
# (default 1024 MiB):
#   1. one uncapped source: `peer get` MB/s, and `curl` from the same peer;
#   2. one source capped at RATE_MIB MiB/s (default 40) vs four sources each
#      capped at the same rate: the ratio should approach 4.
# Temp folders, loopback only; everything is stopped and removed at the end.
set -euo pipefail
SIZE_MIB=${SIZE_MIB:-1024}
RATE_MIB=${RATE_MIB:-40}
source "$(dirname "$0")/lib.sh"
now() { date +%s.%N; }
rate() { awk "BEGIN{printf \"%6.2f s = %6.0f MB/s\", $2 - $1, $SIZE_MIB * 1.048576 / ($2 - $1)}"; }

echo "making a ${SIZE_MIB} MiB random file..."
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > file.bin

config() { # name limit
  peer_config "$1" "upload_slots = 8
upload_rate_limit = $2"
}
serve() { # name -> pid in SERVED, address in ADDR
  "$BIN/peer" --config "$1.toml" serve > "$1.out" 2> "$1.log" &
  SERVED=$!
  PIDS+=($SERVED)
  until [ -s "$1.out" ]; do sleep 0.1; done
  ADDR=$(awk 'NR==1 {print $NF}' "$1.out")
}
sources() { "$BIN/peer" --config b.toml search bench | awk 'NR==2 {print $5}'; }
fetch() { # label
  rm -rf "$WORK/dl"
  local s e
  s=$(now)
  "$BIN/peer" --config b.toml --download-dir "$WORK/dl" get --here "$ID" > get.out 2> get.log
  e=$(now)
  LAST=$(awk "BEGIN{print $e - $s}")
  printf "%-40s %s\n" "$1" "$(rate "$s" "$e")"
  sed 's/^/    /' get.out | tail -n +2
  cmp -s file.bin "$WORK/dl/bench.bin" || { echo "MISMATCH"; exit 1; }
}

config b 0
ID=$(b3sum --no-names file.bin 2>/dev/null || true)

# 1. One uncapped source.
config a1 0
ln file.bin a1/share/bench.bin
serve a1; A1_PID=$SERVED; A1=$ADDR
until [ "$(sources)" = "1" ]; do sleep 0.1; done
ID=$(first_id b.toml bench)
fetch "peer get, 1 source, uncapped:"
s=$(now); curl -s -o curl.bin "$A1/files/$ID"; e=$(now)
printf "%-40s %s\n" "curl, same source:" "$(rate "$s" "$e")"
cmp -s file.bin curl.bin && rm curl.bin
kill "$A1_PID"; wait "$A1_PID" 2>/dev/null || true

# 2. Capped sources: one, then four.
LIMIT=$((RATE_MIB * 1024 * 1024))
for n in 1 2 3 4; do config "c$n" "$LIMIT"; ln file.bin "c$n/share/bench.bin"; done
serve c1
until [ "$(sources)" = "1" ]; do sleep 0.1; done
fetch "peer get, 1 source capped at ${RATE_MIB} MiB/s:"
T1=$LAST
for n in 2 3 4; do serve "c$n"; done
until [ "$(sources)" = "4" ]; do sleep 0.1; done
fetch "peer get, 4 sources capped at ${RATE_MIB} MiB/s each:"
T4=$LAST
awk "BEGIN{printf \"speed-up of 4 capped sources over 1: %.2fx\n\", $T1 / $T4}"
