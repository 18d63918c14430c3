#!/usr/bin/env bash
# A whole cluster on this machine, beside `make up` (its own ports, data and
# logs under .run/cluster; build first: make build):
#   three nats-servers clustered on loopback (JetStream, sync_interval:
#     always; the services make the stream with STREAM_REPLICAS=3),
#   PostgreSQL: a primary and a streaming hot standby (pg_basebackup) with
#     synchronous replication, made with the Debian server binaries,
#   Redis, two edges behind HAProxy (health-checked on /readyz) on
#     CLUSTER_EDGE_ADDR, two raw-archivers and two metric-writers.
#
#   scripts/cluster.sh up        start what is not running (make cluster-up)
#   scripts/cluster.sh down      stop everything, keep the data (make cluster-down)
#   scripts/cluster.sh status    what runs, which PostgreSQL is the primary, the stream's leader
#   scripts/cluster.sh promote   make the standby the primary (after the primary died)
#
# .run/cluster.env holds the cluster's settings: ENV_FILE=.run/cluster.env
# bin/healthctl ... works on it. Configuration files: deploy/cluster/.
# NATS (clients and routes) and Redis require a password, made at the first
# up and kept in .run/cluster/nats.password and redis.password.
# Ports: CLUSTER_PORT_BASE (7400) + 1..3 NATS clients, + 11..13 NATS routes,
# + 21..23 NATS monitoring, + 31/32 PostgreSQL, + 41 Redis, + 51/52 edges,
# + 61/62 edges' admin listeners, + 71/72 raw-archivers, + 81/82 metric-writers.
# CLUSTER_DIR (.run/cluster, an absolute path) holds the data, pids and logs,
# and CLUSTER_DIR.env the settings: with CLUSTER_PORT_BASE and
# CLUSTER_EDGE_ADDR, a second cluster beside the first (the test of this script).
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "$0")/env.sh"

: "${CLUSTER_EDGE_ADDR:=127.0.0.1:8090}"
: "${CLUSTER_PORT_BASE:=7400}"
B="$CLUSTER_PORT_BASE"
CL="${CLUSTER_DIR:-$HX_RUN/cluster}"
[[ "$CL" == /* ]] || die "CLUSTER_DIR must be an absolute path: $CL"
CL="${CL%/}"
ENV_OUT="$CL.env"
rel() { printf '%s' "${1#"$HX_ROOT"/}"; } # a path as the messages show it
NATS_BIN="$HX_RUN/bin/nats-server"
DB_USER=health
DB_PASSWORD=health
DB_NAME=health
NATS_USER=health
NATS_PASSWORD="" # secrets
REDIS_PASSWORD=""
DEMO_EMAIL=demo@localhost
WAIT=60

NATS_NODES=(nats-1 nats-2 nats-3)
PG_NODES=(postgres-1 postgres-2)
SERVICES=(raw-archiver-1 raw-archiver-2 metric-writer-1 metric-writer-2 edge-1 edge-2) # start order

nats_port() { echo $((B + ${1#nats-})); }
nats_route_port() { echo $((B + 10 + ${1#nats-})); }
nats_monitor_port() { echo $((B + 20 + ${1#nats-})); }
pg_port() { echo $((B + 30 + ${1#postgres-})); }
app_name() { printf '%s' "${1//-/_}"; } # a standby's name for synchronous_standby_names
other_pg() { if [[ "$1" == postgres-1 ]]; then echo postgres-2; else echo postgres-1; fi; }
REDIS_PORT=$((B + 41))
edge_port() { echo $((B + 50 + ${1#edge-})); }
edge_admin_port() { echo $((B + 60 + ${1#edge-})); }
svc_metrics_port() { # raw-archiver-N, metric-writer-N
	case "$1" in
	raw-archiver-*) echo $((B + 70 + ${1#raw-archiver-})) ;;
	metric-writer-*) echo $((B + 80 + ${1#metric-writer-})) ;;
	esac
}
binary_of() { printf '%s' "${1%-[0-9]}"; }

lb_host="$(addr_host "$CLUSTER_EDGE_ADDR")"
lb_port="$(url_port "tcp://$CLUSTER_EDGE_ADDR" 8090)"

# PostgreSQL will not run as root: as root, its programs run as postgres.
AS_PG=()
[[ "$(id -u)" != 0 ]] || AS_PG=(runuser -u postgres --)
as_postgres() { (cd / && "${AS_PG[@]}" "$@"); }

pg_bin() {
	local v
	v="$(pg_server_version)" || die "no PostgreSQL server installed (make deps installs it)"
	printf '/usr/lib/postgresql/%s/bin' "$v"
}

# in_recovery NODE -> t (standby) or f (primary); fails when it does not answer
in_recovery() {
	psql -X -A -t -q -h "$CL/$1" -p "$(pg_port "$1")" -U postgres -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null
}

pg_running() { pg_ready "$CL/$1" "$(pg_port "$1")"; }

# secret FILE: the password kept in FILE, made (letters and digits, which
# nats.conf's variables read as a string) when it is missing
secret() {
	if [[ ! -s "$1" ]]; then
		(
			umask 077
			printf 'hx%s\n' "$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')" >"$1"
		)
	fi
	tr -d '[:space:]' <"$1"
}

write_env() {
	local p1 p2 u="$DB_USER:$DB_PASSWORD"
	p1="$(pg_port postgres-1)"
	p2="$(pg_port postgres-2)"
	(
		umask 077
		cat >"$ENV_OUT" <<EOF
# Written by scripts/cluster.sh up: the settings of the cluster on this machine.
#   ENV_FILE=$(rel "$ENV_OUT") bin/healthctl lag
DATABASE_URL='postgres://$u@127.0.0.1:$p1,127.0.0.1:$p2/$DB_NAME?sslmode=disable&target_session_attrs=read-write'
READ_DATABASE_URL='postgres://$u@127.0.0.1:$p2,127.0.0.1:$p1/$DB_NAME?sslmode=disable&target_session_attrs=prefer-standby'
NATS_URL='nats://127.0.0.1:$(nats_port nats-1),nats://127.0.0.1:$(nats_port nats-2),nats://127.0.0.1:$(nats_port nats-3)'
NATS_USER='$NATS_USER'
NATS_PASSWORD='$NATS_PASSWORD'
REDIS_URL='redis://127.0.0.1:$REDIS_PORT/0'
REDIS_PASSWORD='$REDIS_PASSWORD'
STREAM_REPLICAS=3
EDGE_PROXY_HEADER=X-Forwarded-For
EDGE_TRUSTED_PROXIES=127.0.0.1/32
EOF
	)
}

# ---- NATS ---------------------------------------------------------------------

start_nats() { # NODE
	local n="$1" others=() o pid
	for o in "${NATS_NODES[@]}"; do
		[[ "$o" == "$n" ]] || others+=("nats-route://$NATS_USER:$NATS_PASSWORD@127.0.0.1:$(nats_route_port "$o")")
	done
	mkdir -p "$CL/$n"
	NATS_NAME="health-$n" NATS_LISTEN="127.0.0.1:$(nats_port "$n")" NATS_MONITOR="127.0.0.1:$(nats_monitor_port "$n")" \
		NATS_STORE="$CL/$n/store" NATS_CLUSTER_LISTEN="127.0.0.1:$(nats_route_port "$n")" \
		NATS_CLUSTER_ADVERTISE="127.0.0.1:$(nats_route_port "$n")" \
		NATS_ROUTE_1="${others[0]}" NATS_ROUTE_2="${others[1]}" NATS_USER="$NATS_USER" NATS_PASSWORD="$NATS_PASSWORD" \
		GOMEMLIMIT="${NATS_GOMEMLIMIT:-384MiB}" \
		setsid nohup "$NATS_BIN" -c "$HX_ROOT/deploy/cluster/nats.conf" >>"$CL/logs/$n.log" 2>&1 </dev/null &
	pid=$!
	printf '%s\n' "$pid" >"$CL/$n.pid"
	log "cluster: started $n (pid $pid, clients 127.0.0.1:$(nats_port "$n"))"
}

# ---- PostgreSQL ---------------------------------------------------------------

pg_start() { # NODE [SYNCHRONOUS_STANDBY]
	local n="$1" sync="${2:-}" opts
	opts="-p $(pg_port "$n") -k $CL/$n -c listen_addresses=127.0.0.1 -c max_connections=200 -c hot_standby=on"
	[[ -n "$sync" ]] && opts+=" -c synchronous_standby_names=$(app_name "$sync")"
	(cd / && quiet setsid -w "${AS_PG[@]}" "$(pg_bin)/pg_ctl" -D "$CL/$n/data" -l "$CL/$n/postgres.log" -o "$opts" -w -t "$WAIT" start) ||
		die "$n did not start (log: $CL/$n/postgres.log)"
}

pg_stop() { # NODE
	quiet as_postgres "$(pg_bin)/pg_ctl" -D "$CL/$1/data" -m fast -w -t "$WAIT" stop || true
}

pg_dir() { # NODE: its directory, the postgres user's when we are root
	mkdir -p "$CL/$1"
	if [[ "$(id -u)" == 0 ]]; then
		chown postgres: "$CL/$1"
		chmod 700 "$CL/$1"
	fi
}

pg_psql() { # NODE SQL...: as the superuser over the node's socket
	local n="$1"
	shift
	psql -X -q -v ON_ERROR_STOP=1 -h "$CL/$n" -p "$(pg_port "$n")" -U postgres -d postgres "$@"
}

# pg_init: the primary (postgres-1) with the database, then its standby
# (postgres-2) from a base backup.
pg_init() {
	local bin
	bin="$(pg_bin)"
	[[ "$(id -u)" != 0 ]] || chmod o+x "$(dirname "$CL")" "$CL" # the postgres user reaches its directories
	pg_dir postgres-1
	quiet as_postgres "$bin/initdb" -D "$CL/postgres-1/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
		-E UTF8 --locale=C || die "initdb failed"
	pg_start postgres-1
	pg_psql postgres-1 -v role="$DB_USER" -v pw="$DB_PASSWORD" -v db="$DB_NAME" <<'SQL' >/dev/null
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I TEMPLATE template0 ENCODING %L LC_COLLATE %L LC_CTYPE %L',
              :'db', :'role', 'UTF8', 'C', 'C') \gexec
SQL
	pg_make_standby postgres-2 postgres-1
	# Now that there is a standby, COMMITs on the primary wait for it.
	pg_stop postgres-1
}

pg_make_standby() { # NODE PRIMARY
	local n="$1" p="$2"
	pg_dir "$n"
	quiet as_postgres "$(pg_bin)/pg_basebackup" -D "$CL/$n/data" -X stream -c fast \
		-d "host=$CL/$p port=$(pg_port "$p") user=postgres" || die "pg_basebackup of $p failed"
	as_postgres touch "$CL/$n/data/standby.signal"
	printf "primary_conninfo = 'host=%s port=%s user=postgres application_name=%s'\n" "$CL/$p" "$(pg_port "$p")" "$(app_name "$n")" |
		as_postgres tee -a "$CL/$n/data/postgresql.auto.conf" >/dev/null
	log "cluster: $n is a standby of $p (pg_basebackup)"
}

ensure_postgres_pair() {
	local n o primary="" standby=""
	[[ -d "$CL/postgres-1/data" ]] || pg_init
	for n in "${PG_NODES[@]}"; do
		if [[ -f "$CL/$n/data/standby.signal" ]]; then standby="$n"; else primary="${primary:+$primary }$n"; fi
	done
	if [[ "$primary" == *" "* ]]; then
		# Both were a primary: the one promoted last is, the other is stale.
		die "postgres-1 and postgres-2 both hold a primary's data (a failover happened): stop the cluster, remove the stale one's directory ($(rel "$CL")/postgres-N) and run this again to make it a standby of the other"
	fi
	[[ -n "$primary" ]] || die "postgres: neither node is a primary"
	if [[ -z "$standby" ]]; then
		standby="$(other_pg "$primary")"
		if [[ ! -d "$CL/$standby/data" ]]; then
			pg_running "$primary" || pg_start "$primary"
			pg_make_standby "$standby" "$primary"
			pg_stop "$primary" # restarted below with its synchronous standby
		fi
	fi
	if ! pg_running "$primary"; then
		pg_start "$primary" "$standby"
		log "cluster: started $primary, the primary (127.0.0.1:$(pg_port "$primary"), synchronous standby $standby)"
	fi
	if ! pg_running "$standby"; then
		pg_start "$standby"
		log "cluster: started $standby, a hot standby (127.0.0.1:$(pg_port "$standby"))"
	fi
}

# ---- the rest ----------------------------------------------------------------

start_redis() {
	# the password in a file of its own rather than on the command line,
	# which every local user can read
	(
		umask 077
		printf 'requirepass %s\n' "$REDIS_PASSWORD" >"$CL/redis.conf"
	)
	quiet redis-server "$CL/redis.conf" --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --dir "$CL" \
		--pidfile "$CL/redis.pid" --logfile "$CL/logs/redis.log" --save '' --appendonly no ||
		die "redis-server failed to start"
	wait_for "$WAIT" redis_ping 127.0.0.1 "$REDIS_PORT" || die "redis: no PONG on $REDIS_PORT"
	log "cluster: started redis (127.0.0.1:$REDIS_PORT)"
}

# with_cluster_env [NAME=VALUE...] COMMAND...: only the cluster's settings,
# none of .env's (make up's, which env.sh exported and which would win)
with_cluster_env() { env -i PATH="$PATH" HOME="${HOME:-/root}" ENV_FILE="$ENV_OUT" "$@"; }

start_service() { # NAME
	local n="$1" bin addr=() pid
	bin="$(binary_of "$n")"
	case "$bin" in
	edge) addr=("EDGE_ADDR=127.0.0.1:$(edge_port "$n")" "EDGE_ADMIN_ADDR=127.0.0.1:$(edge_admin_port "$n")") ;;
	raw-archiver) addr=("ARCHIVER_METRICS_ADDR=127.0.0.1:$(svc_metrics_port "$n")") ;;
	metric-writer) addr=("WRITER_METRICS_ADDR=127.0.0.1:$(svc_metrics_port "$n")") ;;
	esac
	# env execs setsid execs nohup execs the service: $! is the service's pid
	# (a shell function here would leave $! a subshell's).
	env -i PATH="$PATH" HOME="${HOME:-/root}" ENV_FILE="$ENV_OUT" "${addr[@]}" \
		setsid nohup "bin/$bin" >>"$CL/logs/$n.log" 2>&1 </dev/null &
	pid=$!
	printf '%s\n' "$pid" >"$CL/$n.pid"
	log "cluster: started $n (pid $pid)"
}

ready_url() { # NAME
	case "$(binary_of "$1")" in
	edge) printf '127.0.0.1 %s' "$(edge_admin_port "$1")" ;;
	*) printf '127.0.0.1 %s' "$(svc_metrics_port "$1")" ;;
	esac
}

service_ready() { # NAME
	local hp
	hp="$(ready_url "$1")"
	[[ "$(http_status "${hp% *}" "${hp#* }" /readyz)" == 200 ]]
}

service_alive() { pidfile_alive "$CL/$1.pid" "bin/$(binary_of "$1")" >/dev/null; }

# supervise NAME: wait until the service is ready, starting it again when it
# exits meanwhile. A service gives up at start when the stream or a consumer
# has no leader within its request timeout, as happens while a restarted
# NATS cluster elects the leaders of its streams and consumers one by one.
supervise() {
	local n="$1" deadline=$((SECONDS + WAIT))
	until service_ready "$n"; do
		((SECONDS < deadline)) || return 1
		if ! service_alive "$n"; then
			log "cluster: $n exited before it was ready ($(tail -n 1 "$CL/logs/$n.log" | grep -o '"err":"[^"]*"' || true)); starting it again"
			sleep 1
			start_service "$n"
		fi
		sleep 0.25
	done
}

start_lb() {
	local pid
	LB_BIND="$CLUSTER_EDGE_ADDR" EDGE_1="127.0.0.1:$(edge_port edge-1)" EDGE_2="127.0.0.1:$(edge_port edge-2)" \
		haproxy -c -q -f "$HX_ROOT/deploy/cluster/haproxy.cfg" || die "HAProxy refuses deploy/cluster/haproxy.cfg"
	LB_BIND="$CLUSTER_EDGE_ADDR" EDGE_1="127.0.0.1:$(edge_port edge-1)" EDGE_2="127.0.0.1:$(edge_port edge-2)" \
		setsid nohup haproxy -db -f "$HX_ROOT/deploy/cluster/haproxy.cfg" >>"$CL/logs/haproxy.log" 2>&1 </dev/null &
	pid=$!
	printf '%s\n' "$pid" >"$CL/haproxy.pid"
	log "cluster: started HAProxy on $CLUSTER_EDGE_ADDR (pid $pid)"
}

# ---- commands ------------------------------------------------------------------

cmd_up() {
	local n svc t0=$SECONDS key
	[[ -x "$NATS_BIN" ]] || die "$NATS_BIN is missing: make deps builds it"
	for b in healthctl edge raw-archiver metric-writer; do [[ -x "bin/$b" ]] || die "bin/$b is missing: make build"; done
	command -v redis-server >/dev/null 2>&1 || apt_install redis-server
	command -v haproxy >/dev/null 2>&1 || apt_install_tool haproxy
	mkdir -p "$CL/logs"
	NATS_PASSWORD="$(secret "$CL/nats.password")"
	REDIS_PASSWORD="$(secret "$CL/redis.password")"
	write_env

	for n in "${NATS_NODES[@]}"; do
		pidfile_alive "$CL/$n.pid" nats-server >/dev/null || start_nats "$n"
	done
	ensure_postgres_pair
	redis_ping 127.0.0.1 "$REDIS_PORT" || start_redis
	for n in "${NATS_NODES[@]}"; do
		wait_for "$WAIT" tcp_open 127.0.0.1 "$(nats_port "$n")" || die "$n does not answer (log: $CL/logs/$n.log)"
	done
	# JetStream needs its meta leader before the services can make the stream.
	wait_for "$WAIT" jetstream_ready || die "the NATS cluster elected no JetStream leader within ${WAIT}s"

	for svc in "${SERVICES[@]}"; do
		service_alive "$svc" || start_service "$svc"
		# The first of each makes the database's tables and the stream's
		# consumers; the second finds them.
		if [[ "$svc" == *-1 ]]; then
			supervise "$svc" || die "$svc not ready (log: $CL/logs/$svc.log)"
		fi
	done
	for svc in "${SERVICES[@]}"; do
		supervise "$svc" || die "$svc not ready (log: $CL/logs/$svc.log)"
	done
	pidfile_alive "$CL/haproxy.pid" haproxy >/dev/null || start_lb
	wait_for "$WAIT" lb_ready || die "HAProxy on $CLUSTER_EDGE_ADDR does not reach the edges (log: $CL/logs/haproxy.log)"

	with_cluster_env bin/healthctl users create --email "$DEMO_EMAIL" >/dev/null 2>>"$CL/logs/healthctl.log" ||
		die "healthctl users create failed (log: $CL/logs/healthctl.log)"
	key="$(with_cluster_env bin/healthctl keys create --email "$DEMO_EMAIL" --name cluster --scopes read,ingest 2>>"$CL/logs/healthctl.log" | tr -d '[:space:]')"
	[[ -n "$key" ]] || die "healthctl keys create printed no key (log: $CL/logs/healthctl.log)"
	cat <<EOF

The cluster is up in $((SECONDS - t0)) s: http://$CLUSTER_EDGE_ADDR (HAProxy -> edge-1, edge-2)
API key ($DEMO_EMAIL, read and ingest): $key

curl -sS -X POST http://$CLUSTER_EDGE_ADDR/v1/ingest -H 'Authorization: Bearer $key' -H 'Content-Type: application/json' -d '{"data":{"metrics":[{"name":"heart_rate","units":"count/min","data":[{"date":"$(date -u '+%Y-%m-%d %H:%M:%S +0000')","Avg":70,"source":"curl"}]}]}}'
ENV_FILE=$(rel "$ENV_OUT") bin/healthctl lag
scripts/cluster.sh status

Logs in $(rel "$CL")/logs; make cluster-down stops it (the data stays in $(rel "$CL")).
EOF
}

# jetstream_ready: every node's /healthz is 200, which needs a JetStream
# meta leader
jetstream_ready() {
	local n
	for n in "${NATS_NODES[@]}"; do
		[[ "$(http_status 127.0.0.1 "$(nats_monitor_port "$n")" /healthz)" == 200 ]] || return 1
	done
}

lb_ready() { [[ "$(http_status "$lb_host" "$lb_port" /readyz)" == 200 ]]; }

cmd_down() {
	local n pid pids names
	for group in "edge-1 edge-2 haproxy" "raw-archiver-1 raw-archiver-2 metric-writer-1 metric-writer-2" "nats-1 nats-2 nats-3 redis"; do
		pids=() names=()
		for n in $group; do
			case "$n" in
			nats-*) pid="$(pidfile_alive "$CL/$n.pid" nats-server)" || pid="" ;;
			redis) pid="$(pidfile_alive "$CL/redis.pid" redis-server)" || pid="" ;;
			haproxy) pid="$(pidfile_alive "$CL/haproxy.pid" haproxy)" || pid="" ;;
			*) pid="$(pidfile_alive "$CL/$n.pid" "bin/$(binary_of "$n")")" || pid="" ;;
			esac
			rm -f "$CL/$n.pid"
			[[ -n "$pid" ]] || continue
			pids+=("$pid")
			names+=("$n")
		done
		((${#pids[@]})) || continue
		stop_pids 40 "${pids[@]}"
		log "cluster: stopped ${names[*]}"
	done
	for n in "${PG_NODES[@]}"; do
		if [[ -d "$CL/$n/data" ]] && pg_running "$n"; then
			pg_stop "$n"
			log "cluster: stopped $n"
		fi
	done
	log "cluster: down (data kept in $(rel "$CL"); rm -rf $(rel "$CL") starts afresh)"
}

cmd_status() {
	local n pid role leader
	for n in "${NATS_NODES[@]}" redis haproxy "${SERVICES[@]}"; do
		case "$n" in
		nats-*) pid="$(pidfile_alive "$CL/$n.pid" nats-server)" || pid="" ;;
		redis) pid="$(pidfile_alive "$CL/redis.pid" redis-server)" || pid="" ;;
		haproxy) pid="$(pidfile_alive "$CL/haproxy.pid" haproxy)" || pid="" ;;
		*) pid="$(pidfile_alive "$CL/$n.pid" "bin/$(binary_of "$n")")" || pid="" ;;
		esac
		if [[ -n "$pid" ]]; then printf '%-16s running (pid %s)\n' "$n" "$pid"; else printf '%-16s down\n' "$n"; fi
	done
	for n in "${PG_NODES[@]}"; do
		case "$(in_recovery "$n" || true)" in
		t) role="running, hot standby" ;;
		f) role="running, primary" ;;
		*) role="down" ;;
		esac
		printf '%-16s %s (127.0.0.1:%s)\n' "$n" "$role" "$(pg_port "$n")"
	done
	for n in "${NATS_NODES[@]}"; do
		leader="$(curl -fsS -m 2 "http://127.0.0.1:$(nats_monitor_port "$n")/jsz?streams=true" 2>/dev/null |
			tr -d ' \n' | grep -oE '"name":"HEALTH"[^}]*"cluster":\{[^}]*"leader":"[^"]+"' | grep -oE '"leader":"[^"]+"' | head -n 1)" || true
		if [[ -n "$leader" ]]; then
			printf 'stream HEALTH    leader %s\n' "$(printf '%s' "$leader" | cut -d'"' -f4)"
			break
		fi
	done
}

cmd_promote() {
	local n
	for n in "${PG_NODES[@]}"; do
		if [[ "$(in_recovery "$n" || true)" == t ]]; then
			quiet as_postgres "$(pg_bin)/pg_ctl" -D "$CL/$n/data" -w promote || die "promoting $n failed"
			log "cluster: $n promoted: it is the primary now (the services find it by DATABASE_URL's target_session_attrs=read-write)"
			return 0
		fi
	done
	die "no running standby to promote"
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
promote) cmd_promote ;;
*) die "usage: $0 up|down|status|promote" ;;
esac
