#!/usr/bin/env bash
# Runs the stack from bin/ (build first: make build; dependencies: scripts/deps.sh).
#   scripts/run.sh           foreground (make run): logs to this terminal,
#                            Ctrl-C or SIGTERM stops the three services
#   scripts/run.sh --detach  background (make up): logs in .run/logs/<service>.log,
#                            pids in .run/<service>.pid; make down stops them
# Before starting: healthctl migrate up, a demo user and a fresh API key; once the
# edge's /readyz answers 200 it prints the key, a curl line and a psql line.
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "$0")/env.sh"

DEMO_EMAIL="demo@localhost"
KEY_NAME="make-run"
SERVICES=(raw-archiver metric-writer edge) # start order
READY_WAIT=30
STOP_WAIT=15
KEY_FILE="$HX_RUN/api-key"

detach=0
case "${1:-}" in
"") ;;
--detach | -d) detach=1 ;;
*) die "usage: $0 [--detach]" ;;
esac

for b in healthctl "${SERVICES[@]}"; do
	[[ -x "bin/$b" ]] || die "bin/$b is missing: run make build"
done
mkdir -p "$HX_RUN/logs"

edge_host="$(addr_host "$EDGE_ADDR")"
edge_port="$(url_port "tcp://$EDGE_ADDR" 8080)"
edge_url="http://$(hostport "$edge_host" "$edge_port")"

print_banner() { # KEY
	local now body
	now="$(date -u '+%Y-%m-%d %H:%M:%S +0000')"
	body="{\"data\":{\"metrics\":[{\"name\":\"heart_rate\",\"units\":\"count/min\",\"data\":[{\"date\":\"$now\",\"Min\":60,\"Avg\":70,\"Max\":80,\"source\":\"curl\"}]}]}}"
	cat <<EOF

Health Export is up: $edge_url
API key ($DEMO_EMAIL): $1

Send one heart-rate point:
curl -sS -X POST $(shell_quote "$edge_url/v1/ingest") -H $(shell_quote "Authorization: Bearer $1") -H 'Content-Type: application/json' -d $(shell_quote "$body")

See it, and a month of demo data, in the web page: open $edge_url/ and paste the key.

See it in PostgreSQL:
psql $(shell_quote "$DATABASE_URL") -c 'select * from heart_rate_metrics order by recorded_at desc limit 5'

EOF
}

running=() # services alive according to their pid files
for svc in "${SERVICES[@]}"; do
	if pidfile_alive "$HX_RUN/$svc.pid" "$svc" >/dev/null; then running+=("$svc"); fi
done

if ((${#running[@]})); then
	if ((!detach)); then
		die "already running in the background: ${running[*]} (make down first)"
	fi
	if ((${#running[@]} == ${#SERVICES[@]})); then
		log "up: already up (${running[*]}); logs in .run/logs, make down stops them"
		if [[ -s "$KEY_FILE" ]]; then
			print_banner "$(cat "$KEY_FILE")"
			exit 0
		fi
	fi
fi

# ---- database, demo user, API key ---------------------------------------------
log "run: migrate up"
bin/healthctl migrate up >&2 || die "healthctl migrate up failed"
user_id="$(bin/healthctl users create --email "$DEMO_EMAIL")" || die "healthctl users create failed"
user_id="$(printf '%s' "$user_id" | tr -d '[:space:]')"
log "run: user $DEMO_EMAIL is $user_id"
# A fresh demo key each run, replacing the last one (a user holds at most
# KEYS_MAX_PER_USER keys); it may do everything README shows.
api_key="$(bin/healthctl keys create --email "$DEMO_EMAIL" --name "$KEY_NAME" --scopes ingest,read,keys --replace)" || die "healthctl keys create failed"
api_key="$(printf '%s' "$api_key" | tr -d '[:space:]')"
[[ -n "$api_key" ]] || die "healthctl keys create printed no key"
(
	umask 077
	printf '%s\n' "$api_key" >"$KEY_FILE"
)

if ((${#running[@]} == ${#SERVICES[@]})); then # detached, all up, no saved key
	print_banner "$api_key"
	exit 0
fi

# ---- services -------------------------------------------------------------------
declare -A pid_of=()
started=()
ready=0

# shellcheck disable=SC2317 # called from the EXIT trap
stop_started() {
	local svc pids=()
	for svc in "${started[@]}"; do
		pid_alive "${pid_of[$svc]}" && pids+=("${pid_of[$svc]}")
	done
	if ((${#pids[@]})); then
		log "run: stopping ${started[*]}"
		stop_pids "$STOP_WAIT" "${pids[@]}"
	fi
	for svc in "${started[@]}"; do rm -f "$HX_RUN/$svc.pid"; done
	started=()
}

# shellcheck disable=SC2317 # the EXIT trap
on_exit() {
	# foreground: always stop; background: only when we failed before ready
	if ((!detach || !ready)); then stop_started; fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for svc in "${SERVICES[@]}"; do
	if pidfile_alive "$HX_RUN/$svc.pid" "$svc" >/dev/null; then continue; fi
	if ((detach)); then
		# setsid: own session, so nothing from this terminal reaches it later
		setsid nohup "bin/$svc" >>"$HX_RUN/logs/$svc.log" 2>&1 </dev/null &
	else
		"bin/$svc" </dev/null &
	fi
	pid_of[$svc]=$!
	started+=("$svc")
	printf '%s\n' "${pid_of[$svc]}" >"$HX_RUN/$svc.pid"
	log "run: started $svc (pid ${pid_of[$svc]})"
done

# ---- wait for /readyz -----------------------------------------------------------
deadline=$((SECONDS + READY_WAIT))
status=000
while :; do
	status="$(http_status "$edge_host" "$edge_port" /readyz)"
	[[ "$status" == 200 ]] && break
	for svc in "${started[@]}"; do
		if ! pid_alive "${pid_of[$svc]}"; then
			((detach)) && tail -n 20 "$HX_RUN/logs/$svc.log" >&2
			die "$svc exited during start-up"
		fi
	done
	((SECONDS < deadline)) || die "edge not ready: $edge_url/readyz answered $status for ${READY_WAIT}s"
	sleep 0.5
done
ready=1

# A month of synthetic data for the demo user, the first time only (the web
# page has something to show); a user with uploads is left alone.
if ! bin/healthctl demo --email "$DEMO_EMAIL" --days 30 >/dev/null 2>"$HX_RUN/demo.log"; then
	log "run: demo data not loaded (see $HX_RUN/demo.log); the services run anyway"
fi

print_banner "$api_key"
if ((detach)); then
	log "up: logs in .run/logs/<service>.log; make down stops everything"
	exit 0
fi
log "run: Ctrl-C stops the services (dependencies keep running; make down stops them)"

# ---- foreground: wait until a service exits or we are told to stop --------------
rc=0
exited=""
wait -n -p exited "${pid_of[@]}" || rc=$?
for svc in "${!pid_of[@]}"; do
	[[ "${pid_of[$svc]}" == "$exited" ]] && exited="$svc"
done
log "run: $exited exited (status $rc), stopping the others"
exit 1
