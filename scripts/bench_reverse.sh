#!/usr/bin/env bash
# What a reverse connection costs a download, in one run: a 256 MiB file
# (SIZE_MIB) fetched with `peer get` from a reachable source (direct) and
# another of the same size from a firewalled one (`reachable = false`: it
# connects out to the downloader, whose running peer splices it to the
# download), alternating, RUNS (default 3) rounds, medians. All over TLS on
# loopback, one directory; the downloader saves outside its share, and
# each file is removed between rounds.
#
#   scripts/bench_reverse.sh
set -euo pipefail
RUNS=${RUNS:-3}
SIZE_MIB=${SIZE_MIB:-256}
TLS=1
source "$(dirname "$0")/lib.sh"

start_peer() { # name extra
  peer_config "$1" "$2"
  "$BIN/peer" --config "$1.toml" serve > "$1.out" 2> "$1.log" &
  PIDS+=($!)
  until [ -s "$1.out" ]; do sleep 0.1; done
}
head -c $((SIZE_MIB << 20)) /dev/urandom > direct.bin
head -c $((SIZE_MIB << 20)) /dev/urandom > reverse.bin
mkdir -p open/share walled/share
mv direct.bin open/share/direct.bin
mv reverse.bin walled/share/reverse.bin
start_peer open ""
start_peer walled "reachable = false"
start_peer d "download_dir = \"$WORK/d/downloads\""
D_ID=$(b3sum --no-names open/share/direct.bin)
R_ID=$(b3sum --no-names walled/share/reverse.bin)
until "$BIN/peer" --config d.toml search --json "$D_ID" | grep -q '"open"' &&
  "$BIN/peer" --config d.toml search --json "$R_ID" | grep -q '"walled"'; do sleep 0.2; done
echo "$SIZE_MIB MiB per download, TLS on loopback, $RUNS rounds, peer get (wall clock)"

fetch() { # id name -> seconds
  rm -f "d/downloads/$2"
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN/peer" --config d.toml get --here "$1" > get.out 2> get.err || { cat get.err >&2; exit 1; }
  t1=$(date +%s.%N)
  [ "$(b3sum --no-names "d/downloads/$2")" = "$1" ] || { echo "bad bytes in $2" >&2; exit 1; }
  grep -q "($3)" get.out || { echo "no '$3' path in: $(cat get.out)" >&2; exit 1; }
  awk "BEGIN{print $t1 - $t0}"
}
direct_all=() reverse_all=()
for r in $(seq "$RUNS"); do
  d=$(fetch "$D_ID" direct.bin direct)
  v=$(fetch "$R_ID" reverse.bin reverse)
  direct_all+=("$(awk "BEGIN{print $SIZE_MIB / $d}")")
  reverse_all+=("$(awk "BEGIN{print $SIZE_MIB / $v}")")
  printf "  round %d: direct %7.1f MiB/s   reverse %7.1f MiB/s\n" "$r" "${direct_all[-1]}" "${reverse_all[-1]}"
done
dm=$(median "${direct_all[@]}") vm=$(median "${reverse_all[@]}")
printf "medians: direct %.1f MiB/s, reverse %.1f MiB/s (reverse/direct %.2fx)\n" "$dm" "$vm" "$(awk "BEGIN{print $vm/$dm}")"
