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

type settings struct {
	DatabaseURL string        `env:"DATABASE_URL,required" mask:"url"`
	MetricsAddr string        `env:"ARCHIVER_METRICS_ADDR" envDefault:"127.0.0.1:9101"`
	LogLevel    string        `env:"LOG_LEVEL" envDefault:"info"`
	Pprof       bool          `env:"PPROF_ENABLED"`
	Maintenance time.Duration `env:"PARTITION_MAINTENANCE_EVERY" envDefault:"1h"`
	// RawRetention drops raw_ingestions months older than this (0: keep
	// everything, the default: the archive is what rebuilds tables once the
	// stream has aged out).
	RawRetention time.Duration `env:"RAW_RETENTION"`
	Stream       stream.Config
	Batch        stream.BatchConfig
	Settle       settle.Config
}

func (s settings) Validate() error {
	return validation.ValidateStruct(&s,
		validation.Field(&s.MetricsAddr, validation.Required),
		validation.Field(&s.Maintenance, validation.Min(time.Minute)),
		// Retention shorter than the stream's MaxAge would drop what a
		// rebuild may still need from the archive.
		validation.Field(&s.RawRetention, validation.When(s.RawRetention > 0, validation.Min(s.Stream.MaxAge))),
		validation.Field(&s.Stream),
		validation.Field(&s.Batch),
		validation.Field(&s.Settle),
	)
}

// durable is the archiver's consumer name (after DURABLE_PREFIX).
const durable = "raw-archiver"

func run(ctx context.Context, log *slog.Logger, getenv func(string) string, _ io.Writer) error {
	var cfg settings
	if err := service.Settings(log, getenv, "raw-archiver", &cfg); err != nil {
		return err
	}
	deps, err := service.Open(ctx, log, "raw-archiver", cfg.DatabaseURL, cfg.Stream)
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
	go parts.Maintain(ctx, log, cfg.Maintenance, cfg.RawRetention, []*pgstore.Table{raw}, raw)
	opts := archive.Options{Batch: cfg.Batch, Settle: cfg.Settle, AfterCommit: cfg.Settle.AfterCommit(log)}
	var kinds []string
	for _, k := range kind.New().Kinds() {
		kinds = append(kinds, k.Name)
	}
	reg := obs.Archiver.Registerer(deps.Metrics)
	arch := archive.New(log, deps.Pool, parts, opts, archive.NewMetrics(reg, kinds...))
	reg.MustRegister(stream.NewLagCollector(log, deps.JS, cfg.Stream.Name, true, cfg.Stream.DurablePrefix+durable))

	srvCtx, stopSrv := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSrv()
	srvErr := make(chan error, 1)
	go func() {
		srvErr <- obs.Serve(srvCtx, log, cfg.MetricsAddr, obs.Handler(deps.Ready, deps.Metrics, cfg.Pprof))
	}()

	runErr := make(chan error, 1)
	go func() { runErr <- arch.Run(ctx, cons) }()
	log.Info("raw-archiver ready")
	select {
	case err := <-srvErr:
		return err
	case <-ctx.Done():
	}
	deps.Ready.ShuttingDown()
	log.Info("draining: archiving what was pulled, then stopping")
	if err := <-runErr; err != nil {
		return err
	}
	log.Info("raw-archiver stopped cleanly")
	return nil
}
