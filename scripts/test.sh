#!/usr/bin/env bash
# Vets and tests every module of the go.work workspace, one after the other,
# with .env exported and HEALTH_BIN_DIR=<repo>/bin (the end-to-end test runs the
# binaries from there: make build first; dependencies: scripts/deps.sh).
# Runs every module even after a failure; exits non-zero if any failed.
#
# Knobs (environment, or make variables: make test TEST_RUN=TestFoo):
#   TEST_MODULES  module directories relative to the repo root (default: all of go.work)
#   TEST_RUN      -run pattern passed to go test
#   TEST_FLAGS    go test flags (default: -race -count=1 -timeout 20m)
#   TEST_VET      0 skips go vet
#   HEALTH_SKIP_PROMTOOL  1: do not install promtool; the tests module skips
#                 its promtool checks (otherwise they fail without it)
#   HEALTH_SKIP_REDOCLY   1: do not install redocly; the tests module skips
#                 the OpenAPI lint (otherwise it fails without it)
#   HEALTH_SKIP_BROWSER   1: do not install chromium; the tests module skips
#                 the web page's browser test (otherwise it fails without it)
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "$0")/env.sh"

command -v go >/dev/null 2>&1 || die "go is not installed"
: "${TEST_FLAGS:=-race -count=1 -timeout 20m}"
: "${TEST_VET:=1}"
read -r -a flags <<<"$TEST_FLAGS"
[[ -n "${TEST_RUN:-}" ]] && flags+=(-run "$TEST_RUN")

# -race needs cgo, and cgo a C compiler
if [[ " $TEST_FLAGS " == *" -race "* ]]; then
	ensure_cc
	export CGO_ENABLED=1
fi

export HEALTH_BIN_DIR="$HX_ROOT/bin"

mapfile -t workspace < <(go list -m -f '{{.Dir}}') || true
if [[ -n "${TEST_MODULES:-}" ]]; then
	read -r -a modules <<<"$TEST_MODULES"
else
	modules=("${workspace[@]}")
	((${#modules[@]})) || die "go list -m found no modules (is go.work there?)"
fi

# promtool (Debian's prometheus package) checks deploy/prometheus in the tests
# module (tests/e2e/deploy_test.go); HEALTH_SKIP_PROMTOOL=1 skips those checks.
ensure_promtool() {
	command -v promtool >/dev/null 2>&1 && return 0
	if [[ "$(id -u)" != 0 ]]; then
		log "promtool is missing and this is not root: the tests module will fail (apt-get install prometheus, or HEALTH_SKIP_PROMTOOL=1)"
		return 0
	fi
	# Only promtool is wanted: keep the package from starting a server.
	apt_install_tool --no-install-recommends prometheus
	stop_packaged_prometheus
	command -v promtool >/dev/null 2>&1 || die "the prometheus package brought no promtool"
}

# stop_packaged_prometheus: a Prometheus server the package may have started
# (on :9090, where the monitoring profile's would go) is stopped and disabled.
stop_packaged_prometheus() {
	local pid
	if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
		quiet systemctl disable --now prometheus.service || true
	elif [[ -x /etc/init.d/prometheus ]]; then
		quiet /etc/init.d/prometheus stop || true
	fi
	# the init script's pid file, if the server is still there
	for pid in $(cat /run/prometheus/prometheus.pid /run/prometheus.pid 2>/dev/null); do
		if pid_alive "$pid" /usr/bin/prometheus; then
			log "stopping the Prometheus server the package started (pid $pid)"
			stop_pids 10 "$pid"
		fi
	done
}

# redocly (npm @redocly/cli) lints schema/openapi.yaml in the tests module
# (TestOpenAPILint). scripts/redocly/package-lock.json pins it and every
# package it needs; `npm ci` installs exactly that under .run/redocly, again
# only when the lockfile changes. Node.js comes from Debian when there is
# none. HEALTH_SKIP_REDOCLY=1 skips that test.
ensure_redocly() {
	local src="$HX_ROOT/scripts/redocly" dir="$HX_ROOT/.run/redocly" sum
	sum="$(sha256sum "$src/package-lock.json" | cut -d' ' -f1)"
	if [[ ! -x "$dir/node_modules/.bin/redocly" || "$(cat "$dir/.lock-sha256" 2>/dev/null)" != "$sum" ]]; then
		command -v npm >/dev/null 2>&1 || apt_install nodejs npm
		log "installing the OpenAPI linter (scripts/redocly) into .run/redocly (npm ci, about a minute)"
		rm -rf "$dir" && mkdir -p "$dir"
		cp "$src/package.json" "$src/package-lock.json" "$dir/"
		quiet npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error ||
			die "npm ci of scripts/redocly failed (HEALTH_SKIP_REDOCLY=1 skips the lint)"
		printf '%s\n' "$sum" >"$dir/.lock-sha256"
	fi
	export HEALTH_REDOCLY="$dir/node_modules/.bin/redocly"
}

# Chromium (Debian's) runs the web page's browser test in the tests module
# (tests/e2e/web_test.go, driven with chromedp); HEALTH_SKIP_BROWSER=1 skips it.
ensure_chromium() {
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 && return 0
	if [[ "$(id -u)" != 0 ]]; then
		log "chromium is missing and this is not root: the browser test will fail (apt-get install chromium, or HEALTH_SKIP_BROWSER=1)"
		return 0
	fi
	apt_install --no-install-recommends chromium
}

for dir in "${modules[@]}"; do
	[[ "$dir" == /* ]] || dir="$HX_ROOT/$dir"
	case "$dir" in
	"$HX_ROOT/tests")
		[[ "${HEALTH_SKIP_PROMTOOL:-}" == 1 ]] || ensure_promtool
		[[ "${HEALTH_SKIP_REDOCLY:-}" == 1 ]] || ensure_redocly
		[[ "${HEALTH_SKIP_BROWSER:-}" == 1 ]] || ensure_chromium
		;;
	"$HX_ROOT/tools/proving")
		# TestClusterQuick puts HAProxy in front of its edges
		command -v haproxy >/dev/null 2>&1 || apt_install_tool haproxy
		;;
	esac
done

rows=()
failed=0
total_start=$SECONDS
for dir in "${modules[@]}"; do
	[[ "$dir" == /* ]] || dir="$HX_ROOT/$dir"
	name="${dir#"$HX_ROOT"/}"
	[[ -d "$dir" ]] || {
		rows+=("$(printf '%-6s %-28s %s' FAIL "$name" 'no such directory')")
		failed=1
		continue
	}
	log ""
	log "=== $name"
	start=$SECONDS
	# a module outside go.work is built on its own (its go.mod needs replace lines)
	gowork="${GOWORK:-}"
	[[ " ${workspace[*]} " == *" $dir "* ]] || gowork=off
	if [[ -z "$(cd "$dir" && GOWORK="$gowork" go list ./... 2>/dev/null)" ]]; then
		log "no Go packages"
		rows+=("$(printf '%-6s %-28s %s' skip "$name" 'no Go packages')")
		continue
	fi
	vet=skip test=ok
	if [[ "$TEST_VET" != 0 ]]; then
		vet=ok
		(cd "$dir" && GOWORK="$gowork" go vet ./...) || vet=FAIL
	fi
	(cd "$dir" && GOWORK="$gowork" go test "${flags[@]}" ./...) || test=FAIL
	secs=$((SECONDS - start))
	result=ok
	if [[ "$vet" == FAIL || "$test" == FAIL ]]; then
		result=FAIL
		failed=1
	fi
	rows+=("$(printf '%-6s %-28s vet %-4s test %-4s %5ds' "$result" "$name" "$vet" "$test" "$secs")")
done

log ""
log "=== summary ($((SECONDS - total_start))s)"
for row in "${rows[@]}"; do log "$row"; done
if ((failed)); then
	log "FAILED"
	exit 1
fi
log "PASS"
