// Command proving holds the harnesses that prove the pipeline's claims on a
// machine: `proving bench` measures it against the machine's COPY ceiling
// (make bench) and `proving chaos` breaks things under load and checks that
// nothing acknowledged is lost or doubled (make chaos). It is a developer's
// tool: it starts its own services and servers and ships in no image.
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
		log.Error("proving failed", "err", err)
		os.Exit(1)
	}
}
