package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthexport/libs/apikey"
	"github.com/healthexport/libs/cli"
	"github.com/healthexport/libs/obs"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/stream"
)

// commands is the command tree. Output meant for scripts goes to stdout alone
// (a user id, a key); everything else goes to the log on stderr.
type commands struct {
	Users      usersCmd      `cmd:"" help:"Manage users."`
	Keys       keysCmd       `cmd:"" help:"Manage API keys."`
	Migrate    migrateCmd    `cmd:"" help:"Apply or inspect database migrations."`
	Lag        lagCmd        `cmd:"" help:"How far behind each consumer is: pending, ack-pending, redelivered, drain rate, time to drain."`
	Partitions partitionsCmd `cmd:"" help:"List or make the partitions (by month, by year for older data)."`
	Replay     replayCmd     `cmd:"" help:"Rebuild a kind's tables, or replay messages into the live tables."`
	Import     importCmd     `cmd:"" help:"Import the Health app's export (export.zip or export.xml) for a user."`
	Demo       demoCmd       `cmd:"" help:"Fill a user with a month of synthetic data to look at (make run's demo user)."`
}

// env is what every command gets, with healthctl's settings and helpers.
type env struct {
	cli.Env
	cfg *settings
}

// settings are every setting healthctl reads, loaded and validated before
// any command runs (healthctl --help-env lists them).
type settings struct {
	Database pgstore.Config
	Log      obs.LogConfig
	Stream   stream.Config
	Keys     apikey.Limits
}

func (e *env) pool() (*pgxpool.Pool, error) {
	return pgstore.Open(e.Ctx, e.cfg.Database.URL, 4)
}

func run(ctx context.Context, log *slog.Logger, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg settings
	return cli.Run(ctx, log, "healthctl",
		"Operate a Health Export installation. Settings come from the environment and .env (healthctl --help-env lists them).",
		&commands{}, args, getenv, stdout, stderr, &cfg, func(e cli.Env) *env { return &env{Env: e, cfg: &cfg} })
}
