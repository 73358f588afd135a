#!/bin/sh
# The image's entrypoint: `hubshare server ARGS`, `hubshare peer ARGS` or
# `hubshare relay ARGS` runs that binary (as the process itself, so
# signals reach it: Ctrl-C or `docker stop` logs a peer out).
set -eu
what="${1:-}"
case "$what" in
  server|peer|relay)
    shift
    exec "$what" "$@"
    ;;
  *)
    echo "usage: hubshare server [ARGS] | hubshare peer [ARGS] | hubshare relay [ARGS] (got: ${what:-nothing})" >&2
    exit 2
    ;;
esac
