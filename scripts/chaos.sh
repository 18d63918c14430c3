#!/usr/bin/env bash
# Runs `proving chaos`: the fault-injection matrix against the built services
# and the harness's own PostgreSQL, Redis and nats-server (free loopback ports;
# the stack of .env is not touched). Results in chaos/results/latest.json.
# CHAOS_ONLY=name,name runs some scenarios; extra arguments go to proving chaos.
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "$0")/env.sh"

command -v redis-server >/dev/null 2>&1 || apt_install redis-server
args=(--bin bin --out chaos/results)
[[ -n "${CHAOS_ONLY:-}" ]] && args+=(--only "$CHAOS_ONLY")
exec bin/proving chaos "${args[@]}" "$@"
