# Shared set-up of the benchmark scripts (sourced, not run): builds the
# release binaries, makes a temp folder that is removed on exit with every
# process listed in PIDS, and starts a directory on a free loopback port:
# in plaintext (`tls = false`, as `peer_config` writes it too), unless
# TLS=1 (bench_tls.sh compares the two); SERVER_LINES are added to its
# config.
# Sets ROOT (the repository), BIN (unless given), WORK, PIDS and DIR (the directory's
# address); leaves the shell in WORK. `peer_config NAME EXTRA` writes
# NAME.toml for a peer sharing WORK/NAME/share, with the lines EXTRA
# appended; `median` prints the middle of its numbers; `first_id CONFIG
# QUERY` the full id of the first file a search finds.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
# BIN=DIR runs the binaries in DIR and builds nothing (to compare two
# builds side by side); by default the release build of this checkout.
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet --bin server --bin peer
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
fi
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
cd "$WORK"

if [ "${TLS:-0}" = 1 ]; then TLS_LINE="tls = true"; NO_TLS=(); else TLS_LINE="tls = false"; NO_TLS=(--no-tls); fi
# SERVER_LINES: lines for the directory's config (default none: its defaults).
printf 'state_dir = "%s/server-state"\n%s\n' "$WORK" "${SERVER_LINES:-}" > server.toml
"$BIN/server" --config server.toml "${NO_TLS[@]}" --listen 127.0.0.1:0 > server.out 2> server.log &
PIDS+=($!)
until [ -s server.out ]; do sleep 0.1; done
# The address ends the first line (a TLS directory prints its invite next).
DIR=$(awk 'NR==1 {print $NF}' server.out)

# The full id of the first file `search QUERY` finds for the peer of
# CONFIG (the table's ID column is a short id, which only the peer that
# searched can resolve).
first_id() { # config query
  "$BIN/peer" --config "$1" --json search "$2" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["hits"][0]["id"])'
}

# The middle value of its arguments (numbers).
median() { printf "%s\n" "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

peer_config() { # name extra
  mkdir -p "$1/share"
  cat > "$1.toml" <<TOML
name = "$1"
directory = "$DIR"
listen = "127.0.0.1:0"
share_dir = "$WORK/$1/share"
state_dir = "$WORK/$1/state"
settle_secs = 0
$TLS_LINE
$2
TOML
}
