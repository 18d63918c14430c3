package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	validation "github.com/go-ozzo/ozzo-validation/v4"
	"github.com/healthexport/libs/config"
	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/obs"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/stream"
	"github.com/healthexport/migrations"
	"github.com/healthexport/services/metric-writer/internal/writer"
	"github.com/nats-io/nats.go"
)

type settings struct {
	DatabaseURL string `env:"DATABASE_URL,required" mask:"url"`
	MetricsAddr string `env:"WRITER_METRICS_ADDR" envDefault:"127.0.0.1:9102"`
	LogLevel    string `env:"LOG_LEVEL" envDefault:"info"`
	Stream      stream.Config
	Batch       stream.BatchConfig
}

func (s settings) Validate() error {
	return validation.ValidateStruct(&s,
		validation.Field(&s.DatabaseURL, validation.Required),
		validation.Field(&s.MetricsAddr, validation.Required),
		validation.Field(&s.Stream),
		validation.Field(&s.Batch),
	)
}

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
	log.Info("starting metric-writer", "config", config.LogValue(&cfg))

	if err := migrations.Up(cfg.DatabaseURL); err != nil {
		return err
	}
	pool, err := pgstore.Open(ctx, cfg.DatabaseURL, 0)
	if err != nil {
		return err
	}
	defer pool.Close()
	nc, js, err := stream.Connect(ctx, log, cfg.Stream, "metric-writer")
	if err != nil {
		return err
	}
	defer nc.Close()
	if _, err := stream.Ensure(ctx, js, cfg.Stream, func(ctx context.Context) (uint64, error) { return pgstore.HighestSeq(ctx, pool) }); err != nil {
		return err
	}

	reg := obs.NewRegistry()
	metrics := writer.NewMetrics(reg)
	ready := obs.NewReadiness()
	ready.Add("postgres", func(ctx context.Context) error { return pool.Ping(ctx) })
	ready.Add("nats", func(context.Context) error {
		if s := nc.Status(); s != nats.CONNECTED {
			return fmt.Errorf("nats %s", s)
		}
		return nil
	})

	registry := kind.New()
	parts := pgstore.NewPartitions(pool)
	if err := parts.EnsureAhead(ctx, time.Now(), registry.Tables()...); err != nil {
		log.Warn("partitions ahead of time", "err", err) // made on demand anyway
	}

	var wg sync.WaitGroup
	errs := make(chan error, len(registry.Kinds())+1)
	for _, k := range registry.Kinds() {
		if !k.HasWriter() {
			log.Info("no writer yet: parts stay in the stream", "kind", k.Name)
			continue
		}
		cons, err := stream.EnsureConsumer(ctx, js, cfg.Stream.Name, stream.ConsumerSpec{
			Durable:       k.Durable(cfg.Stream.DurablePrefix),
			Filters:       []string{k.Filter(cfg.Stream.SubjectPrefix)},
			AckWait:       cfg.Batch.AckWait(),
			MaxAckPending: cfg.Batch.MaxAckPending(),
		})
		if err != nil {
			return err
		}
		w := writer.New(log, k, pool, parts, cfg.Batch, metrics)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Run(ctx, cons); err != nil {
				errs <- err
			}
		}()
	}
	srvCtx, stopSrv := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSrv()
	go func() {
		if err := obs.Serve(srvCtx, log, cfg.MetricsAddr, obs.Handler(ready, reg)); err != nil {
			errs <- err
		}
	}()
	log.Info("metric-writer ready")
	select {
	case <-ctx.Done():
	case err := <-errs:
		return err
	}
	ready.ShuttingDown()
	log.Info("draining: writing what was pulled, then stopping")
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	log.Info("metric-writer stopped cleanly")
	return nil
}
