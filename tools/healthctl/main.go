// Command healthctl is the operator's tool: users, keys, migrations.
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
	if err := run(ctx, log, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		log.Error("healthctl failed", "err", err)
		os.Exit(1)
	}
}
