#!/usr/bin/env bash
# Small-request throughput of a peer's HTTP server against nginx, in one
# run: the same 4 KiB file, fetched with keep-alive by wrk (two threads;
# one for one connection) over 1 and over 32 connections, from the peer
# (GET /files/{id}) and from nginx serving a copy of it. Prints requests/s and the peer's ratio.
# RUNS (default 3) rounds, alternating peer and nginx; SECS (default 10)
# seconds each. PEER_LINES: further lines for the peer's config (default
# none: the peer on its defaults but tls = false, as nginx is plaintext).
# READER=1: meanwhile another program (python3) opens and reads the shared
# file and nginx's copy in a loop, about 500 times a second each (a media
# player or a backup reading the share), to show what those reads cost
# each server.
# Needs wrk and nginx (apt-get install -y wrk nginx-light).
#
#   scripts/bench_serve.sh
#   PEER_LINES="http_workers = 32" scripts/bench_serve.sh
set -euo pipefail
RUNS=${RUNS:-3}
SECS=${SECS:-10}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/nginx.sh"

peer_config a "${PEER_LINES:-}"
head -c 4096 /dev/urandom > a/share/small.bin
"$BIN/peer" --config a.toml serve > a.out 2> a.log &
PIDS+=($!)
until [ -s a.out ]; do sleep 0.1; done
A=$(awk 'NR==1 {print $NF}' a.out)
# The id from the peer's own listing, once it has hashed the file.
until ID=$(curl -sf "$A/files" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])' 2>/dev/null); do sleep 0.1; done
# nginx serves a copy outside the peer's share: the peer watches its share,
# and every open of a file there would wake the peer's watcher thread.
mkdir nginx-root && cp a/share/small.bin nginx-root/
start_nginx "$WORK/nginx-root"
curl -sf -o peer.bin "$A/files/$ID"
curl -sf -o nginx.bin "$NGINX/small.bin"
cmp peer.bin nginx.bin && cmp peer.bin a/share/small.bin
if [ "${READER:-0}" = 1 ]; then
  python3 - a/share/small.bin nginx-root/small.bin <<'PY' > reader.out &
import sys, time
reads = 0
while True:
    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            f.read()
        reads += 1
    time.sleep(0.002)
PY
  PIDS+=($!)
fi
echo "${READER:+(with a reader of the shared file and of the nginx copy, ~500 reads/s each) }4 KiB file, wrk -t2 (-t1 for 1 connection), ${SECS}s per measure, $RUNS rounds (peer config: ${PEER_LINES:-defaults}; nginx workers = $(nproc))"

rps() { # connections url
  # Two threads, but wrk needs a connection per thread.
  wrk -t"$(( $1 < 2 ? 1 : 2 ))" -c"$1" -d"${SECS}s" "$2" | awk '/Requests\/sec/ {print $2}'
}
for c in 1 32; do
  peer_all=() nginx_all=()
  for r in $(seq "$RUNS"); do
    p=$(rps "$c" "$A/files/$ID")
    n=$(rps "$c" "$NGINX/small.bin")
    peer_all+=("$p") nginx_all+=("$n")
    printf "  %2d connections, round %d: peer %9.0f req/s   nginx %9.0f req/s   ratio %.2f\n" "$c" "$r" "$p" "$n" "$(awk "BEGIN{print $p/$n}")"
  done
  pm=$(median "${peer_all[@]}") nm=$(median "${nginx_all[@]}")
  printf "%2d connections, medians: peer %.0f req/s, nginx %.0f req/s: peer/nginx = %.2f\n" "$c" "$pm" "$nm" "$(awk "BEGIN{print $pm/$nm}")"
done
