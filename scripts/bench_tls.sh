#!/usr/bin/env bash
# What TLS costs, measured side by side in one run on loopback:
#   1. a SIZE_MIB (default 1024) MiB verified download between two peers
#      over TLS, the same between two peers with tls = false, and curl
#      fetching the same file into a file from nginx over TLS 1.3 (and in
#      plaintext): RUNS (default 3) rounds, alternating, medians; and how
#      many TLS handshakes the source saw for one whole download;
#   2. 4 KiB GETs with keep-alive (wrk, 1 and 32 connections, SECS
#      seconds) from a TLS peer and from a plaintext one;
#   3. one new connection: TLS handshake time to a peer (rustls), to the
#      directory (gRPC's core with OpenSSL) and to nginx, from curl;
#   4. directory searches/s at 16 threads over TLS and in plaintext
#      (loadgen, SEARCH_PEERS peers x 100 files, SECS seconds, RUNS rounds).
# PARTS (default "1 2 3 4") picks which. Needs nginx, wrk, curl and
# openssl (apt-get install -y nginx-light wrk).
#
#   scripts/bench_tls.sh
#   SIZE_MIB=256 RUNS=1 scripts/bench_tls.sh      # a quick look
set -euo pipefail
SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-3}
SECS=${SECS:-10}
SEARCH_PEERS=${SEARCH_PEERS:-2000}
PARTS=${PARTS:-1 2 3 4}
part() { [[ " $PARTS " == *" $1 "* ]]; }
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }
TLS=1 source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/nginx.sh"
now() { date +%s.%N; }

# lib.sh started a directory on its defaults (TLS): DIR. And one without.
"$BIN/server" --no-tls --listen 127.0.0.1:0 > plain-server.out 2> plain-server.log &
PIDS+=($!)
until [ -s plain-server.out ]; do sleep 0.1; done
PLAIN_DIR=$(awk 'NR==1 {print $NF}' plain-server.out)

mkdir -p file && head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > file/bench.bin
start_peer() { # name directory tls
  peer_config "$1" ""
  sed -i "s|^directory = .*|directory = \"$2\"|; s|^tls = true|tls = $3|" "$1.toml"
  "$BIN/peer" --config "$1.toml" serve > "$1.out" 2> "$1.log" &
  PIDS+=($!)
  until [ -s "$1.out" ]; do sleep 0.1; done
}
peer_config tls-b ""; sed -i "s|^directory = .*|directory = \"$DIR\"|" tls-b.toml
peer_config plain-b ""; sed -i "s|^tls = true|tls = false|" plain-b.toml; sed -i "s|^directory = .*|directory = \"$PLAIN_DIR\"|" plain-b.toml
mkdir -p tls-a/share plain-a/share
ln file/bench.bin tls-a/share/bench.bin && ln file/bench.bin plain-a/share/bench.bin
head -c 4096 /dev/urandom > tls-a/share/small.bin && cp tls-a/share/small.bin plain-a/share/small.bin
echo "hashing ${SIZE_MIB} MiB in each source..."
start_peer tls-a "$DIR" true
start_peer plain-a "$PLAIN_DIR" false
TLS_A=$(awk 'NR==1 {print $NF}' tls-a.out)
PLAIN_A=$(awk 'NR==1 {print $NF}' plain-a.out)
KP=$(awk '/^keyprint:/ {print $2}' tls-a.out)
PIN="sha256//$KP"
until "$BIN/peer" --config tls-b.toml search bench 2>/dev/null | grep -q bench.bin; do sleep 0.2; done
until "$BIN/peer" --config plain-b.toml search bench 2>/dev/null | grep -q bench.bin; do sleep 0.2; done
ID=$(b3sum --no-names file/bench.bin 2>/dev/null || "$BIN/peer" --config tls-b.toml search --json bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["hits"][0]["id"])')
SMALL=$("$BIN/peer" --config tls-b.toml search --json small | python3 -c 'import json,sys; print(json.load(sys.stdin)["hits"][0]["id"])')
start_nginx "$WORK/file"

handshakes() { curl -sk --pinnedpubkey "$PIN" "$TLS_A/metrics" | awk '/^hubshare_peer_tls_handshakes_total/ {print $2}'; }
secs() { awk "BEGIN{print $2 - $1}"; }
rate() { awk "BEGIN{printf \"%.2f s = %.0f MB/s\", $1, $SIZE_MIB * 1.048576 / $1}"; }
get() { # which (tls|plain)
  rm -f "$1-b/share/bench.bin"
  local s e
  s=$(now); "$BIN/peer" --config "$1-b.toml" get --here "$ID" > "$1-get.out" 2> "$1-get.log"; e=$(now)
  cmp -s file/bench.bin "$1-b/share/bench.bin" || { echo "$1: the copy differs" >&2; exit 1; }
  secs "$s" "$e"
}
fetch() { # url extra-curl-args...
  local url=$1 s e; shift
  rm -f curl.bin
  s=$(now); curl -s "$@" -o curl.bin "$url"; e=$(now)
  cmp -s file/bench.bin curl.bin || { echo "curl $url: the copy differs" >&2; exit 1; }
  secs "$s" "$e"
}

if part 1; then
echo
echo "== 1. one ${SIZE_MIB} MiB download, $RUNS rounds (peer get: locate, fetch, verify every piece, rename)"
tls_all=() plain_all=() ngx_tls_all=() ngx_all=()
before=$(handshakes)
for r in $(seq "$RUNS"); do
  t=$(get tls); p=$(get plain)
  nt=$(fetch "$NGINX_TLS/bench.bin" -k --tlsv1.3); n=$(fetch "$NGINX/bench.bin")
  tls_all+=("$t") plain_all+=("$p") ngx_tls_all+=("$nt") ngx_all+=("$n")
  echo "round $r: peer get TLS $(rate "$t")   peer get plain $(rate "$p")   curl+nginx TLS 1.3 $(rate "$nt")   curl+nginx plain $(rate "$n")"
  if [ "$r" = 1 ]; then
    after=$(handshakes)
    # The metrics request itself is one handshake too.
    echo "         TLS handshakes the source saw for that whole download: $(awk "BEGIN{print $after - $before - 1}")"
  fi
done
t=$(median "${tls_all[@]}") p=$(median "${plain_all[@]}") nt=$(median "${ngx_tls_all[@]}") n=$(median "${ngx_all[@]}")
echo "medians: peer TLS $t s, peer plain $p s, curl+nginx TLS $nt s, curl+nginx plain $n s"
echo "  TLS download vs tls = false: $(awk "BEGIN{printf \"%.2f\", $p / $t}")x the speed (goal >= 0.8)"
echo "  TLS download vs curl from nginx over TLS 1.3: $(awk "BEGIN{printf \"%.2f\", $nt / $t}")x the speed (goal >= 1.0)"
echo "  (nginx: TLS vs plain $(awk "BEGIN{printf \"%.2f\", $n / $nt}")x the speed)"
fi

if part 2; then
echo
echo "== 2. 4 KiB GETs with keep-alive, wrk ${SECS}s, $RUNS rounds"
rps() { # connections url
  wrk -t"$(( $1 < 2 ? 1 : 2 ))" -c"$1" -d"${SECS}s" "$2" | awk '/Requests\/sec/ {print $2}'
}
for c in 1 32; do
  ta=() pa=()
  for r in $(seq "$RUNS"); do
    x=$(rps "$c" "$TLS_A/files/$SMALL"); y=$(rps "$c" "$PLAIN_A/files/$SMALL")
    ta+=("$x") pa+=("$y")
    printf "  %2d connections, round %d: TLS %8.0f req/s   plain %8.0f req/s\n" "$c" "$r" "$x" "$y"
  done
  x=$(median "${ta[@]}") y=$(median "${pa[@]}")
  printf "%2d connections, medians: TLS %.0f req/s, plain %.0f req/s: TLS/plain = %.2f\n" "$c" "$x" "$y" "$(awk "BEGIN{print $x/$y}")"
done
fi

if part 3; then
echo
echo "== 3. one new connection: TLS handshake (curl's appconnect - connect), median of 50"
hs() { # url curl-args...
  local url=$1; shift
  for _ in $(seq 50); do
    curl -s -o /dev/null -w '%{time_connect} %{time_appconnect}\n' "$@" "$url" || true
  done | awk '{print ($2 - $1) * 1000}' | sort -g | awk '{a[NR]=$1} END {printf "%.2f ms", a[int((NR+1)/2)]}'
}
echo "  peer (rustls, P-256):                $(hs "$TLS_A/health" -k --pinnedpubkey "$PIN")"
echo "  directory (gRPC core + OpenSSL):     $(hs "https://$DIR/" -k --http2 --cert tls-a/state/tls.crt --key tls-a/state/tls.key)"
echo "  nginx (OpenSSL, TLS 1.3, P-256):     $(hs "$NGINX_TLS/bench.bin" -k -r 0-0)"
fi

part 4 || exit 0
echo
echo "== 4. directory searches/s, 16 threads, ${SEARCH_PEERS} peers x 100 files, ${SECS}s, $RUNS rounds"
cd "$ROOT"
search() { # extra loadgen args
  cargo bench --quiet --bench loadgen -- --peers "$SEARCH_PEERS" --files 100 --threads 16 \
    --secs "$SECS" "$@" 2>/dev/null | awk '/ 16 threads/ {print $3}'
}
st=() sp=()
for r in $(seq "$RUNS"); do
  x=$(search --tls); y=$(search)
  st+=("$x") sp+=("$y")
  printf "  round %d: TLS %8.0f searches/s   plain %8.0f searches/s\n" "$r" "$x" "$y"
done
x=$(median "${st[@]}") y=$(median "${sp[@]}")
printf "medians: TLS %.0f, plain %.0f searches/s: TLS/plain = %.2f (goal >= 0.9)\n" "$x" "$y" "$(awk "BEGIN{print $x/$y}")"
