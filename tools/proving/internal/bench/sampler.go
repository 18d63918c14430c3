package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthexport/libs/obs"
	"github.com/healthexport/tools/proving/internal/proc"
)

// Sample is the pipeline at one moment.
type Sample struct {
	T          float64            `json:"t_s"`
	RowsByKind map[string]float64 `json:"rows_written"` // cumulative, from the writer's metrics
	Pending    float64            `json:"pending"`      // every consumer's backlog
	AckPending float64            `json:"ack_pending"`
	RSSMB      map[string]float64 `json:"rss_mb"`
}

// sampler watches memory, lag and rows written every 250 ms.
type sampler struct {
	st    *stack
	pool  *pgxpool.Pool
	mu    sync.Mutex
	t0    time.Time
	data  []Sample
	peak  map[string]float64 // since resetPeaks
	all   map[string]float64 // whole run
	mark  int                // index of the sample where the end-to-end phase began
	phase int                // index of the sample where the phase being waited for began
	stopC chan struct{}
	done  chan struct{}
}

func newSampler(st *stack, pool *pgxpool.Pool) *sampler {
	return &sampler{st: st, pool: pool, peak: map[string]float64{}, all: map[string]float64{}, mark: -1,
		stopC: make(chan struct{}), done: make(chan struct{})}
}

func (s *sampler) start(ctx context.Context) {
	s.t0 = time.Now()
	go func() {
		defer close(s.done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-ctx.Done():
				return
			case <-s.stopC:
				return
			case <-t.C:
			}
		}
	}()
}

func (s *sampler) stop() {
	close(s.stopC)
	<-s.done
}

func (s *sampler) sample() {
	smp := Sample{T: time.Since(s.t0).Seconds(), RowsByKind: map[string]float64{}, RSSMB: map[string]float64{}}
	for name, pid := range s.st.pids() {
		smp.RSSMB[name] = proc.RSSMiB(pid)
	}
	subsystems := map[string]obs.Subsystem{"raw-archiver": obs.Archiver, "metric-writer": obs.Writer}
	for inst, url := range s.st.metrics {
		sub, ok := subsystems[proc.Binary(inst)]
		if !ok {
			continue
		}
		// Rows from every instance; the consumers' backlog, which every
		// instance reads from JetStream alike, from the first only.
		first := inst == proc.Binary(inst)
		for _, m := range scrape(url) {
			switch strings.TrimPrefix(m.name, sub.Prefix()) {
			case "rows_written_total":
				smp.RowsByKind[m.label("kind")] += m.value
			case "consumer_pending":
				if first {
					smp.Pending += m.value
				}
			case "consumer_ack_pending":
				if first {
					smp.AckPending += m.value
				}
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data = append(s.data, smp)
	for n, v := range smp.RSSMB {
		s.peak[n] = max(s.peak[n], v)
		s.all[n] = max(s.all[n], v)
	}
}

func (s *sampler) resetPeaks() {
	s.mu.Lock()
	s.peak = map[string]float64{}
	s.mu.Unlock()
}

func (s *sampler) peaks() map[string]float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copyMap(s.peak)
}

func (s *sampler) allPeaks() map[string]float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return copyMap(s.all)
}

func (s *sampler) series() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample(nil), s.data...)
}

func (s *sampler) last() Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.data) == 0 {
		return Sample{}
	}
	return s.data[len(s.data)-1]
}

func (s *sampler) markE2E() {
	s.sample()
	s.mu.Lock()
	s.mark = len(s.data) - 1
	s.mu.Unlock()
}

// drained waits until no consumer has anything pending or unacknowledged.
func (s *sampler) drained(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		s.sample()
		if l := s.last(); l.Pending == 0 && l.AckPending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("consumers not drained after %v", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// waitRows waits until the writer has written want rows of kind since
// markE2E (its counter, read with the samples: counting the table every
// few milliseconds would load PostgreSQL, the thing measured), confirms
// the count in the database, and returns when the last row was committed.
func (s *sampler) waitRows(ctx context.Context, kind string, table string, before, want int64, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	s.mu.Lock()
	base := s.data[s.mark].RowsByKind[kind]
	s.mu.Unlock()
	for {
		s.sample()
		l := s.last()
		if int64(l.RowsByKind[kind]-base) >= want {
			at := s.t0.Add(time.Duration(l.T * float64(time.Second)))
			var n int64
			if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
				return time.Time{}, err
			}
			if n-before >= want {
				return at, nil
			}
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%s: %.0f of %d rows written after %v", table, l.RowsByKind[kind]-base, want, timeout)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// markPhase marks the start of a phase waitPhaseRows waits for.
func (s *sampler) markPhase() {
	s.sample()
	s.mu.Lock()
	s.phase = len(s.data) - 1
	s.mu.Unlock()
}

// waitPhaseRows waits until the writers have written want rows of every
// kind but those excluded since markPhase, and returns when the last of
// them was committed.
func (s *sampler) waitPhaseRows(ctx context.Context, want int64, timeout time.Duration, exclude ...string) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	sum := func(smp Sample) float64 {
		n := 0.0
		for k, v := range smp.RowsByKind {
			if !slices.Contains(exclude, k) {
				n += v
			}
		}
		return n
	}
	s.mu.Lock()
	base := sum(s.data[s.phase])
	s.mu.Unlock()
	for {
		s.sample()
		l := s.last()
		if got := int64(sum(l) - base); got >= want {
			return s.t0.Add(time.Duration(l.T * float64(time.Second))), nil
		} else if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%d of %d rows written after %v", got, want, timeout)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// writerRates is rows written per second per kind during the end-to-end
// phase.
func (s *sampler) writerRates() map[string]float64 {
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]float64{}
	if s.mark < 0 || s.mark >= len(s.data)-1 {
		return out
	}
	a, b := s.data[s.mark], s.data[len(s.data)-1]
	// The phase ends when its last rows were written, not when waiting did.
	end := b
	for i := len(s.data) - 1; i > s.mark; i-- {
		if s.data[i].RowsByKind["heart_rate"] < b.RowsByKind["heart_rate"] {
			break
		}
		end = s.data[i]
	}
	for k, v := range end.RowsByKind {
		if d := v - a.RowsByKind[k]; d > 0 && end.T > a.T {
			out[k] = d / (end.T - a.T)
		}
	}
	return out
}

type metric struct {
	name   string
	labels string
	value  float64
}

func (m metric) label(name string) string {
	for _, kv := range strings.Split(m.labels, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && k == name {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// scrape reads a Prometheus text page (the few series the bench needs).
func scrape(url string) []metric {
	resp, err := http.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var out []metric
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		m := metric{name: line[:sp], value: v}
		if i := strings.IndexByte(m.name, '{'); i >= 0 {
			m.labels = strings.TrimSuffix(m.name[i+1:], "}")
			m.name = m.name[:i]
		}
		out = append(out, m)
	}
	return out
}

func copyMap(m map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
