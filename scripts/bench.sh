#!/usr/bin/env bash
# Runs `proving bench` with .env loaded: results in bench/results/
# (latest.json and latest.svg are the newest). BENCH_QUICK=1 for a short run.
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "$0")/env.sh"
exec bin/proving bench --bin bin --out bench/results "$@"
