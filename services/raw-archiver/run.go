package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	validation "github.com/go-ozzo/ozzo-validation/v4"
	"github.com/healthexport/libs/config"
	"github.com/healthexport/libs/obs"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/stream"
	"github.com/healthexport/migrations"
	"github.com/healthexport/services/raw-archiver/internal/archive"
	"github.com/nats-io/nats.go"
)

type settings struct {
	DatabaseURL string `env:"DATABASE_URL,required" mask:"url"`
	MetricsAddr string `env:"ARCHIVER_METRICS_ADDR" envDefault:"127.0.0.1:9101"`
	LogLevel    string `env:"LOG_LEVEL" envDefault:"info"`
	Stream      stream.Config
	Batch       stream.BatchConfig
}

func (s settings) Validate() error {
	return validation.ValidateStruct(&s,
		validation.Field(&s.MetricsAddr, validation.Required),
		validation.Field(&s.Stream),
		validation.Field(&s.Batch),
	)
}

// durable is the archiver's consumer name (after DURABLE_PREFIX).
const durable = "raw-archiver"

func run(ctx context.Context, log *slog.Logger, getenv func(string) string, _ io.Writer) error {
	getenv, err := config.FromEnvironment(getenv)
	if err != nil {
		return err
	}
	var cfg settings
	if err := config.Load(getenv, &cfg); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := obs.SetLevel(log, cfg.LogLevel); err != nil {
		return err
	}
	log.Info("starting raw-archiver", "config", config.LogValue(&cfg))

	if err := migrations.Up(cfg.DatabaseURL); err != nil {
		return err
	}
	pool, err := pgstore.Open(ctx, cfg.DatabaseURL, 0)
	if err != nil {
		return err
	}
	defer pool.Close()
	nc, js, err := stream.Connect(ctx, log, cfg.Stream, "raw-archiver")
	if err != nil {
		return err
	}
	defer nc.Close()
	if _, err := stream.Ensure(ctx, js, cfg.Stream, func(ctx context.Context) (uint64, error) { return pgstore.HighestSeq(ctx, pool) }); err != nil {
		return err
	}
	cons, err := stream.EnsureConsumer(ctx, js, cfg.Stream.Name, stream.ConsumerSpec{
		Durable:       cfg.Stream.DurablePrefix + durable,
		Filters:       []string{cfg.Stream.IngestSubjects(), cfg.Stream.ManifestSubjects()},
		AckWait:       cfg.Batch.AckWait(),
		MaxAckPending: cfg.Batch.MaxAckPending(),
	})
	if err != nil {
		return err
	}

	reg := obs.NewRegistry()
	ready := obs.NewReadiness()
	ready.Add("postgres", func(ctx context.Context) error { return pool.Ping(ctx) })
	ready.Add("nats", func(context.Context) error {
		if s := nc.Status(); s != nats.CONNECTED {
			return fmt.Errorf("nats %s", s)
		}
		return nil
	})
	arch := archive.New(log, pool, pgstore.NewPartitions(pool), cfg.Batch, archive.NewMetrics(reg))

	srvCtx, stopSrv := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSrv()
	srvErr := make(chan error, 1)
	go func() { srvErr <- obs.Serve(srvCtx, log, cfg.MetricsAddr, obs.Handler(ready, reg)) }()

	runErr := make(chan error, 1)
	go func() { runErr <- arch.Run(ctx, cons) }()
	log.Info("raw-archiver ready")
	select {
	case err := <-srvErr:
		return err
	case <-ctx.Done():
	}
	ready.ShuttingDown()
	log.Info("draining: archiving what was pulled, then stopping")
	if err := <-runErr; err != nil {
		return err
	}
	log.Info("raw-archiver stopped cleanly")
	return nil
}
