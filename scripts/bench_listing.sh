#!/usr/bin/env bash
# What a peer's listings cost on a big share: FOLDERS (default 20) folders
# of PER (default 1000) small files, one peer on its defaults (but
# tls = false, as lib.sh writes it). Times, with curl's time_total over
# one kept-alive connection, N (default 50) requests of each:
#   - GET /files (the JSON listing of the whole share),
#   - the page of one folder (GET /?in=folder%2000),
#   - GET /metrics,
# and prints p50 and p90 in ms, the body sizes, and the peer's RSS.
# RUNS (default 3) rounds; the medians of their p50s.
#
#   scripts/bench_listing.sh
#   FOLDERS=100 PER=1000 scripts/bench_listing.sh     # 100,000 files
set -euo pipefail
FOLDERS=${FOLDERS:-20}
PER=${PER:-1000}
N=${N:-50}
RUNS=${RUNS:-3}
source "$(dirname "$0")/lib.sh"

peer_config a "rescan_secs = 0"
python3 - "$WORK/a/share" "$FOLDERS" "$PER" <<'PY'
import os, sys
root, folders, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for f in range(folders):
    d = os.path.join(root, f"folder {f:02}")
    os.makedirs(d, exist_ok=True)
    for i in range(per):
        with open(os.path.join(d, f"track {i:05} of folder {f:02}.txt"), "w") as out:
            out.write(f"file {i} of folder {f}\n")
PY
TOTAL=$((FOLDERS * PER))
"$BIN/peer" --config a.toml serve > a.out 2> a.log &
PEER=$!
PIDS+=($PEER)
until [ -s a.out ]; do sleep 0.1; done
A=$(awk 'NR==1 {print $NF}' a.out)
count() { curl -sf "$A/files" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
until [ "$(count 2>/dev/null || echo 0)" = "$TOTAL" ]; do sleep 0.5; done
rss() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' /proc/$PEER/status; }
echo "$TOTAL files in $FOLDERS folders shared; peer RSS $(rss) MiB"

timings() { # url: N time_totals in ms, one a line, over one connection
  local args=()
  for _ in $(seq "$N"); do args+=(-o /dev/null -w '%{time_total}\n' "$1"); done
  curl -s "${args[@]}" | awk '{printf "%.3f\n", $1 * 1000}'
}
pct() { sort -g | awk -v p="$1" '{a[NR]=$1} END {i=int(NR*p+0.999); if(i<1)i=1; print a[i]}'; }
FOLDER_URL="$A/?in=folder%2000"
printf "bodies: /files %s bytes, one folder's page %s bytes, /metrics %s bytes\n" \
  "$(curl -s "$A/files" | wc -c)" "$(curl -s "$FOLDER_URL" | wc -c)" "$(curl -s "$A/metrics" | wc -c)"
curl -s "$FOLDER_URL" | grep -q "track 00999 of folder 00" || { echo "the folder's page lacks its last file" >&2; exit 1; }
files50=() page50=() metrics50=()
for r in $(seq "$RUNS"); do
  f=$(timings "$A/files") p=$(timings "$FOLDER_URL") m=$(timings "$A/metrics")
  f50=$(pct 0.5 <<<"$f") p50=$(pct 0.5 <<<"$p") m50=$(pct 0.5 <<<"$m")
  files50+=("$f50") page50+=("$p50") metrics50+=("$m50")
  echo "round $r: /files p50 $f50 ms p90 $(pct 0.9 <<<"$f") ms;  folder page p50 $p50 ms p90 $(pct 0.9 <<<"$p") ms;  /metrics p50 $m50 ms p90 $(pct 0.9 <<<"$m") ms"
done
echo "medians of p50: /files $(median "${files50[@]}") ms, one folder's page $(median "${page50[@]}") ms, /metrics $(median "${metrics50[@]}") ms (goal: <= 10 ms each); peer RSS $(rss) MiB"
