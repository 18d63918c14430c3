package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/alecthomas/kong"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthexport/libs/config"
	"github.com/healthexport/libs/obs"
	"github.com/healthexport/libs/pgstore"
)

// cli is the command tree. Output meant for scripts goes to stdout alone
// (a user id, a key); everything else goes to the log on stderr.
type cli struct {
	Users      usersCmd      `cmd:"" help:"Manage users."`
	Keys       keysCmd       `cmd:"" help:"Manage API keys."`
	Migrate    migrateCmd    `cmd:"" help:"Apply or inspect database migrations."`
	Lag        lagCmd        `cmd:"" help:"How far behind each consumer is: pending, ack-pending, redelivered, drain rate, time to drain."`
	Partitions partitionsCmd `cmd:"" help:"List or make the monthly partitions."`
	Replay     replayCmd     `cmd:"" help:"Rebuild a kind's tables, or replay messages into the live tables."`
	Bench      benchCmd      `cmd:"" help:"Measure the pipeline against this machine's COPY ceiling (make bench)."`
	Chaos      chaosCmd      `cmd:"" help:"Break things under load and prove nothing acknowledged is lost or doubled (make chaos)."`
}

// env is what every command gets.
type env struct {
	ctx    context.Context
	log    *slog.Logger
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

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
func loadInto(e *env, cfg any) error { return config.Load(e.getenv, cfg) }

func (e *env) pool() (*pgxpool.Pool, error) {
	s, err := e.settings()
	if err != nil {
		return nil, err
	}
	return pgstore.Open(e.ctx, s.DatabaseURL, 4)
}

func run(ctx context.Context, log *slog.Logger, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	getenv, err := config.FromEnvironment(getenv)
	if err != nil {
		return err
	}
	if err := obs.SetLevel(log, getenv("LOG_LEVEL")); err != nil {
		return err
	}
	var c cli
	exitCode := -1
	parser, err := kong.New(&c,
		kong.Name("healthctl"),
		kong.Description("Operate a Health Export installation. Settings come from the environment and .env."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { exitCode = code }),
		kong.UsageOnError(),
	)
	if err != nil {
		return err
	}
	kctx, err := parser.Parse(args)
	if exitCode >= 0 { // --help
		if exitCode == 0 {
			return nil
		}
		return errors.New("invalid arguments")
	}
	if err != nil {
		parser.Errorf("%s", err)
		return fmt.Errorf("arguments: %w", err)
	}
	return kctx.Run(&env{ctx: ctx, log: log, stdout: stdout, stderr: stderr, getenv: getenv})
}
