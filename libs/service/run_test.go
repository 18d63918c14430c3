package service_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/healthexport/libs/service"
)

var errBroken = errors.New("broken")

// recorder notes when each task ended, on the bubble's clock.
type recorder struct {
	mu    sync.Mutex
	start time.Time
	ended map[string]time.Duration
	cause map[string]error
}

func newRecorder() *recorder {
	return &recorder{start: time.Now(), ended: map[string]time.Duration{}, cause: map[string]error{}}
}

func (r *recorder) end(name string, drain context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ended[name] = time.Since(r.start)
	r.cause[name] = context.Cause(drain)
}

// worker takes work until stop, then needs finish to complete what it began
// (cut short when drain ends).
func (r *recorder) worker(name string, finish time.Duration) service.Task {
	return func(stop, drain context.Context) error {
		<-stop.Done()
		select {
		case <-time.After(finish):
		case <-drain.Done():
		}
		r.end(name, drain)
		return nil
	}
}

func (r *recorder) failing(name string, after time.Duration) service.Task {
	return func(stop, drain context.Context) error {
		time.Sleep(after)
		r.end(name, drain)
		return errBroken
	}
}

// TestRunOwnsEveryTask: whatever stops the service, Run returns only after
// every task has ended, support after work, within SHUTDOWN_GRACE of the
// stop; a failing worker stops its siblings and its error is returned.
func TestRunOwnsEveryTask(t *testing.T) {
	const grace = 30 * time.Second
	cases := []struct {
		name     string
		work     func(r *recorder) []service.Task
		cancelAt time.Duration // 0: never
		wantErr  error
		// every task ended by then; support after the last worker
		wantEnd time.Duration
		cut     bool // drain cut at grace
	}{
		{
			name: "SIGTERM drains",
			work: func(r *recorder) []service.Task {
				return []service.Task{r.worker("a", time.Second), r.worker("b", 3*time.Second)}
			},
			cancelAt: 10 * time.Second, wantEnd: 13 * time.Second,
		},
		{
			name: "a failing worker stops its siblings",
			work: func(r *recorder) []service.Task {
				return []service.Task{r.worker("a", 2*time.Second), r.failing("b", 5*time.Second), r.worker("c", time.Second)}
			},
			wantErr: errBroken, wantEnd: 7 * time.Second,
		},
		{
			name: "a drain longer than the grace is cut",
			work: func(r *recorder) []service.Task {
				return []service.Task{r.worker("a", time.Hour), r.worker("b", time.Second)}
			},
			cancelAt: 10 * time.Second, wantEnd: 10*time.Second + grace, cut: true,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRecorder()
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				if c.cancelAt > 0 {
					time.AfterFunc(c.cancelAt, cancel)
				}
				stopped := false
				var workers int
				tasks := service.Tasks{
					Work: c.work(r),
					// The health server: until the work has ended.
					Support: []service.Task{func(stop, drain context.Context) error {
						<-stop.Done()
						r.mu.Lock()
						workers = len(r.ended)
						r.mu.Unlock()
						r.end("support", drain)
						return nil
					}},
					OnStop: func() { stopped = true },
				}
				err := service.Run(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), grace, tasks)
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("Run = %v, want %v", err, c.wantErr)
				}
				if returned := time.Since(r.start); returned != c.wantEnd {
					t.Errorf("Run returned after %v, want %v", returned, c.wantEnd)
				}
				synctest.Wait()
				if len(r.ended) != len(tasks.Work)+1 {
					t.Errorf("ended %v: want every task ended before Run returned", r.ended)
				}
				if workers != len(tasks.Work) {
					t.Errorf("support stopped when %d of %d workers had ended", workers, len(tasks.Work))
				}
				if !stopped {
					t.Error("OnStop did not run")
				}
				if got := errors.Is(r.cause["a"], service.ErrGraceExceeded); got != c.cut {
					t.Errorf("drain cause %v, cut = %v, want %v", r.cause["a"], got, c.cut)
				}
			})
		})
	}
}

// TestRunSupportFailureStopsWork: the health server failing to listen stops
// the workers, which drain, and Run returns its error.
func TestRunSupportFailureStopsWork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRecorder()
		errListen := errors.New("listen: address already in use")
		err := service.Run(t.Context(), slog.New(slog.NewTextHandler(io.Discard, nil)), time.Minute, service.Tasks{
			Work: []service.Task{r.worker("a", 2*time.Second), r.worker("b", time.Second)},
			Support: []service.Task{func(stop, drain context.Context) error {
				r.end("support", drain)
				return errListen
			}},
		})
		if !errors.Is(err, errListen) {
			t.Fatalf("Run = %v, want %v", err, errListen)
		}
		if got := time.Since(r.start); got != 2*time.Second {
			t.Errorf("Run returned after %v, want 2s (the longer drain)", got)
		}
		if len(r.ended) != 3 {
			t.Errorf("ended %v, want all three", r.ended)
		}
	})
}

// TestMemoryLimit reads GOMEMLIMIT as the runtime does.
func TestMemoryLimit(t *testing.T) {
	for _, c := range []struct {
		in   string
		want service.MemoryLimit
		bad  bool
	}{
		{in: "400MiB", want: 400 << 20},
		{in: "1GiB", want: 1 << 30},
		{in: "65536KiB", want: 64 << 20},
		{in: "123456789", want: 123456789},
		{in: "100B", want: 100},
		{in: "off", want: math.MaxInt64},
		{in: "ten", bad: true},
		{in: "-1MiB", bad: true},
		{in: "1.5GiB", bad: true},
		{in: "1MB", bad: true},
		{in: "99999999TiB", bad: true},
	} {
		var m service.MemoryLimit
		err := m.UnmarshalText([]byte(c.in))
		if c.bad {
			if err == nil {
				t.Errorf("%q: read as %d, want an error", c.in, m)
			}
			continue
		}
		if err != nil || m != c.want {
			t.Errorf("%q: %d, %v; want %d", c.in, m, err, c.want)
		}
	}
}
