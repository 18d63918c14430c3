# Health Export: developer and CI entry points. On a fresh Debian machine with
# only Go installed, `make run` and `make test` install and start what is
# missing (PostgreSQL, Redis, nats-server; apt-get needs root). Configuration
# comes from .env, created from .env.example on first use.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
export PATH := $(PATH):/usr/local/go/bin

GO ?= go
# Main packages, built from the workspace root into bin/<last path element>.
CMDS := ./services/edge ./services/raw-archiver ./services/metric-writer ./tools/healthctl

.PHONY: help build proving deps test run up down clean conformance bench chaos cluster-up cluster-down cluster-status chaos-cluster

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

build: ## build bin/edge, bin/raw-archiver, bin/metric-writer, bin/healthctl
	@mkdir -p bin
	$(GO) build -o bin/ $(CMDS)

proving: ## build bin/proving, the benchmark and chaos harnesses (tools/proving)
	@mkdir -p bin
	$(GO) build -o bin/ ./tools/proving

deps: ## make sure PostgreSQL, Redis and NATS answer (install/start what is missing)
	scripts/deps.sh

test: deps build ## go vet and go test -race every workspace module
	scripts/test.sh

run: deps build ## migrate, demo key, the three services in the foreground (Ctrl-C stops)
	scripts/run.sh

up: deps build ## like run, in the background (logs and pids in .run/)
	scripts/run.sh --detach

down: ## stop the services, then the dependencies scripts/deps.sh started
	scripts/down.sh

cluster-up: deps build ## three nats-servers, PostgreSQL primary and standby, two of each service behind HAProxy on CLUSTER_EDGE_ADDR (beside make up)
	scripts/cluster.sh up

cluster-down: ## stop what make cluster-up started (its data stays in .run/cluster)
	scripts/cluster.sh down

cluster-status: ## what of the cluster runs, which PostgreSQL is the primary, the stream's leader
	scripts/cluster.sh status

clean: down ## down, then remove bin/ and .run/ (NATS store included)
	rm -rf bin .run

# TestConformance (tests/e2e/conformance_test.go) posts the conformance corpus
# (tests/e2e/testdata/conformance) to the built binaries as one new user and
# checks statuses, row counts and values.
conformance: deps build ## only TestConformance: the conformance corpus against bin/
	TEST_MODULES=tests TEST_RUN=TestConformance TEST_VET=0 scripts/test.sh

bench: deps build proving ## measure the pipeline against this machine's COPY ceiling (BENCH_QUICK=1: under 2 minutes)
	scripts/bench.sh

chaos: deps build proving ## fault injection: ten scenarios under load, lost/duplicates/unexpected must be 0 (under 10 minutes)
	scripts/chaos.sh

chaos-cluster: deps build proving ## the cluster's faults (leader killed, partition, rolling restart, failover...), each on a cluster of its own (under 15 minutes)
	scripts/chaos.sh --cluster
