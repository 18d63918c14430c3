package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	validation "github.com/go-ozzo/ozzo-validation/v4"

	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/obs"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/service"
	"github.com/healthexport/libs/settle"
	"github.com/healthexport/libs/stream"
	"github.com/healthexport/services/metric-writer/internal/writer"
)

type settings struct {
	DatabaseURL string        `env:"DATABASE_URL,required" mask:"url"`
	MetricsAddr string        `env:"WRITER_METRICS_ADDR" envDefault:"127.0.0.1:9102"`
	LogLevel    string        `env:"LOG_LEVEL" envDefault:"info"`
	Pprof       bool          `env:"PPROF_ENABLED"`
	Maintenance time.Duration `env:"PARTITION_MAINTENANCE_EVERY" envDefault:"1h"`
	Stream      stream.Config
	Batch       stream.BatchConfig
	Settle      settle.Config
}

func (s settings) Validate() error {
	return validation.ValidateStruct(&s,
		validation.Field(&s.DatabaseURL, validation.Required),
		validation.Field(&s.MetricsAddr, validation.Required),
		validation.Field(&s.Stream),
		validation.Field(&s.Batch),
		validation.Field(&s.Settle),
	)
}

func run(ctx context.Context, log *slog.Logger, getenv func(string) string, _ io.Writer) error {
	var cfg settings
	if err := service.Settings(log, getenv, "metric-writer", &cfg); err != nil {
		return err
	}
	deps, err := service.Open(ctx, log, "metric-writer", cfg.DatabaseURL, cfg.Stream)
	if err != nil {
		return err
	}
	defer deps.Close()
	reg := obs.Writer.Registerer(deps.Metrics)
	metrics := writer.NewMetrics(reg)
	opts := writer.Options{Batch: cfg.Batch, Settle: cfg.Settle, AfterCommit: cfg.Settle.AfterCommit(log)}
	registry := kind.New()
	parts := pgstore.NewPartitions(deps.Pool)
	// Partitions are made on demand too; ahead of time the common case never
	// waits on DDL.
	go parts.Maintain(ctx, log, cfg.Maintenance, 0, registry.Tables())

	var (
		wg       sync.WaitGroup
		durables []string
		errs     = make(chan error, len(registry.Kinds())+1)
	)
	for _, k := range registry.Kinds() {
		if !k.HasWriter() {
			log.Info("no writer yet: parts stay in the stream", "kind", k.Name)
			continue
		}
		cons, err := stream.EnsureConsumer(ctx, deps.JS, cfg.Stream.Name, stream.ConsumerSpec{
			Durable:       k.Durable(cfg.Stream.DurablePrefix),
			Filters:       []string{k.Filter(cfg.Stream.SubjectPrefix)},
			AckWait:       cfg.Batch.AckWait(),
			MaxAckPending: cfg.Batch.MaxAckPending(),
		})
		if err != nil {
			return err
		}
		durables = append(durables, k.Durable(cfg.Stream.DurablePrefix))
		w := writer.New(log, k, deps.Pool, parts, opts, metrics)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Run(ctx, cons); err != nil {
				errs <- err
			}
		}()
	}
	// Both consumers export the stream's fill: it stays visible while
	// either one is down.
	reg.MustRegister(stream.NewLagCollector(log, deps.JS, cfg.Stream.Name, true, durables...))
	srvCtx, stopSrv := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSrv()
	go func() {
		if err := obs.Serve(srvCtx, log, cfg.MetricsAddr, obs.Handler(deps.Ready, deps.Metrics, cfg.Pprof)); err != nil {
			errs <- err
		}
	}()
	log.Info("metric-writer ready")
	select {
	case <-ctx.Done():
	case err := <-errs:
		return err
	}
	deps.Ready.ShuttingDown()
	log.Info("draining: writing what was pulled, then stopping")
	wg.Wait()
	// The health server may still report into errs: look, do not close.
	select {
	case err := <-errs:
		return err
	default:
	}
	log.Info("metric-writer stopped cleanly")
	return nil
}
