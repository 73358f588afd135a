#!/usr/bin/env bash
# What a big share costs a peer: FILES (default 100000) small files in
# FOLDERS (default 1000) folders, one peer on its defaults (but
# tls = false, as lib.sh writes it). Measures, RUNS (default 3) rounds:
#   - the RSS of a peer sharing nothing (the base),
#   - a cold start (no hash cache): seconds until every file is listed
#     (hubshare_peer_shared_files at /metrics), and the RSS then (while
#     the first announce to the directory is still under way), and once
#     settled (the peer has logged that the directory is up to date, and
#     half a second later: what the peer holds for as long as it runs),
#   - a warm start (stopped with Ctrl-C and started again, the hash cache
#     kept): the same,
# and prints the RSS per shared file above the base, with medians.
#
#   scripts/bench_share.sh
#   FILES=300000 scripts/bench_share.sh
set -euo pipefail
FILES=${FILES:-100000}
FOLDERS=${FOLDERS:-1000}
RUNS=${RUNS:-3}
source "$(dirname "$0")/lib.sh"

python3 - "$WORK/files" "$FOLDERS" "$FILES" <<'PY'
import os, sys
root, folders, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for f in range(folders):
    os.makedirs(os.path.join(root, f"folder {f:04}"), exist_ok=True)
for i in range(files):
    f = i % folders
    with open(os.path.join(root, f"folder {f:04}", f"track {i:06} of folder {f:04}.txt"), "w") as out:
        out.write(f"file {i} of folder {f}\n")
PY

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
now() { date +%s.%N; }
start_peer() { # name; sets PEER and A
  rm -f "$1.out"
  "$BIN/peer" --config "$1.toml" serve > "$1.out" 2> "$1.log" &
  PEER=$!
  PIDS+=("$PEER")
  until [ -s "$1.out" ]; do sleep 0.05; done
  A=$(awk 'NR==1 {print $NF}' "$1.out")
}
listed() { curl -sf "$A/metrics" | awk '/^hubshare_peer_shared_files / {print $2}'; }
until_listed() { # count
  until [ "$(listed 2>/dev/null || echo 0)" = "$1" ]; do
    kill -0 "$PEER" 2>/dev/null || { echo "the peer stopped:" >&2; tail -3 ./*.log >&2; exit 1; }
    sleep 0.05
  done
}
stop_peer() {
  kill -INT "$PEER"
  wait "$PEER" 2>/dev/null || true
}

peer_config empty "rescan_secs = 0"
start_peer empty
until_listed 0
BASE=$(rss_kib "$PEER")
stop_peer
echo "$FILES files in $FOLDERS folders; a peer sharing nothing: RSS $((BASE / 1024)) MiB"

per_file() { awk -v r="$1" -v b="$BASE" -v n="$FILES" 'BEGIN {printf "%.0f", (r - b) * 1024 / n}'; }
settled() { # the RSS once the directory lists every file
  until grep -q "the directory is up to date" a.log; do
    kill -0 "$PEER" 2>/dev/null || { echo "the peer stopped:" >&2; tail -3 a.log >&2; exit 1; }
    sleep 0.05
  done
  sleep 0.5
  rss_kib "$PEER"
}
cold_s=() cold_b=() warm_s=() warm_b=() cold_k=() warm_k=()
peer_config a "rescan_secs = 0"
sed -i "s|^share_dir = .*|share_dir = \"$WORK/files\"|" a.toml
for r in $(seq "$RUNS"); do
  # Cold: no hash cache (the identity stays, its name is bound to it).
  rm -f a/state/hash-cache.json
  t0=$(now); start_peer a; until_listed "$FILES"; t1=$(now)
  rss=$(rss_kib "$PEER"); crss=$(settled); stop_peer
  cs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') cb=$(per_file "$rss")
  t0=$(now); start_peer a; until_listed "$FILES"; t1=$(now)
  wrss=$(rss_kib "$PEER"); wsrss=$(settled); stop_peer
  ws=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') wb=$(per_file "$wrss")
  ck=$(per_file "$crss") wk=$(per_file "$wsrss")
  cold_s+=("$cs") cold_b+=("$cb") warm_s+=("$ws") warm_b+=("$wb") cold_k+=("$ck") warm_k+=("$wk")
  echo "round $r: cold start ${cs} s, RSS $((rss / 1024)) MiB ($cb B a file), settled $((crss / 1024)) MiB ($ck B a file); warm start ${ws} s, RSS $((wrss / 1024)) MiB ($wb B a file), settled $((wsrss / 1024)) MiB ($wk B a file)"
done
echo "medians: cold start $(median "${cold_s[@]}") s, $(median "${cold_b[@]}") B a file when listed, $(median "${cold_k[@]}") B settled; warm start $(median "${warm_s[@]}") s, $(median "${warm_b[@]}") B a file when listed, $(median "${warm_k[@]}") B settled (goal: at most 300 B a file)"
