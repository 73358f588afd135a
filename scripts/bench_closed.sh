#!/usr/bin/env bash
# What a closed group costs a peer's HTTP server, in one run: the same 4 KiB
# file fetched with keep-alive by wrk from a peer of an open group and from a
# peer of a closed group (group_password set) giving the password as Basic
# credentials, alternating, over 1 and 32 connections; and how fast the
# closed peer turns away requests without it (401). Both peers on their
# defaults but tls = false (wrk shows no client certificate, so the
# certificate path is not what this measures), each logged in to its own
# directory. RUNS (default 3) rounds, SECS (default 10) seconds each.
# Needs wrk (apt-get install -y wrk).
#
#   scripts/bench_closed.sh
set -euo pipefail
RUNS=${RUNS:-3}
SECS=${SECS:-10}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }
PASSWORD="bench closed group password"
SERVER_LINES="group_password = \"$PASSWORD\""
source "$(dirname "$0")/lib.sh"

# A second, open directory for the open peer.
"$BIN/server" --no-tls --listen 127.0.0.1:0 > open-server.out 2> open-server.log &
PIDS+=($!)
until [ -s open-server.out ]; do sleep 0.1; done
OPEN_DIR=$(awk 'NR==1 {print $NF}' open-server.out)

start_peer() { # name directory extra
  peer_config "$1" "$3"
  sed -i "s|^directory = .*|directory = \"$2\"|" "$1.toml"
  head -c 4096 /dev/urandom > "$1/share/small.bin" 2>/dev/null || true
  "$BIN/peer" --config "$1.toml" serve > "$1.out" 2> "$1.log" &
  PIDS+=($!)
  until [ -s "$1.out" ]; do sleep 0.1; done
}
start_peer closed "$DIR" "group_password = \"$PASSWORD\""
start_peer open "$OPEN_DIR" ""
cp closed/share/small.bin open/share/small.bin
C=$(awk 'NR==1 {print $NF}' closed.out)
O=$(awk 'NR==1 {print $NF}' open.out)
AUTH="Authorization: Basic $(printf ':%s' "$PASSWORD" | base64 -w0)"
until ID=$(curl -sf -H "$AUTH" "$C/files" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])' 2>/dev/null); do sleep 0.1; done
until curl -sf -o open.bin "$O/files/$ID"; do sleep 0.1; done
curl -sf -H "$AUTH" -o closed.bin "$C/files/$ID"
cmp open.bin closed.bin && cmp open.bin closed/share/small.bin
[ "$(curl -s -o /dev/null -w '%{http_code}' "$C/files/$ID")" = 401 ]
echo "4 KiB file, wrk -t2 (-t1 for 1 connection), ${SECS}s per measure, $RUNS rounds, tls = false"

rps() { # connections url [header]
  wrk -t"$(( $1 < 2 ? 1 : 2 ))" -c"$1" -d"${SECS}s" ${3:+-H "$3"} "$2" | awk '/Requests\/sec/ {print $2}'
}
for c in 1 32; do
  open_all=() closed_all=() refused_all=()
  for r in $(seq "$RUNS"); do
    o=$(rps "$c" "$O/files/$ID")
    k=$(rps "$c" "$C/files/$ID" "$AUTH")
    x=$(rps "$c" "$C/files/$ID")
    open_all+=("$o") closed_all+=("$k") refused_all+=("$x")
    printf "  %2d connections, round %d: open %9.0f req/s   closed+password %9.0f req/s   refused (401) %9.0f req/s   closed/open %.2f\n" \
      "$c" "$r" "$o" "$k" "$x" "$(awk "BEGIN{print $k/$o}")"
  done
  om=$(median "${open_all[@]}") km=$(median "${closed_all[@]}") xm=$(median "${refused_all[@]}")
  printf "%2d connections, medians: open %.0f req/s, closed with the password %.0f req/s (%.2fx), refused %.0f req/s\n" \
    "$c" "$om" "$km" "$(awk "BEGIN{print $km/$om}")" "$xm"
done
