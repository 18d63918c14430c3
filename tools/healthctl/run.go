package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthexport/libs/cli"
	"github.com/healthexport/libs/config"
	"github.com/healthexport/libs/pgstore"
)

// commands is the command tree. Output meant for scripts goes to stdout alone
// (a user id, a key); everything else goes to the log on stderr.
type commands struct {
	Users      usersCmd      `cmd:"" help:"Manage users."`
	Keys       keysCmd       `cmd:"" help:"Manage API keys."`
	Migrate    migrateCmd    `cmd:"" help:"Apply or inspect database migrations."`
	Lag        lagCmd        `cmd:"" help:"How far behind each consumer is: pending, ack-pending, redelivered, drain rate, time to drain."`
	Partitions partitionsCmd `cmd:"" help:"List or make the monthly partitions."`
	Replay     replayCmd     `cmd:"" help:"Rebuild a kind's tables, or replay messages into the live tables."`
}

// env is what every command gets, with healthctl's helpers.
type env struct{ cli.Env }

// settings are healthctl's configuration.
type settings struct {
	DatabaseURL string `env:"DATABASE_URL,required" mask:"url"`
}

func (e *env) settings() (settings, error) {
	var s settings
	err := loadInto(e, &s)
	return s, err
}

// loadInto reads a command's own settings.
func loadInto(e *env, cfg any) error { return config.Load(e.Getenv, cfg) }

func (e *env) pool() (*pgxpool.Pool, error) {
	s, err := e.settings()
	if err != nil {
		return nil, err
	}
	return pgstore.Open(e.Ctx, s.DatabaseURL, 4)
}

func run(ctx context.Context, log *slog.Logger, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return cli.Run(ctx, log, "healthctl",
		"Operate a Health Export installation. Settings come from the environment and .env.",
		&commands{}, args, getenv, stdout, stderr, func(e cli.Env) *env { return &env{e} })
}
