#!/usr/bin/env bash
# Many downloaders, one source, on loopback: N (default 8) peers run
# `peer get` of one SIZE_MIB (default 256) MiB file at the same moment from
# one source capped at RATE_MIB (default 40) MiB/s.
#   1. upload_slots = N: every downloader is served at once. Prints each
#      one's rate, the total against the cap, each against the fair share
#      (cap / N) and Jain's fairness index (1 = perfectly even).
#   2. upload_slots = SLOTS (default 2): the rest wait in line. Prints each
#      one's time in the queue (from its summary) and its total time; all
#      must finish. ONLY_QUEUE=1 runs this part alone.
# Temp folders, loopback only; everything is stopped and removed at the end.
set -euo pipefail
N=${N:-8}
SIZE_MIB=${SIZE_MIB:-256}
RATE_MIB=${RATE_MIB:-40}
SLOTS=${SLOTS:-2}
source "$(dirname "$0")/lib.sh"
now() { date +%s.%N; }

echo "making a ${SIZE_MIB} MiB random file..."
head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom > file.bin
LIMIT=$((RATE_MIB * 1024 * 1024))

config() { peer_config "$@"; }

run() { # slots label
  config src "upload_slots = $1
upload_rate_limit = $LIMIT"
  ln -f file.bin src/share/bench.bin
  "$BIN/peer" --config src.toml serve > src.out 2> src.log &
  local pid=$!
  PIDS+=($pid)
  until [ -s src.out ]; do sleep 0.1; done
  for i in $(seq 1 "$N"); do config "d$i" ""; rm -rf "d$i/share"/*; done
  until "$BIN/peer" --config d1.toml search bench | grep -q bench.bin; do sleep 0.1; done
  ID=$(first_id d1.toml bench)
  echo
  echo "== $2: $N downloaders, one source capped at $RATE_MIB MiB/s, upload_slots = $1"
  rm -f times
  local gets=()
  for i in $(seq 1 "$N"); do
    (
      s=$(now)
      "$BIN/peer" --config "d$i.toml" get --here "$ID" > "d$i.get" 2> "d$i.err" ||
        { echo "d$i failed:"; tail -5 "d$i.err"; exit 1; }
      e=$(now)
      cmp -s file.bin "d$i/share/bench.bin" || { echo "d$i: MISMATCH"; exit 1; }
      echo "d$i $s $e" >> times
    ) &
    gets+=($!)
  done
  if [ "$1" = "$N" ]; then sample_window; fi
  for g in "${gets[@]}"; do wait "$g"; done
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

# Bytes the source has sent each downloader, from its status: "who bytes".
sent() {
  "$BIN/peer" --config src.toml status |
    awk '/^uploading: to / {print $3, $(NF-1)}' | sed 's/(//' | sort
}

# Once every downloader is being served, the bytes each gets over WINDOW
# seconds (default 20): the steady state, without the start-up, when the
# first to start has the link to itself for a moment.
sample_window() {
  local waited=0
  until [ "$(sent | wc -l)" -eq "$N" ]; do
    # A download that failed is never served: say so rather than wait.
    waited=$((waited + 1))
    if [ "$waited" -gt 600 ]; then
      echo "not every downloader was served within 2 minutes:" >&2
      tail -n 3 d*.err >&2
      exit 1
    fi
    sleep 0.2
  done
  sleep 3
  sent > window.a
  local s e
  s=$(now)
  sleep "${WINDOW:-20}"
  sent > window.b
  e=$(now)
  echo "$s $e" > window.t
}

report_window() {
  join window.a window.b | awk -v cap="$RATE_MIB" -v n="$N" -v t="$(cat window.t)" '
    BEGIN { split(t, w, " "); secs = w[2] - w[1] }
    { r = ($3 - $2) / 1048576 / secs; name[NR] = $1; rate[NR] = r; sum += r; sq += r * r }
    END {
      fair = cap / n; worst = 0
      printf "  steady state, %.1f s with all %d served:\n", secs, n
      for (i = 1; i <= NR; i++) {
        dev = (rate[i] - fair) / fair * 100; a = dev < 0 ? -dev : dev; if (a > worst) worst = a
        printf "    %-18s %6.2f MiB/s (%+5.1f%% of the fair share)\n", name[i], rate[i], dev
      }
      printf "    total %.2f MiB/s: %.1f%% of the cap; largest distance from the fair share %.1f%%\n", sum, sum / cap * 100, worst
      printf "    Jain fairness index: %.4f\n", sum * sum / (NR * sq)
    }'
}

report_fair() {
  sort -k1,1V times | awk -v size="$SIZE_MIB" -v cap="$RATE_MIB" -v n="$N" '
    { name[NR]=$1; s[NR]=$2; e[NR]=$3; if (NR==1 || $2<first) first=$2; if ($3>last) last=$3 }
    END {
      fair = cap / n; sum = 0; sq = 0; worst = 0
      for (i = 1; i <= NR; i++) {
        r = size / (e[i] - s[i]); sum += r; sq += r * r
        dev = (r - fair) / fair * 100; if (dev < 0) dev = -dev; if (dev > worst) worst = dev
        printf "  %-4s %7.2f s  %6.2f MiB/s  (%+5.1f%% of the fair share %.2f)\n", name[i], e[i]-s[i], r, (r-fair)/fair*100, fair
      }
      total = size * NR / (last - first)
      printf "  total %.2f MiB/s over %.2f s: %.1f%% of the %d MiB/s cap\n", total, last - first, total / cap * 100, cap
      printf "  largest distance from the fair share: %.1f%%\n", worst
      printf "  Jain fairness index: %.4f\n", sum * sum / (NR * sq)
    }'
}

report_queue() {
  for i in $(seq 1 "$N"); do
    local line waited
    line=$(grep "^d$i " times)
    waited=$( (grep -o 'waited [0-9.]* s' "d$i.get" || true) | awk '{t += $2} END {printf "%.1f", t + 0}')
    echo "$line" | awk -v w="$waited" '{printf "  %-4s done in %7.2f s, %5s s of it waiting in line\n", $1, $3 - $2, w}'
  done
  sort -k3,3n times | awk 'NR==1 {first=$2} {if ($2<first) first=$2; last=$3} END {printf "  all %d finished in %.2f s\n", NR, last - first}'
}

if [ -z "${ONLY_QUEUE:-}" ]; then
  run "$N" "fair share"
  report_window
  echo "  whole downloads, start-up included:"
  report_fair
fi
run "$SLOTS" "a queue"
report_queue
