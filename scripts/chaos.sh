#!/usr/bin/env bash
# Runs `proving chaos`: the fault-injection matrix against the built services
# and the harness's own PostgreSQL, Redis and nats-server (free loopback ports;
# the stack of .env is not touched). Results in chaos/results/latest.json,
# which keeps the newest result of every scenario of both matrices.
#   scripts/chaos.sh             the single-machine matrix (make chaos)
#   scripts/chaos.sh --cluster   the cluster matrix (make chaos-cluster): each
#                                scenario on a cluster of its own, with HAProxy
# CHAOS_ONLY=name,name runs some scenarios; extra arguments go to proving chaos.
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "$0")/env.sh"

command -v redis-server >/dev/null 2>&1 || apt_install redis-server
if [[ " $* " == *" --cluster "* ]] && ! command -v haproxy >/dev/null 2>&1; then
	apt_install_tool haproxy
fi
args=(--bin bin --out chaos/results)
[[ -n "${CHAOS_ONLY:-}" ]] && args+=(--only "$CHAOS_ONLY")
exec bin/proving chaos "${args[@]}" "$@"
