package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	validation "github.com/go-ozzo/ozzo-validation/v4"
	"github.com/healthexport/libs/apikey"
	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/service"
	"github.com/healthexport/libs/stream"
	"github.com/healthexport/schema"
	"github.com/healthexport/services/edge/internal/ingest"
	"github.com/healthexport/services/edge/internal/server"
)

type settings struct {
	Addr             string        `env:"EDGE_ADDR" envDefault:"127.0.0.1:8080"`
	DatabaseURL      string        `env:"DATABASE_URL,required" mask:"url"`
	LogLevel         string        `env:"LOG_LEVEL" envDefault:"info"`
	MaxBodyBytes     int64         `env:"INGEST_MAX_BODY_BYTES" envDefault:"268435456"`
	PartMaxBytes     int           `env:"INGEST_PART_MAX_BYTES" envDefault:"524288"`
	SpoolMemoryBytes int64         `env:"INGEST_SPOOL_MEMORY_BYTES" envDefault:"4194304"`
	SpoolDir         string        `env:"INGEST_SPOOL_DIR"`
	BodyTimeout      time.Duration `env:"INGEST_BODY_TIMEOUT" envDefault:"10m"`
	HeaderTimeout    time.Duration `env:"HTTP_HEADER_TIMEOUT" envDefault:"10s"`
	PublishTimeout   time.Duration `env:"INGEST_PUBLISH_TIMEOUT" envDefault:"10s"`
	ShutdownGrace    time.Duration `env:"SHUTDOWN_GRACE" envDefault:"30s"`
	Stream           stream.Config
}

func (s settings) Validate() error {
	return validation.ValidateStruct(&s,
		validation.Field(&s.Addr, validation.Required),
		validation.Field(&s.MaxBodyBytes, validation.Min(int64(1024))),
		// A part must fit a message with room for its wrapping and headers.
		validation.Field(&s.PartMaxBytes, validation.Min(1024), validation.Max(stream.MaxMessageBytes/2)),
		validation.Field(&s.SpoolMemoryBytes, validation.Min(int64(0))),
		validation.Field(&s.BodyTimeout, validation.Min(time.Second)),
		validation.Field(&s.HeaderTimeout, validation.Min(100*time.Millisecond)),
		validation.Field(&s.PublishTimeout, validation.Min(100*time.Millisecond)),
		validation.Field(&s.Stream),
	)
}

func run(ctx context.Context, log *slog.Logger, getenv func(string) string, _ io.Writer) error {
	var cfg settings
	if err := service.Settings(log, getenv, "edge", &cfg); err != nil {
		return err
	}
	if cfg.SpoolDir == "" {
		cfg.SpoolDir = os.TempDir()
	}
	deps, err := service.Open(ctx, log, "edge", cfg.DatabaseURL, cfg.Stream)
	if err != nil {
		return err
	}
	defer deps.Close()
	pipeline := ingest.New(deps.JS, kind.New(), cfg.Stream, ingest.Config{
		PartMaxBytes:   cfg.PartMaxBytes,
		MaxInFlight:    16,
		PublishTimeout: cfg.PublishTimeout,
	})
	keys := apikey.NewStore(deps.Pool, apikey.DefaultParams())
	srv := server.New(log, server.Config{
		MaxBodyBytes:     cfg.MaxBodyBytes,
		SpoolMemoryBytes: cfg.SpoolMemoryBytes,
		SpoolDir:         cfg.SpoolDir,
		HeaderTimeout:    cfg.HeaderTimeout,
		BodyTimeout:      cfg.BodyTimeout,
	}, keys, pipeline, deps.Ready, deps.Metrics, schema.OpenAPI())

	log.Info("edge listening", "addr", cfg.Addr)
	if err := srv.Serve(ctx, cfg.Addr, cfg.ShutdownGrace); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	// Every request has been answered; publishes in flight are flushed.
	if err := deps.NC.Drain(); err != nil {
		log.Warn("nats drain", "err", err)
	}
	log.Info("edge stopped cleanly")
	return nil
}
