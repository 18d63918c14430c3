package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	validation "github.com/go-ozzo/ozzo-validation/v4"

	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/obs"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/service"
	"github.com/healthexport/libs/settle"
	"github.com/healthexport/libs/stream"
	"github.com/healthexport/services/raw-archiver/internal/archive"
)

// settings are the raw-archiver's; each nested struct is validated by the
// package that owns it (config.Validate).
type settings struct {
	Service     service.Config
	MetricsAddr string `env:"ARCHIVER_METRICS_ADDR" envDefault:"127.0.0.1:9101" help:"Where the raw-archiver serves /livez, /readyz and /metrics (host:port)."`
	Maintenance pgstore.MaintenanceConfig
	// RawRetention drops raw_ingestions months older than this (0: keep
	// everything, the default: the archive is what rebuilds tables once the
	// stream has aged out).
	RawRetention time.Duration `env:"RAW_RETENTION" zero:"keep everything" help:"Drop raw_ingestions months older than this (at least STREAM_MAX_AGE): the archive is what rebuilds a table once the stream has aged out."`
	Stream       stream.Config
	Batch        stream.BatchConfig
	Settle       settle.Config
}

func (s settings) Validate() error {
	return validation.ValidateStruct(&s,
		validation.Field(&s.MetricsAddr, validation.Required, obs.ListenAddress{}),
		// Retention shorter than the stream's MaxAge would drop what a
		// rebuild may still need from the archive.
		validation.Field(&s.RawRetention, validation.Min(time.Duration(0)),
			validation.When(s.RawRetention > 0, validation.Min(s.Stream.MaxAge).Error("must be at least STREAM_MAX_AGE"))),
	)
}

// durable is the archiver's consumer name (after DURABLE_PREFIX).
const durable = "raw-archiver"

// run starts the archiver, the partition maintenance (and retention) and the
// health server under one owner (service.Run): the first to fail stops the
// others, and run returns once all have ended.
func run(ctx context.Context, log *slog.Logger, args []string, getenv func(string) string, stdout io.Writer) error {
	var cfg settings
	if done, err := service.Args(args, stdout, &cfg); done || err != nil {
		return err
	}
	if err := service.Settings(log, getenv, "raw-archiver", &cfg); err != nil {
		return err
	}
	deps, err := service.Open(ctx, log, "raw-archiver", cfg.Service, cfg.Stream)
	if err != nil {
		return err
	}
	defer deps.Close()
	cons, err := stream.EnsureConsumer(ctx, deps.JS, cfg.Stream.Name, stream.ConsumerSpec{
		Durable:       cfg.Stream.DurablePrefix + durable,
		Filters:       []string{cfg.Stream.IngestSubjects(), cfg.Stream.ManifestSubjects()},
		AckWait:       cfg.Batch.AckWait(),
		MaxAckPending: cfg.Batch.MaxAckPending(),
	})
	if err != nil {
		return err
	}
	parts := pgstore.NewPartitions(deps.Pool)
	raw := pgstore.NewBookkeeping().RawIngestions
	opts := archive.Options{Batch: cfg.Batch, Settle: cfg.Settle, AfterCommit: cfg.Settle.AfterCommit(log)}
	var kinds []string
	for _, k := range kind.New().Kinds() {
		kinds = append(kinds, k.Name)
	}
	reg := obs.Archiver.Registerer(deps.Metrics)
	arch := archive.New(log, deps.Pool, parts, opts, archive.NewMetrics(reg, kinds...))
	reg.MustRegister(stream.NewLagCollector(log, deps.JS, cfg.Stream.Name, true, cfg.Stream.DurablePrefix+durable))

	log.Info("raw-archiver ready")
	err = deps.Run(ctx, log, cfg.Service, cfg.MetricsAddr,
		func(stop, _ context.Context) error {
			parts.Maintain(stop, log, cfg.Maintenance.Every, cfg.RawRetention, []*pgstore.Table{raw}, raw)
			return nil
		},
		func(stop, drain context.Context) error { return arch.Run(stop, drain, cons) })
	if err != nil {
		return err
	}
	log.Info("raw-archiver stopped cleanly")
	return nil
}
