// Command raw-archiver stores every published part and manifest in
// PostgreSQL exactly as received: the backup tables are rebuilt from.
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
		log.Error("raw-archiver stopped", "err", err)
		os.Exit(1)
	}
}
