// Command edge is the HTTP front door: it authenticates uploads, checks
// and cuts them, and publishes them to JetStream.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/healthexport/libs/obs"
)

func main() {
	log := obs.NewLogger(os.Stderr, os.Getenv("LOG_LEVEL"))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		log.Error("edge stopped", "err", err)
		os.Exit(1)
	}
}
