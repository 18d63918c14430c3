// Package obs holds what every service uses to be observed: JSON logs,
// Prometheus metrics and the liveness/readiness endpoints.
package obs

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	validation "github.com/go-ozzo/ozzo-validation/v4"
)

// NewLogger returns a JSON logger at the given level ("" means info). The
// level can be changed later with SetLevel, once the configuration is read.
func NewLogger(w io.Writer, level string) *slog.Logger {
	lv := new(slog.LevelVar)
	_ = lv.UnmarshalText([]byte(strings.ToUpper(orInfo(level))))
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv})
	return slog.New(&levelHandler{Handler: h, level: lv})
}

// SetLevel changes the level of a logger made by NewLogger.
func SetLevel(log *slog.Logger, level string) error {
	h, ok := log.Handler().(*levelHandler)
	if !ok {
		return nil
	}
	if err := h.level.UnmarshalText([]byte(strings.ToUpper(orInfo(level)))); err != nil {
		return fmt.Errorf("LOG_LEVEL %q: %w", level, err)
	}
	return nil
}

func orInfo(level string) string {
	if level == "" {
		return "info"
	}
	return level
}

type levelHandler struct {
	slog.Handler
	level *slog.LevelVar
}

// LogConfig is the logging setting every binary reads.
type LogConfig struct {
	Level string `env:"LOG_LEVEL" envDefault:"info" help:"Log level: debug, info, warn or error (JSON logs on stderr)."`
}

// Validate checks the level is one slog knows.
func (c LogConfig) Validate() error {
	return validation.ValidateStruct(&c, validation.Field(&c.Level, validation.By(func(any) error {
		var l slog.Level
		if err := l.UnmarshalText([]byte(strings.ToUpper(orInfo(c.Level)))); err != nil {
			return errors.New("must be debug, info, warn or error")
		}
		return nil
	})))
}
