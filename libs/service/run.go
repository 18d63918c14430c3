package service

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/healthexport/libs/obs"
)

// Task is a long-running part of a service. It stops taking new work when
// stop ends, finishes what it had begun using drain (which ends
// SHUTDOWN_GRACE after stop), and returns; or it returns early with an
// error, which stops every other task.
type Task func(stop, drain context.Context) error

// Tasks are what a service runs, in two tiers.
type Tasks struct {
	// Work consumes or serves: the workers of the consumers, the edge's
	// HTTP server. Its stop ends with the service's context or the first
	// error.
	Work []Task
	// Support serves the work (the health and metrics server, background
	// flushes of what the work recorded): its stop ends only once every
	// Work task has ended, so it outlives them and sees their last effects.
	Support []Task
	// OnStop runs when the work is told to stop (a readiness flip).
	OnStop func()
}

// ErrGraceExceeded is the cause of drain ending: shutdown took longer than
// SHUTDOWN_GRACE, and writes still running are cut (their messages are not
// acknowledged, so JetStream redelivers them).
var ErrGraceExceeded = errors.New("shutdown took longer than SHUTDOWN_GRACE")

// Run owns a service's goroutines: it runs the tasks until ctx ends or one
// fails, and returns only once every one has ended, within grace of the
// stop. The first error is returned; a task ending with nil while the
// service runs is a normal end (for example a server closed by its stop).
func Run(ctx context.Context, log *slog.Logger, grace time.Duration, t Tasks) error {
	g, stop := errgroup.WithContext(ctx)
	drain, cut := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cut(nil)
	workEnded, endSupport := context.WithCancel(context.WithoutCancel(ctx))
	defer endSupport()
	if t.OnStop != nil {
		defer context.AfterFunc(stop, t.OnStop)()
	}

	var work, all sync.WaitGroup
	start := func(wg *sync.WaitGroup, stop context.Context, task Task) {
		wg.Add(1)
		all.Add(1)
		g.Go(func() error {
			defer all.Done()
			defer wg.Done()
			return task(stop, drain)
		})
	}
	var support sync.WaitGroup
	for _, task := range t.Work {
		start(&work, stop, task)
	}
	for _, task := range t.Support {
		start(&support, workEnded, task)
	}
	allEnded := make(chan struct{})
	g.Go(func() error {
		work.Wait()
		endSupport()
		all.Wait()
		close(allEnded)
		return nil
	})
	// The shutdown clock: from the stop, the tasks have grace to end.
	g.Go(func() error {
		select {
		case <-allEnded:
			return nil
		case <-stop.Done():
		}
		log.Info("stopping: finishing what was begun", "grace", grace.String())
		clock := time.NewTimer(grace)
		defer clock.Stop()
		select {
		case <-allEnded:
		case <-clock.C:
			log.Warn("shutdown took longer than SHUTDOWN_GRACE: cutting the writes still running; their messages are redelivered", "grace", grace.String())
			cut(ErrGraceExceeded)
		}
		return nil
	})
	return g.Wait()
}

// Run runs a consumer's work under one owner (Run), with its health and
// metrics server on addr as support: the server answers (not ready) while
// the work drains and stops after it.
func (d *Deps) Run(ctx context.Context, log *slog.Logger, cfg Config, addr string, work ...Task) error {
	return Run(ctx, log, cfg.ShutdownGrace, Tasks{
		Work: work,
		Support: []Task{func(stop, _ context.Context) error {
			return obs.Serve(stop, log, addr, obs.Handler(d.Ready, d.Metrics, cfg.Pprof))
		}},
		OnStop: d.Ready.ShuttingDown,
	})
}
