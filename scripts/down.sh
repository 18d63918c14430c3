#!/usr/bin/env bash
# Stops what `make up`/`make run` and scripts/deps.sh started: first the three
# services (pid files .run/<service>.pid; SIGTERM, 15 s, then SIGKILL), then the
# dependencies listed in .run/started. Dependencies this repo did not start
# (already running before) are left alone.
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "$0")/env.sh"

SERVICES=(edge raw-archiver metric-writer)
STARTED_FILE="$HX_RUN/started"

# ---- services ---------------------------------------------------------------
pids=()
names=()
for svc in "${SERVICES[@]}"; do
	pidfile="$HX_RUN/$svc.pid"
	if pid="$(pidfile_alive "$pidfile" "$svc")"; then
		pids+=("$pid")
		names+=("$svc")
	else
		rm -f "$pidfile"
	fi
done
if ((${#pids[@]})); then
	stop_pids 15 "${pids[@]}"
	for svc in "${names[@]}"; do rm -f "$HX_RUN/$svc.pid"; done
	log "down: stopped ${names[*]}"
else
	log "down: no service running"
fi

# ---- dependencies -----------------------------------------------------------
[[ -s "$STARTED_FILE" ]] || {
	log "down: no dependency started by scripts/deps.sh"
	exit 0
}

unstarted() { # remove NAME from .run/started
	local tmp
	tmp="$(mktemp)"
	grep -vxF "$1" "$STARTED_FILE" >"$tmp" || true
	cat "$tmp" >"$STARTED_FILE"
	rm -f "$tmp"
}

stop_by_pidfile() { # NAME PIDFILE PROCESS
	local pid
	if pid="$(pidfile_alive "$2" "$3")"; then
		stop_pids 15 "$pid"
		log "down: stopped $1 (pid $pid)"
	else
		log "down: $1 was not running"
	fi
	rm -f "$2"
}

failed=0
mapfile -t deps < <(tac "$STARTED_FILE")
for dep in "${deps[@]}"; do
	case "$dep" in
	nats) stop_by_pidfile nats "$HX_RUN/nats/nats.pid" nats-server ;;
	redis) stop_by_pidfile redis "$HX_RUN/redis/redis.pid" redis-server ;;
	postgres)
		if [[ -f "$HX_RUN/postgres.cluster" ]]; then
			read -r ver name <"$HX_RUN/postgres.cluster"
		else
			ver="" name=""
		fi
		if [[ -z "${ver:-}" || -z "${name:-}" ]]; then
			log "down: postgres: .run/postgres.cluster is missing, leaving PostgreSQL alone"
		elif ! pg_lsclusters -h "$ver" "$name" 2>/dev/null | grep -q ' online'; then
			log "down: postgres $ver/$name was not running"
		elif quiet pg_ctlcluster "$ver" "$name" stop; then
			log "down: stopped postgres $ver/$name"
		else
			log "down: pg_ctlcluster $ver $name stop failed"
			failed=1
			continue
		fi
		rm -f "$HX_RUN/postgres.cluster"
		;;
	"") ;;
	*) log "down: unknown entry '$dep' in .run/started, dropped" ;;
	esac
	unstarted "$dep"
done
[[ -s "$STARTED_FILE" ]] || rm -f "$STARTED_FILE"
exit "$failed"
