package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/healthexport/libs/cli"
)

// commands is the command tree: the table of results goes to stdout, progress
// and logs to stderr.
type commands struct {
	Bench benchCmd `cmd:"" help:"Measure the pipeline against this machine's COPY ceiling (make bench)."`
	Chaos chaosCmd `cmd:"" help:"Break things under load and prove nothing acknowledged is lost or doubled (make chaos)."`
}

func run(ctx context.Context, log *slog.Logger, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return cli.Run(ctx, log, "proving",
		"Benchmark and fault-injection harnesses for Health Export. Run from the repository's root (make bench, make chaos).",
		&commands{}, args, getenv, stdout, stderr, nil, func(e cli.Env) *cli.Env { return &e })
}
