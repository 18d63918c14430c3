package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthexport/libs/stream"
)

type lagCmd struct {
	JSON     bool          `help:"Print JSON instead of a table."`
	Watch    bool          `help:"Print again every interval until interrupted."`
	Interval time.Duration `default:"2s" help:"How long to watch the consumers to measure their drain rate."`
}

// lagRow is one consumer's lag with its measured drain rate.
type lagRow struct {
	stream.ConsumerLag
	LastActiveAgoS *float64 `json:"last_active_ago_s"`
	DrainPerS      float64  `json:"drain_rate_per_s"`
	TimeToDrainS   *float64 `json:"time_to_drain_s"` // null: not draining
}

type lagReport struct {
	Stream    stream.StreamState `json:"stream"`
	Consumers []lagRow           `json:"consumers"`
	At        time.Time          `json:"at"`
}

func (c *lagCmd) Run(e *env) error {
	nc, err := e.cfg.Stream.Dial(nats.Name("healthctl lag"), nats.Timeout(5*time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	for {
		rep, err := measureLag(e.Ctx, js, e.cfg.Stream.Name, c.Interval)
		if err != nil {
			return err
		}
		if c.JSON {
			enc := json.NewEncoder(e.Stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(rep); err != nil {
				return err
			}
		} else if err := printLag(e.Stdout, rep); err != nil {
			return err
		}
		if !c.Watch {
			return nil
		}
		if e.Ctx.Err() != nil {
			return nil
		}
	}
}

// measureLag reads every consumer twice, interval apart: the drain rate is
// how fast the ack floor moved.
func measureLag(ctx context.Context, js jetstream.JetStream, name string, interval time.Duration) (*lagReport, error) {
	_, before, err := stream.Lag(ctx, js, name)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(interval):
	}
	st, after, err := stream.Lag(ctx, js, name)
	if err != nil {
		return nil, err
	}
	elapsed := time.Since(t0).Seconds()
	prev := map[string]stream.ConsumerLag{}
	for _, l := range before {
		prev[l.Consumer] = l
	}
	rep := &lagReport{Stream: st, At: time.Now().UTC()}
	for _, l := range after {
		r := lagRow{ConsumerLag: l}
		if p, ok := prev[l.Consumer]; ok && l.Acked >= p.Acked {
			r.DrainPerS = float64(l.Acked-p.Acked) / elapsed
		}
		if l.LastActive != nil {
			ago := time.Since(*l.LastActive).Seconds()
			r.LastActiveAgoS = &ago
		}
		switch backlog := float64(l.Backlog()); {
		case backlog == 0:
			zero := 0.0
			r.TimeToDrainS = &zero
		case r.DrainPerS > 0:
			t := backlog / r.DrainPerS
			r.TimeToDrainS = &t
		}
		rep.Consumers = append(rep.Consumers, r)
	}
	sort.Slice(rep.Consumers, func(i, j int) bool { return rep.Consumers[i].Consumer < rep.Consumers[j].Consumer })
	return rep, nil
}

func printLag(w io.Writer, rep *lagReport) error {
	st := rep.Stream
	fill := 0.0
	if st.MaxBytes > 0 {
		fill = 100 * float64(st.Bytes) / float64(st.MaxBytes)
	}
	fmt.Fprintf(w, "stream %s: %d messages, %s of %s (%.1f%% full), sequences %d..%d\n",
		st.Name, st.Messages, bytesHuman(float64(st.Bytes)), bytesHuman(float64(st.MaxBytes)), fill, st.FirstSeq, st.LastSeq)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONSUMER\tPENDING\tACK PENDING\tREDELIVERED\tLAST ACTIVE\tDRAIN/S\tTIME TO DRAIN\t")
	for _, c := range rep.Consumers {
		last := "never"
		if c.LastActiveAgoS != nil {
			last = durationHuman(*c.LastActiveAgoS) + " ago"
		}
		ttd := "not draining"
		if c.TimeToDrainS != nil {
			ttd = durationHuman(*c.TimeToDrainS)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d/%d\t%d\t%s\t%.1f\t%s\t\n", c.Consumer, c.Pending, c.AckPending, c.MaxAckPending, c.Redelivered, last, c.DrainPerS, ttd)
	}
	return tw.Flush()
}

func durationHuman(s float64) string {
	switch {
	case s < 1:
		return "0s"
	case s < 120:
		return fmt.Sprintf("%.0fs", s)
	case s < 7200:
		return fmt.Sprintf("%.0fm", s/60)
	}
	return fmt.Sprintf("%.1fh", s/3600)
}

func bytesHuman(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	return fmt.Sprintf("%.*f %s", int(math.Min(float64(i), 1)), b, units[i])
}
