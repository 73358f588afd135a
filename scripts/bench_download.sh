#!/usr/bin/env bash
# Measures one download between two peers on this machine: a directory and
# two release-built peers on loopback, one file of SIZE_MIB (default 1024)
# random MiB. RUNS (default 3) rounds of `peer get` against curl fetching
# the same file from nginx (serving the source's folder) into a file; prints
# each and the medians. Needs nginx (apt-get install -y nginx-light).
# Everything runs in a temp folder that is removed after.
#
#   scripts/bench_download.sh            # 1 GiB
#   SIZE_MIB=256 scripts/bench_download.sh
set -euo pipefail
SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-3}
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/nginx.sh"

for n in a b; do
  cat > $n.toml <<TOML
name = "bench-$n"
directory = "$DIR"
$TLS_LINE
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
A=$(awk 'NR==1 {print $NF}' a.out)
until "$BIN/peer" --config b.toml search bench 2>/dev/null | grep -q bench.bin; do sleep 0.1; done
ready=$(date +%s.%N)
ID=$(first_id b.toml bench)
echo "peer a up and listed after $(awk "BEGIN{printf \"%.2f\", $ready - $start}") s (includes hashing the file)"

start_nginx "$WORK/a/share"
rate() { awk "BEGIN{printf \"%.2f s = %.0f MB/s\", $2 - $1, $SIZE_MIB * 1.048576 / ($2 - $1)}"; }
peer_secs=() curl_secs=()
for r in $(seq "$RUNS"); do
  rm -f b/share/bench.bin curl.bin
  start=$(date +%s.%N)
  "$BIN/peer" --config b.toml get --here "$ID" > get.out 2> get.log
  end=$(date +%s.%N)
  cmp -s a/share/bench.bin b/share/bench.bin || { echo "round $r: peer get's copy differs" >&2; exit 1; }
  peer_secs+=("$(awk "BEGIN{print $end - $start}")")
  echo "round $r: peer get  $SIZE_MIB MiB in $(rate "$start" "$end") (locate, fetch, verify, rename; bytes identical)"
  start=$(date +%s.%N)
  curl -s -o curl.bin "$NGINX/bench.bin"
  end=$(date +%s.%N)
  curl_secs+=("$(awk "BEGIN{print $end - $start}")")
  echo "round $r: curl from nginx $SIZE_MIB MiB in $(rate "$start" "$end") (no verification)"
done
p=$(median "${peer_secs[@]}") c=$(median "${curl_secs[@]}")
echo "medians of $RUNS: peer get $p s, curl from nginx $c s: peer speed = $(awk "BEGIN{printf \"%.2f\", $c / $p}")x curl's"
