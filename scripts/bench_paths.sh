#!/usr/bin/env bash
# The three paths a download takes, in one run, over veth links in network
# namespaces this script makes (as root; deleted on exit): a SIZE_MIB
# (default 256) file fetched with `peer get` directly (dave, public, from
# bob, public), by a reverse connection (dave from alice behind NAT 1: she
# connects out to him) and through the relay (carol behind NAT 2 from
# alice: both firewalled), alternating, RUNS (default 3) rounds, medians;
# and the relay's CPU seconds per GiB relayed (the `relay` binary, its
# caps off, from /proc). Only documentation ranges, no route out.
# Needs iproute2 and nftables (apt-get install -y iproute2 nftables).
#
#   sudo scripts/bench_paths.sh
set -euo pipefail
RUNS=${RUNS:-3}
SIZE_MIB=${SIZE_MIB:-256}
[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces)" >&2; exit 1; }
command -v nft >/dev/null || { echo "nftables is not installed" >&2; exit 1; }
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin server --bin peer --bin relay
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
WORK=$(mktemp -d)
T=hsb$$
NS=(${T}pub ${T}pub2 ${T}nat ${T}home ${T}nat2 ${T}home2)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  if [ -n "${KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
for n in "${NS[@]}"; do ip netns add "$n"; ip -n "$n" link set lo up; done
PUB=${T}pub PUB2=${T}pub2 NAT=${T}nat HOME_=${T}home NAT2=${T}nat2 HOME2=${T}home2
veth() { ip link add "$1" netns "$2" type veth peer name "$3" netns "$4"; }
veth wan0 "$PUB" wan1 "$NAT"
veth lan0 "$HOME_" lan1 "$NAT"
veth wan2 "$PUB" wan3 "$NAT2"
veth lan2 "$HOME2" lan3 "$NAT2"
veth wan4 "$PUB" eth0 "$PUB2"
ip -n "$PUB" link add br0 type bridge
for d in wan0 wan2 wan4; do ip -n "$PUB" link set "$d" master br0; ip -n "$PUB" link set "$d" up; done
addr() { ip -n "$1" addr add "$2/24" dev "$3"; ip -n "$1" link set "$3" up; }
addr "$PUB" 203.0.113.10 br0
addr "$PUB2" 203.0.113.20 eth0
addr "$NAT" 203.0.113.1 wan1; addr "$NAT" 198.51.100.1 lan1; addr "$HOME_" 198.51.100.2 lan0
addr "$NAT2" 203.0.113.2 wan3; addr "$NAT2" 192.0.2.1 lan3; addr "$HOME2" 192.0.2.2 lan2
ip -n "$HOME_" route add default via 198.51.100.1
ip -n "$HOME2" route add default via 192.0.2.1
for r in "$NAT:wan1:198.51.100.0/24" "$NAT2:wan3:192.0.2.0/24"; do
  IFS=: read -r ns dev net <<<"$r"
  ip netns exec "$ns" sysctl -q -w net.ipv4.ip_forward=1
  printf 'table ip nat {\n chain post {\n  type nat hook postrouting priority 100;\n  oifname "%s" ip saddr %s masquerade\n }\n}\n' "$dev" "$net" |
    ip netns exec "$ns" nft -f -
done
cd "$WORK"
run_in() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
median() { printf "%s\n" "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

cat > relay.toml <<EOF
listen = "203.0.113.10:7010"
secret_file = "$WORK/relay.secret"
session_rate = 0
total_rate = 0
EOF
# Not through a function: $! is then the relay itself (ip execs it).
ip netns exec "$PUB" "$BIN/relay" --config relay.toml > relay.out 2> relay.log &
PIDS+=($!); RELAY_PID=$!
until [ -s relay.out ]; do sleep 0.1; done
cat > server.toml <<EOF
listen = "203.0.113.10:50051"
state_dir = "$WORK/server-state"
[relay]
addr = "203.0.113.10:7010"
secret_file = "$WORK/relay.secret"
EOF
run_in "$PUB" "$BIN/server" --config server.toml > server.out 2> server.log &
PIDS+=($!)
until grep -q '^invite: ' server.out 2>/dev/null; do sleep 0.1; done
INVITE=$(awk '/^invite: / {print $2}' server.out)

start_peer() { # name namespace ip extra
  mkdir -p "$1/share" "$1/downloads"
  cat > "$1.toml" <<EOF
name = "$1"
directory = "$INVITE"
listen = "$3:7001"
share_dir = "$WORK/$1/share"
download_dir = "$WORK/$1/downloads"
state_dir = "$WORK/$1/state"
settle_secs = 0
$4
EOF
  run_in "$2" "$BIN/peer" --config "$1.toml" serve > "$1.out" 2> "$1.log" &
  PIDS+=($!)
  until [ -s "$1.out" ]; do sleep 0.1; done
}
head -c $((SIZE_MIB << 20)) /dev/urandom > bob.bin
head -c $((SIZE_MIB << 20)) /dev/urandom > alice.bin
mkdir -p bob/share alice/share
mv bob.bin bob/share/bob.bin
mv alice.bin alice/share/alice.bin
start_peer bob "$PUB" 203.0.113.10 ""
start_peer alice "$HOME_" 198.51.100.2 ""
start_peer dave "$PUB2" 203.0.113.20 ""
start_peer carol "$HOME2" 192.0.2.2 ""
B_ID=$(b3sum --no-names bob/share/bob.bin)
A_ID=$(b3sum --no-names alice/share/alice.bin)
until run_in "$PUB2" "$BIN/peer" --config dave.toml search --json "$A_ID" | grep -q '"alice"' &&
  run_in "$PUB2" "$BIN/peer" --config dave.toml search --json "$B_ID" | grep -q '"bob"'; do sleep 0.2; done
echo "$SIZE_MIB MiB per download over veth links in namespaces, TLS, $RUNS rounds, peer get (wall clock)"

fetch() { # namespace who id name path -> MiB/s
  rm -f "$2/downloads/$4"
  local t0 t1
  t0=$(date +%s.%N)
  run_in "$1" "$BIN/peer" --config "$2.toml" get --here "$3" > get.out 2> get.err || { cat get.err >&2; exit 1; }
  t1=$(date +%s.%N)
  [ "$(b3sum --no-names "$2/downloads/$4")" = "$3" ] || { echo "bad bytes in $4" >&2; exit 1; }
  grep -q "($5)" get.out || { echo "no '$5' path in: $(cat get.out)" >&2; exit 1; }
  awk "BEGIN{print $SIZE_MIB / ($t1 - $t0)}"
}
cpu() { awk '{print $14 + $15}' "/proc/$RELAY_PID/stat"; }
TICKS=$(getconf CLK_TCK)
direct_all=() reverse_all=() relayed_all=() relay_ticks=0
for r in $(seq "$RUNS"); do
  d=$(fetch "$PUB2" dave "$B_ID" bob.bin direct)
  v=$(fetch "$PUB2" dave "$A_ID" alice.bin reverse)
  c0=$(cpu)
  l=$(fetch "$HOME2" carol "$A_ID" alice.bin relayed)
  c1=$(cpu)
  relay_ticks=$((relay_ticks + c1 - c0))
  direct_all+=("$d") reverse_all+=("$v") relayed_all+=("$l")
  printf "  round %d: direct %7.1f MiB/s   reverse %7.1f MiB/s   relayed %7.1f MiB/s\n" "$r" "$d" "$v" "$l"
done
dm=$(median "${direct_all[@]}") vm=$(median "${reverse_all[@]}") lm=$(median "${relayed_all[@]}")
printf "medians: direct %.1f MiB/s, reverse %.1f MiB/s (%.2fx), relayed %.1f MiB/s (%.2fx)\n" \
  "$dm" "$vm" "$(awk "BEGIN{print $vm/$dm}")" "$lm" "$(awk "BEGIN{print $lm/$dm}")"
printf "relay CPU: %.2f s for %d MiB relayed (%.2f CPU s per GiB)\n" \
  "$(awk "BEGIN{print $relay_ticks/$TICKS}")" "$((RUNS * SIZE_MIB))" \
  "$(awk "BEGIN{print ($relay_ticks/$TICKS) / ($RUNS * $SIZE_MIB / 1024)}")"
