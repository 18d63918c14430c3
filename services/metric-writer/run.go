package main

import (
	"context"
	"io"
	"log/slog"

	validation "github.com/go-ozzo/ozzo-validation/v4"

	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/obs"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/service"
	"github.com/healthexport/libs/settle"
	"github.com/healthexport/libs/stream"
	"github.com/healthexport/libs/summary"
	"github.com/healthexport/services/metric-writer/internal/writer"
)

// settings are the metric-writer's; each nested struct is validated by the
// package that owns it (config.Validate).
type settings struct {
	Service     service.Config
	MetricsAddr string `env:"WRITER_METRICS_ADDR" envDefault:"127.0.0.1:9102" help:"Where the metric-writer serves /livez, /readyz and /metrics (host:port)."`
	Maintenance pgstore.MaintenanceConfig
	Stream      stream.Config
	Batch       stream.BatchConfig
	Settle      settle.Config
}

func (s settings) Validate() error {
	return validation.ValidateStruct(&s, validation.Field(&s.MetricsAddr, validation.Required, obs.ListenAddress{}))
}

// run starts one worker per kind that has a writer, the partition
// maintenance and the health server, under one owner (service.Run): the
// first to fail stops the others, and run returns once all have ended.
func run(ctx context.Context, log *slog.Logger, args []string, getenv func(string) string, stdout io.Writer) error {
	var cfg settings
	if done, err := service.Args(args, stdout, &cfg); done || err != nil {
		return err
	}
	if err := service.Settings(log, getenv, "metric-writer", &cfg); err != nil {
		return err
	}
	deps, err := service.Open(ctx, log, "metric-writer", cfg.Service, cfg.Stream)
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
	// Summaries of whole users (after a source-priority change, and of the
	// data stored before summaries existed) are recomputed in the
	// background; the days a batch touches are refreshed with the batch.
	refresher := summary.NewRefresher(log, deps.Pool, registry)
	work := []service.Task{func(stop, _ context.Context) error {
		parts.Maintain(stop, log, cfg.Maintenance.Every, 0, registry.Tables())
		return nil
	}, func(stop, _ context.Context) error { return refresher.Run(stop) }}
	var durables []string
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
		work = append(work, func(stop, drain context.Context) error { return w.Run(stop, drain, cons) })
	}
	// Both consumers export the stream's fill: it stays visible while
	// either one is down.
	reg.MustRegister(stream.NewLagCollector(log, deps.JS, cfg.Stream.Name, true, durables...))
	log.Info("metric-writer ready")
	if err := deps.Run(ctx, log, cfg.Service, cfg.MetricsAddr, work...); err != nil {
		return err
	}
	log.Info("metric-writer stopped cleanly")
	return nil
}
