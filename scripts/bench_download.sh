#!/usr/bin/env bash
# Measures one download between two peers on this machine: a directory and
# two release-built peers on loopback, one file of SIZE_MIB (default 1024)
# random MiB. Prints the peer-to-peer rate, and curl's rate from the same
# peer for comparison. Everything runs in a temp folder that is removed after.
#
#   scripts/bench_download.sh            # 1 GiB
#   SIZE_MIB=256 scripts/bench_download.sh
set -euo pipefail
SIZE_MIB=${SIZE_MIB:-1024}
source "$(dirname "$0")/lib.sh"

for n in a b; do
  cat > $n.toml <<TOML
name = "bench-$n"
directory = "$DIR"
listen = "127.0.0.1:0"
share_dir = "$WORK/$n/share"
state_dir = "$WORK/$n/state"
TOML
  mkdir -p $n/share
done

echo "making a ${SIZE_MIB} MiB random file..."
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > a/share/bench.bin

start=$(date +%s.%N)
"$BIN/peer" --config a.toml serve > a.out 2> a.log &
PIDS+=($!)
until [ -s a.out ]; do sleep 0.1; done
A=$(awk '{print $NF}' a.out)
until "$BIN/peer" --config b.toml search bench 2>/dev/null | grep -q bench.bin; do sleep 0.1; done
ready=$(date +%s.%N)
ID=$("$BIN/peer" --config b.toml search bench | awk 'NR==2 {print $2}')
echo "peer a up and listed after $(awk "BEGIN{printf \"%.2f\", $ready - $start}") s (includes hashing the file)"

start=$(date +%s.%N)
"$BIN/peer" --config b.toml get "$ID" > get.out 2> get.log
end=$(date +%s.%N)
cat get.out
rate() { awk "BEGIN{printf \"%.2f s = %.0f MB/s\", $2 - $1, $SIZE_MIB * 1.048576 / ($2 - $1)}"; }
echo "peer get:   $SIZE_MIB MiB in $(rate "$start" "$end") (whole command: locate, fetch, verify, rename)"
cmp a/share/bench.bin b/share/bench.bin && echo "bytes identical"

start=$(date +%s.%N)
curl -s -o curl.bin "$A/files/$ID"
end=$(date +%s.%N)
echo "curl:       $SIZE_MIB MiB in $(rate "$start" "$end") (no verification)"
if command -v b3sum >/dev/null; then
  echo "b3sum of curl's copy: $(b3sum --no-names curl.bin) (id $ID)"
fi
