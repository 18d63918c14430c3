// Package cli is how the project's command-line tools (healthctl, proving)
// start: settings from the environment and .env, LOG_LEVEL, then a kong
// grammar whose help and usage errors go to the tool's own writers, with no
// os.Exit behind the caller's back, so run returns and its deferred cleanup
// happens.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/alecthomas/kong"

	"github.com/healthexport/libs/config"
	"github.com/healthexport/libs/obs"
)

// Env is what every command gets. Output meant for scripts goes to Stdout
// alone; everything else goes to the log (on Stderr).
type Env struct {
	Ctx    context.Context
	Log    *slog.Logger
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment, then .env (config.FromEnvironment).
	Getenv func(string) string
}

// Run reads the settings' sources, applies LOG_LEVEL, parses args into
// grammar, fills and validates settings (a pointer to the tool's settings
// struct, or nil) and runs the command chosen with bind(env) as its
// argument (a tool wraps Env in its own type to give commands its helpers).
// `--help-env` prints the settings instead.
func Run[E any](ctx context.Context, log *slog.Logger, name, description string, grammar any, args []string,
	getenv func(string) string, stdout, stderr io.Writer, settings any, bind func(Env) E) error {
	if settings != nil && slices.Equal(args, []string{config.HelpEnvFlag}) {
		return config.WriteEnv(stdout, config.Describe(settings))
	}
	getenv, err := config.FromEnvironment(getenv)
	if err != nil {
		return err
	}
	if err := obs.SetLevel(log, getenv("LOG_LEVEL")); err != nil {
		return err
	}
	kctx, err := Parse(name, description, grammar, args, stdout, stderr)
	if err != nil || kctx == nil {
		return err
	}
	if settings != nil {
		if err := config.Load(getenv, settings); err != nil {
			return err
		}
		if err := config.Validate(settings); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	return kctx.Run(bind(Env{Ctx: ctx, Log: log, Stdout: stdout, Stderr: stderr, Getenv: getenv}))
}

// ErrArguments is returned for arguments kong cannot parse, after the usage
// has been written to stderr.
var ErrArguments = errors.New("invalid arguments")

// Parse parses args into grammar (a kong command tree). It returns a nil
// context and a nil error when the arguments only asked for help, which has
// then been written to stdout.
func Parse(name, description string, grammar any, args []string, stdout, stderr io.Writer) (*kong.Context, error) {
	exitCode := -1
	parser, err := kong.New(grammar,
		kong.Name(name),
		kong.Description(description),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { exitCode = code }),
		kong.UsageOnError(),
	)
	if err != nil {
		return nil, err
	}
	kctx, err := parser.Parse(args)
	if exitCode >= 0 { // --help, or kong's own usage exit
		if exitCode == 0 {
			return nil, nil
		}
		return nil, ErrArguments
	}
	if err != nil {
		parser.Errorf("%s", err)
		return nil, fmt.Errorf("%w: %w", ErrArguments, err)
	}
	return kctx, nil
}
