#!/usr/bin/env bash
# Makes sure PostgreSQL, Redis and NATS (JetStream) answer at the URLs in .env.
# A dependency that already answers is used as is. A missing local one is
# installed (apt-get, as root) or built (nats-server, into .run/bin) and
# started; what this script started is listed in .run/started for `make down`.
# Idempotent: run it as often as you like. One line per dependency on stderr.
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "$0")/env.sh"

NATS_SERVER_VERSION=v2.15.2 # what we build
NATS_SERVER_MIN=v2.12.3     # oldest binary in .run/bin we keep using
NATS_MONITOR_ADDR=127.0.0.1:8222
PG_WAIT=30
REDIS_WAIT=20
NATS_WAIT=20

mkdir -p "$HX_RUN"
exec 9>"$HX_RUN/deps.lock"
flock -w 600 9 || die "another scripts/deps.sh is still running (lock $HX_RUN/deps.lock)"

STARTED_FILE="$HX_RUN/started"
mark_started() {
	touch "$STARTED_FILE"
	grep -qxF "$1" "$STARTED_FILE" || printf '%s\n' "$1" >>"$STARTED_FILE"
}

is_root() { [[ "$(id -u)" == 0 ]]; }

# ---- PostgreSQL ---------------------------------------------------------------

# pg_url_ok URL: we can log in to the URL's database
pg_url_ok() {
	PGCONNECT_TIMEOUT=5 psql "$1" -X -A -t -q -c 'select 1' >/dev/null 2>&1
}

# pg_as_postgres PORT ARGS...: psql as the postgres OS user over the unix socket
pg_as_postgres() {
	local port="$1"
	shift
	(cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres "$@")
}

# pg_ensure_role_db URL: role (LOGIN CREATEDB, password set every time) and
# database (UTF8, C collation, from template0) named in URL
pg_ensure_role_db() {
	local url="$1" user pw db port
	user="$(url_user "$url")"
	pw="$(url_password "$url")"
	db="$(url_path "$url")"
	port="$(url_port "$url" 5432)"
	[[ -n "$user" && -n "$db" ]] || die "postgres: $url must name a user and a database"
	pg_as_postgres "$port" -v role="$user" -v pw="$pw" -v db="$db" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEDB', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT :'pw' <> '' AS has_pw \gset
\if :has_pw
SELECT format('ALTER ROLE %I WITH LOGIN CREATEDB PASSWORD %L', :'role', :'pw') \gexec
\else
SELECT format('ALTER ROLE %I WITH LOGIN CREATEDB', :'role') \gexec
\endif
SELECT format('CREATE DATABASE %I OWNER %I TEMPLATE template0 ENCODING %L LC_COLLATE %L LC_CTYPE %L',
              :'db', :'role', 'UTF8', 'C', 'C')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
}

# pg_start_cluster HOST PORT: start (creating if needed) the Debian cluster on PORT
pg_start_cluster() {
	local host="$1" port="$2" ver cver cname cport cstatus found="" fstatus="" other=""
	command -v pg_lsclusters >/dev/null 2>&1 || die "postgres: pg_lsclusters missing (apt-get install postgresql-common)"
	ver="$(pg_server_version)"
	while read -r cver cname cport cstatus _; do
		[[ -n "$cver" ]] || continue
		if [[ "$cport" == "$port" ]]; then
			found="$cver $cname"
			fstatus="$cstatus"
			break
		fi
		[[ "$cver" == "$ver" && "$cname" == main ]] && other="$cport"
	done < <(pg_lsclusters -h 2>/dev/null)

	if [[ -z "$found" ]]; then
		if [[ -n "$other" ]]; then
			die "postgres: cluster $ver/main uses port $other but DATABASE_URL wants $port and nothing listens there; set the port in DATABASE_URL/TEST_DATABASE_URL, or run: pg_conftool $ver main set port $port"
		fi
		quiet pg_createcluster --port "$port" --encoding UTF8 --locale C "$ver" main ||
			die "postgres: pg_createcluster $ver main failed"
		found="$ver main"
		fstatus=down
	fi
	read -r cver cname <<<"$found"

	if [[ "$fstatus" != online* ]]; then
		# setsid: a later Ctrl-C in this terminal must not reach the postmaster
		if ! quiet setsid -w pg_ctlcluster "$cver" "$cname" start; then
			tail -n 20 "/var/log/postgresql/postgresql-$cver-$cname.log" >&2 2>/dev/null || true
			die "postgres: pg_ctlcluster $cver $cname start failed"
		fi
		printf '%s %s\n' "$cver" "$cname" >"$HX_RUN/postgres.cluster"
		mark_started postgres
	fi
	if ! wait_for "$PG_WAIT" pg_ready "$host" "$port"; then
		tail -n 20 "/var/log/postgresql/postgresql-$cver-$cname.log" >&2 2>/dev/null || true
		die "postgres: cluster $cver/$cname not accepting connections on port $port after ${PG_WAIT}s"
	fi
	PG_STARTED="$cver/$cname"
}

ensure_postgres() {
	local host port where status url why=""
	host="$(url_host "$DATABASE_URL")"
	port="$(url_port "$DATABASE_URL" 5432)"
	where="$(hostport "${host:-localhost}" "$port")"
	PG_STARTED=""

	if pg_ready "$host" "$port"; then
		status="already running at $where"
	else
		is_local_host "$host" || die "postgres: nothing answers at $where (DATABASE_URL), and it is not a local address"
		status=""
		if ! pg_server_version >/dev/null; then
			apt_install postgresql postgresql-contrib
			status="installed; "
		fi
		if pg_ready "$host" "$port"; then
			status+="running (started by the package) at $where"
		else
			pg_start_cluster "$host" "$port"
			status+="started cluster $PG_STARTED at $where"
		fi
	fi

	if ! command -v psql >/dev/null 2>&1; then
		log "postgres: $status (no psql here: role and databases not checked)"
		return 0
	fi
	if pg_url_ok "$DATABASE_URL" && pg_url_ok "$TEST_DATABASE_URL"; then
		pg_ensure_grafana_reader "$host" "$port"
		log "postgres: $status"
		return 0
	fi

	# Create the role and databases: only for a local server, as root.
	is_local_host "$host" || why="the server is not local"
	is_root || why="not running as root"
	command -v runuser >/dev/null 2>&1 || why="runuser is missing"
	[[ -S "/var/run/postgresql/.s.PGSQL.$port" ]] || why="no local socket /var/run/postgresql/.s.PGSQL.$port"
	if [[ -n "$why" ]]; then
		die "postgres: cannot log in with DATABASE_URL/TEST_DATABASE_URL at $where, and cannot create the role and databases ($why)"
	fi
	for url in "$DATABASE_URL" "$TEST_DATABASE_URL"; do
		is_local_host "$(url_host "$url")" || die "postgres: $url is not local; create its role and database yourself"
		pg_ensure_role_db "$url" >/dev/null || die "postgres: creating the role/database of $url failed"
	done
	for url in "$DATABASE_URL" "$TEST_DATABASE_URL"; do
		if ! pg_url_ok "$url"; then
			PGCONNECT_TIMEOUT=5 psql "$url" -X -q -c 'select 1' >/dev/null || true
			die "postgres: role and databases exist but logging in with $url still fails (pg_hba.conf?)"
		fi
	done
	pg_ensure_grafana_reader "$host" "$port"
	log "postgres: $status; role $(url_user "$DATABASE_URL"), databases $(url_path "$DATABASE_URL") and $(url_path "$TEST_DATABASE_URL") ready"
}

# pg_ensure_grafana_reader HOST PORT: Grafana's read-only roles
# (deploy/postgres/grafana-reader.sql; the Grafana test logs in as one),
# made when missing and this is a local server we are root on.
pg_ensure_grafana_reader() {
	local host="$1" port="$2" url
	if [[ "$(PGCONNECT_TIMEOUT=5 psql "$DATABASE_URL" -X -A -t -q -c "SELECT count(*) FROM pg_roles WHERE rolname IN ('healthexport_read', 'healthexport_grafana')" 2>/dev/null)" == 2 ]]; then
		return 0
	fi
	if ! is_local_host "$host" || ! is_root || ! command -v runuser >/dev/null 2>&1; then
		log "postgres: Grafana's read-only roles are missing: run deploy/postgres/grafana-reader.sql as a superuser (docs/grafana.md)"
		return 0
	fi
	for url in "$DATABASE_URL" "$TEST_DATABASE_URL"; do
		pg_as_postgres "$port" -d "$(url_path "$url")" -f - <"$HX_ROOT/deploy/postgres/grafana-reader.sql" ||
			die "postgres: deploy/postgres/grafana-reader.sql failed"
	done
	log "postgres: Grafana's read-only roles healthexport_read and healthexport_grafana made"
}

# ---- Redis ------------------------------------------------------------------

ensure_redis() {
	local host port where bind dir pid status=""
	host="$(url_host "$REDIS_URL")"
	port="$(url_port "$REDIS_URL" 6379)"
	[[ -n "$host" ]] || host=127.0.0.1
	where="$(hostport "$host" "$port")"

	if redis_ping "$host" "$port"; then
		log "redis: already running at $where"
		return 0
	fi
	is_local_host "$host" || die "redis: nothing answers at $where (REDIS_URL), and it is not a local address"

	if ! command -v redis-server >/dev/null 2>&1; then
		apt_install redis-server
		status="installed; "
		if wait_for 2 redis_ping "$host" "$port"; then
			log "redis: ${status}running (started by the package) at $where"
			return 0
		fi
	fi

	case "$host" in 127.* | ::1) bind="$host" ;; *) bind=127.0.0.1 ;; esac
	dir="$HX_RUN/redis"
	mkdir -p "$dir"
	if pid="$(pidfile_alive "$dir/redis.pid" redis-server)"; then
		log "redis: stopping our earlier redis-server (pid $pid), it does not answer at $where"
		stop_pids 10 "$pid"
	fi
	quiet redis-server --bind "$bind" --port "$port" --daemonize yes \
		--dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
		--save '' --appendonly no || die "redis: redis-server failed to start"
	if ! wait_for "$REDIS_WAIT" redis_ping "$host" "$port"; then
		tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true
		die "redis: no PONG from $where after ${REDIS_WAIT}s (log: $dir/redis.log)"
	fi
	mark_started redis
	log "redis: ${status}started at $where (pid $(tr -dc '0-9' <"$dir/redis.pid" 2>/dev/null || true))"
}

# ---- NATS -------------------------------------------------------------------

# nats_version BIN -> e.g. v2.15.2
nats_version() {
	"$1" --version 2>/dev/null | grep -oE 'v[0-9]+\.[0-9]+\.[0-9]+' | head -n 1
}

version_ge() { [[ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" == "$2" ]]; }

# ensure_nats_binary: .run/bin/nats-server is there and new enough (the chaos
# harness runs its own server from it); returns 0 when it had to be built.
ensure_nats_binary() {
	local bin="$HX_RUN/bin/nats-server" have=""
	[[ -x "$bin" ]] && have="$(nats_version "$bin")"
	if [[ -n "$have" ]] && version_ge "$have" "$NATS_SERVER_MIN"; then return 1; fi
	command -v go >/dev/null 2>&1 || die "nats: go is needed to build nats-server"
	log "nats: building nats-server $NATS_SERVER_VERSION into .run/bin (about a minute)"
	mkdir -p "$HX_RUN/bin"
	GOBIN="$HX_RUN/bin" GOWORK=off CGO_ENABLED=0 \
		quiet go install "github.com/nats-io/nats-server/v2@$NATS_SERVER_VERSION" ||
		die "nats: building nats-server failed"
	return 0
}

ensure_nats() {
	local host port where bin have dir conf store pid status=""
	host="$(url_host "$NATS_URL")"
	port="$(url_port "$NATS_URL" 4222)"
	[[ -n "$host" ]] || host=127.0.0.1
	where="$(hostport "$host" "$port")"

	if tcp_open "$host" "$port"; then
		log "nats: already running at $where"
		return 0
	fi
	is_local_host "$host" || die "nats: nothing answers at $where (NATS_URL), and it is not a local address"

	bin="$HX_RUN/bin/nats-server"
	ensure_nats_binary && status="built $NATS_SERVER_VERSION; "

	dir="$HX_RUN/nats"
	conf="$dir/nats.conf"
	if [[ "$NATS_STORE_DIR" == /* ]]; then store="$NATS_STORE_DIR"; else store="$HX_ROOT/$NATS_STORE_DIR"; fi
	mkdir -p "$dir" "$store"
	cat >"$conf" <<EOF
# Written by scripts/deps.sh on every start; edit the script, not this file.
server_name: health-dev
listen: $(hostport "$host" "$port")
max_payload: 8MB
http: $NATS_MONITOR_ADDR
jetstream {
  store_dir: "$store"
  sync_interval: always
}
EOF

	if pid="$(pidfile_alive "$dir/nats.pid" nats-server)"; then
		log "nats: stopping our earlier nats-server (pid $pid), it does not answer at $where"
		stop_pids 10 "$pid"
	fi
	# setsid: a later Ctrl-C in this terminal must not reach the server
	# A soft memory limit: the Go runtime collects and returns memory before
	# reaching it, instead of keeping the high-water mark of past bursts.
	GOMEMLIMIT="${NATS_GOMEMLIMIT:-384MiB}" setsid nohup "$bin" -c "$conf" >>"$dir/nats.log" 2>&1 </dev/null 9>&- &
	pid=$!
	printf '%s\n' "$pid" >"$dir/nats.pid"
	if ! wait_for "$NATS_WAIT" tcp_open "$host" "$port"; then
		tail -n 20 "$dir/nats.log" >&2 2>/dev/null || true
		die "nats: nothing listens at $where after ${NATS_WAIT}s (log: $dir/nats.log)"
	fi
	mark_started nats
	log "nats: ${status}started at $where with JetStream (pid $pid, monitoring http://$NATS_MONITOR_ADDR)"
}

ensure_postgres
ensure_redis
ensure_nats
# the nats-server binary is needed even when a server already runs
ensure_nats_binary || true
