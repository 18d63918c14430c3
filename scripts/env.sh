# shellcheck shell=bash
# Sourced by the other scripts: goes to the repo root, loads .env (created from
# .env.example when missing) and defines small helpers. Not executable on its own.

HX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HX_RUN="$HX_ROOT/.run" # state: pids, logs, nats-server, stores
export HX_ROOT HX_RUN
cd "$HX_ROOT" || exit 1

# Go may be installed without being on PATH (CI images, sudo's secure_path).
case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) PATH="$PATH:/usr/local/go/bin" ;; esac
export PATH

log() { printf '%s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

if [[ ! -f .env ]]; then
	[[ -f .env.example ]] || die ".env.example is missing"
	cp .env.example .env
	log "created .env from .env.example"
fi

# Load .env; variables already set in the environment keep their value.
_hx_keep=()
while IFS= read -r _hx_name; do
	if [[ -n "${!_hx_name+x}" ]]; then _hx_keep+=("$_hx_name=${!_hx_name}"); fi
done < <(sed -nE 's/^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=.*/\2/p' .env)
set -a
# shellcheck source=/dev/null
. ./.env
set +a
for _hx_kv in "${_hx_keep[@]}"; do export "${_hx_kv%%=*}=${_hx_kv#*=}"; done
unset _hx_keep _hx_name _hx_kv

# Defaults for what the scripts themselves use (an older .env may lack them).
: "${DATABASE_URL:=postgres://health:health@127.0.0.1:5432/health?sslmode=disable}"
: "${TEST_DATABASE_URL:=postgres://health:health@127.0.0.1:5432/health_test?sslmode=disable}"
: "${REDIS_URL:=redis://127.0.0.1:6379/0}"
: "${NATS_URL:=nats://127.0.0.1:4222}"
: "${EDGE_ADDR:=127.0.0.1:8080}"
: "${NATS_STORE_DIR:=.run/nats/store}"
export DATABASE_URL TEST_DATABASE_URL REDIS_URL NATS_URL EDGE_ADDR NATS_STORE_DIR

# ---- URL parsing ------------------------------------------------------------
# Works for scheme://[user[:password]@]host[:port][/path][?query]; only the
# first URL of a comma-separated list counts; IPv6 hosts go in brackets.

urldecode() {
	local s="${1//+/%2B}"
	printf '%b' "${s//%/\\x}"
}

# url_authority URL -> user:pass@host:port
url_authority() {
	local u="${1%%,*}"
	u="${u#*://}"
	printf '%s' "${u%%[/?#]*}"
}

# url_hostport URL -> host:port part (without user info)
url_hostport() {
	local a
	a="$(url_authority "$1")"
	printf '%s' "${a##*@}"
}

# url_host URL -> host (brackets of an IPv6 address removed; may be empty)
url_host() {
	local hp
	hp="$(url_hostport "$1")"
	if [[ "$hp" == \[* ]]; then
		hp="${hp#\[}"
		printf '%s' "${hp%%\]*}"
	else
		printf '%s' "${hp%%:*}"
	fi
}

# url_port URL DEFAULT -> port
url_port() {
	local hp port=""
	hp="$(url_hostport "$1")"
	if [[ "$hp" == \[* ]]; then
		[[ "$hp" == *\]:* ]] && port="${hp##*\]:}"
	elif [[ "$hp" == *:* ]]; then
		port="${hp##*:}"
	fi
	printf '%s' "${port:-$2}"
}

# url_user URL -> decoded user name (may be empty)
url_user() {
	local a
	a="$(url_authority "$1")"
	[[ "$a" == *@* ]] || return 0
	a="${a%@*}"
	urldecode "${a%%:*}"
}

# url_password URL -> decoded password (may be empty)
url_password() {
	local a
	a="$(url_authority "$1")"
	[[ "$a" == *@* ]] || return 0
	a="${a%@*}"
	[[ "$a" == *:* ]] || return 0
	urldecode "${a#*:}"
}

# url_path URL -> decoded path without the leading slash (a database name)
url_path() {
	local u="${1%%,*}"
	u="${u#*://}"
	u="${u%%[?#]*}"
	[[ "$u" == */* ]] || return 0
	urldecode "${u#*/}"
}

# addr_host HOST:PORT -> host to connect to (wildcard and empty -> loopback)
addr_host() {
	local h
	h="$(url_host "tcp://$1")"
	case "$h" in
	"" | 0.0.0.0) h=127.0.0.1 ;;
	::) h=::1 ;;
	esac
	printf '%s' "$h"
}

# hostport HOST PORT -> host:port, IPv6 in brackets
hostport() {
	if [[ "$1" == *:* ]]; then printf '[%s]:%s' "$1" "$2"; else printf '%s:%s' "$1" "$2"; fi
}

# is_local_host HOST: true for loopback, wildcard, empty and unix-socket hosts
is_local_host() {
	case "$1" in
	"" | localhost | 127.* | ::1 | 0.0.0.0 | ::) return 0 ;;
	/*) return 0 ;;
	esac
	return 1
}

# ---- probes -----------------------------------------------------------------

# tcp_open HOST PORT: true when something accepts a TCP connection
tcp_open() {
	# shellcheck disable=SC2016
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# redis_ping HOST PORT: true when a Redis answers (PONG, or an auth error)
redis_ping() {
	# shellcheck disable=SC2016
	timeout 3 bash -c '
		exec 3<>"/dev/tcp/$1/$2" || exit 1
		printf "PING\r\n" >&3
		IFS= read -r line <&3 || exit 1
		case "$line" in "+PONG"* | "-NOAUTH"* | "-ERR"*[Aa]uth*) exit 0 ;; esac
		exit 1' _ "$1" "$2" 2>/dev/null
}

# http_status HOST PORT PATH -> HTTP status code ("000" when nothing answers)
http_status() {
	local code=""
	if command -v curl >/dev/null 2>&1; then
		code="$(curl -s -o /dev/null -m 3 -w '%{http_code}' "http://$(hostport "$1" "$2")$3" 2>/dev/null)" || true
	else
		# shellcheck disable=SC2016
		code="$(timeout 3 bash -c '
			exec 3<>"/dev/tcp/$1/$2" || exit 1
			printf "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" "$3" "$1" >&3
			IFS=" " read -r _ code _ <&3 && printf "%s" "$code"' _ "$1" "$2" "$3" 2>/dev/null)" || true
	fi
	printf '%s' "${code:-000}"
}

# wait_for SECONDS COMMAND...: retry COMMAND every 0.25 s until it succeeds
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.25
	done
}

# ---- processes ----------------------------------------------------------------

# pid_alive PID [NAME]: process exists, is not a zombie and, when NAME is
# given, its command line mentions NAME (guards against reused pids)
pid_alive() {
	local pid="$1" state
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	[[ -r "/proc/$pid/stat" ]] || return 1
	state="$(sed -E 's/^.*\) (.).*/\1/' "/proc/$pid/stat" 2>/dev/null)" || return 1
	[[ "$state" != Z && "$state" != X ]] || return 1
	if [[ -n "${2:-}" ]]; then
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2" || return 1
	fi
}

# pidfile_alive FILE NAME -> prints the pid when FILE names a live NAME process
pidfile_alive() {
	local pid
	[[ -f "$1" ]] || return 1
	pid="$(tr -dc '0-9' <"$1")"
	pid_alive "$pid" "$2" || return 1
	printf '%s' "$pid"
}

# stop_pids SECONDS PID...: SIGTERM, wait up to SECONDS, then SIGKILL
stop_pids() {
	local timeout="$1" pid deadline
	local -a left
	shift
	(($#)) || return 0
	kill -TERM "$@" 2>/dev/null || true
	deadline=$((SECONDS + timeout))
	while :; do
		left=()
		for pid in "$@"; do pid_alive "$pid" && left+=("$pid"); done
		((${#left[@]})) || return 0
		if ((SECONDS >= deadline)); then
			log "still running after ${timeout}s, killing: ${left[*]}"
			kill -KILL "${left[@]}" 2>/dev/null || true
			return 0
		fi
		sleep 0.2
	done
}

# ---- installing -------------------------------------------------------------

# quiet COMMAND...: run with output to a temp file; show its tail on failure.
# Also closes fd 9 (deps.sh's lock) so daemons never inherit it.
quiet() {
	local out rc=0
	out="$(mktemp)"
	"$@" >"$out" 2>&1 9>&- </dev/null || rc=$?
	if ((rc)); then
		log "failed ($rc): $*"
		tail -n 30 "$out" >&2
	fi
	rm -f "$out"
	return "$rc"
}

HX_APT_UPDATED=""
# apt_install PACKAGE...: root only (nothing else can install)
apt_install() {
	if [[ "$(id -u)" != 0 ]]; then
		die "missing $*: install it (apt-get install $*) or run this as root"
	fi
	command -v apt-get >/dev/null 2>&1 || die "missing $* and no apt-get to install it"
	log "installing $* (apt-get)"
	if [[ -z "$HX_APT_UPDATED" ]]; then
		quiet apt-get -o DPkg::Lock::Timeout=120 update || die "apt-get update failed"
		HX_APT_UPDATED=1
	fi
	quiet env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y "$@" ||
		die "apt-get install $* failed"
}

# pg_server_version: newest PostgreSQL server installed (Debian layout)
pg_server_version() {
	local f v best=""
	for f in /usr/lib/postgresql/*/bin/postgres; do
		[[ -x "$f" ]] || continue
		v="${f#/usr/lib/postgresql/}"
		v="${v%%/*}"
		if [[ -z "$best" ]] || [[ "$(printf '%s\n%s\n' "$best" "$v" | sort -V | tail -n 1)" == "$v" ]]; then best="$v"; fi
	done
	[[ -n "$best" ]] || return 1
	printf '%s' "$best"
}

# pg_ready HOST PORT: the server accepts connections
pg_ready() {
	if command -v pg_isready >/dev/null 2>&1; then
		if [[ -n "$1" ]]; then pg_isready -q -t 2 -h "$1" -p "$2"; else pg_isready -q -t 2 -p "$2"; fi
	else
		tcp_open "${1:-127.0.0.1}" "$2"
	fi
}

# apt_install_tool PACKAGE...: like apt_install, for a package wanted for
# its programs only: no daemon it would start at installation starts
# (policy-rc.d refuses them). Servers the package runs anyway (none in a
# container without an init) are the caller's to stop.
apt_install_tool() {
	local policy=/usr/sbin/policy-rc.d
	if [[ -e "$policy" || "$(id -u)" != 0 ]]; then
		apt_install "$@"
		return
	fi
	printf '#!/bin/sh\n# scripts/env.sh: no daemon starts while it installs %s\nexit 101\n' "$*" >"$policy"
	chmod 755 "$policy"
	trap 'rm -f "$policy"' EXIT
	apt_install "$@"
	rm -f "$policy"
	trap - EXIT
}

# ensure_cc: a C compiler for cgo (go test -race needs it)
ensure_cc() {
	if ! command -v gcc >/dev/null 2>&1; then apt_install gcc libc6-dev; fi
}

# shell_quote STRING -> STRING in single quotes, safe to paste into a shell
shell_quote() {
	local s="$1" q="'\\''"
	printf "'%s'" "${s//\'/$q}"
}
