package summary_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/partwrite"
	"github.com/healthexport/libs/stream"
	"github.com/healthexport/libs/summary"
)

// points is a body of one metric: minutes from..to (exclusive) after
// 2025-06-01 00:00 in offset off, each with a value from base to base+99,
// from source.
func points(metric, units, source, off string, from, to int, base float64) string {
	start, err := time.Parse("2006-01-02 15:04:05 -0700", "2025-06-01 00:00:00 "+off)
	if err != nil {
		panic(err)
	}
	var b strings.Builder
	for m := from; m < to; m++ {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		at := start.Add(time.Duration(m) * time.Minute).Format("2006-01-02 15:04:05 -0700")
		v := float64((m%100+100)%100) + base
		if metric == "heart_rate" {
			fmt.Fprintf(&b, `{"date":%q,"Min":%g,"Avg":%g,"Max":%g,"source":%q}`, at, v-1, v+0.25, v+3, source)
		} else {
			fmt.Fprintf(&b, `{"date":%q,"qty":%g,"source":%q}`, at, v/7, source)
		}
	}
	return fmt.Sprintf(`{"name":%q,"units":%q,"data":[%s]}`, metric, units, b.String())
}

func body(metrics ...string) []byte {
	return []byte(`{"data":{"metrics":[` + strings.Join(metrics, ",") + `]}}`)
}

// TestMergeMatchesRecompute writes batches of new rows, as the
// metric-writer does, and checks after each that the days merged without
// being read again are exactly what recomputing them from their rows
// gives, and that the days the plain sum cannot summarise (a second
// source of a total, an import beside uploads, other units) were
// recomputed rather than merged.
func TestMergeMatchesRecompute(t *testing.T) {
	const (
		watch  = "Ana’s Apple Watch"
		iphone = "iPhone de Ana"
		day    = 24 * 60
	)
	type batch struct {
		body       []byte
		origin     string
		wantMerged int // days that must have taken the rows without a recompute
	}
	upload := func(b []byte, merged int) batch { return batch{b, stream.OriginUpload, merged} }
	for _, tc := range []struct {
		name    string
		kind    string
		batches []batch
	}{
		{"heart rate: one source, then a second, then both", "heart_rate", []batch{
			upload(body(points("heart_rate", "count/min", watch, "-0700", 0, 300, 50)), 1),
			upload(body(points("heart_rate", "count/min", watch, "-0700", 300, 2*day, 50)), 2),
			// a new source on a day: its place among the sources is the
			// priority's, so the day is recomputed
			upload(body(points("heart_rate", "count/min", iphone, "-0700", 0, 60, 70)), 0),
			upload(body(points("heart_rate", "count/min", watch, "-0700", 2*day, 2*day+30, 40),
				points("heart_rate", "count/min", iphone, "-0700", 60, 90, 90)), 2),
		}},
		{"steps: one source, a second one overlapping, the first again", "quantity", []batch{
			upload(body(points("step_count", "count", watch, "+0100", 0, 500, 0)), 1),
			upload(body(points("step_count", "count", watch, "+0100", 500, 900, 0)), 1),
			upload(body(points("step_count", "count", iphone, "+0100", 0, 900, 3)), 0),
			upload(body(points("step_count", "count", watch, "+0100", 900, 950, 0)), 0),
			// a new day of the Watch alone
			upload(body(points("step_count", "count", watch, "+0100", day, day+10, 0)), 1),
		}},
		{"an import beside uploads, other units, a trip", "quantity", []batch{
			upload(body(points("active_energy", "kcal", watch, "-0500", 0, 100, 0),
				points("body_mass", "kg", iphone, "-0500", 0, 3, 60)), 2),
			{body(points("active_energy", "kcal", watch, "-0500", 100, 200, 0)), stream.OriginImport, 0},
			upload(body(points("body_mass", "lb", iphone, "-0500", 3, 5, 130)), 0),
			upload(body(points("body_mass", "kg", iphone, "-0500", 5, 6, 60)), 0),
			// the day before, in another offset
			upload(body(points("body_mass", "kg", iphone, "+0900", 10-day, 12-day, 60)), 1),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			ctx := context.Background()
			w := r.writers[tc.kind]
			for i, b := range tc.batches {
				var batch []*partwrite.Decoded
				for _, p := range r.cut(t, b.body, b.origin, time.Now()) {
					if p.Meta.Kind != tc.kind {
						t.Fatalf("batch %d: a %s part", i, p.Meta.Kind)
					}
					batch = append(batch, w.Decode(p))
				}
				res, err := w.Write(ctx, batch)
				if err != nil {
					t.Fatal(err)
				}
				if res.Merged != b.wantMerged {
					t.Errorf("batch %d: %d of %d days merged, want %d (%+v)", i, res.Merged, res.Summaries, b.wantMerged, res)
				}
				merged := r.dump(t)
				r.recomputeAll(t)
				if got := r.dump(t); got != merged {
					t.Fatalf("batch %d: merged summaries differ from their recompute:\nmerged    %s\nrecomputed %s", i, merged, got)
				}
			}
		})
	}
}

// recomputeAll recomputes every stored summary from its rows.
func (r *rig) recomputeAll(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	rows, err := r.db.Pool.Query(ctx, `SELECT user_id, metric, day FROM daily_summaries`)
	if err != nil {
		t.Fatal(err)
	}
	keys := summary.Keys{}
	var (
		u      [16]byte
		metric string
		day    time.Time
	)
	if _, err := pgx.ForEachRow(rows, []any{&u, &metric, &day}, func() error {
		keys.Add(u, metric, kind.DayOf(day))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	m := summary.New(r.reg)
	if err := pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error { return m.Refresh(ctx, tx, keys, false) }); err != nil {
		t.Fatal(err)
	}
}

// TestUnchangedResendTouchesNoSummary: the app sends the day so far again
// and again; a batch that changes no row changes no summary and costs
// none, while one with a changed value among its resent rows refreshes its
// days, and the result is the recompute's.
func TestUnchangedResendTouchesNoSummary(t *testing.T) {
	const watch = "Ana’s Apple Watch"
	day := 24 * 60
	r := newRig(t)
	ctx := context.Background()
	w := r.writers["quantity"]
	write := func(b []byte) *partwrite.Result {
		t.Helper()
		var batch []*partwrite.Decoded
		for _, p := range r.cut(t, b, stream.OriginUpload, time.Now()) {
			batch = append(batch, w.Decode(p))
		}
		res, err := w.Write(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	week := body(points("step_count", "count", watch, "-0700", 0, 7*day, 0))
	if res := write(week); res.Summaries != 7 || res.Merged != 7 {
		t.Fatalf("the first week: %d days touched, %d merged, want 7 and 7", res.Summaries, res.Merged)
	}
	for _, c := range []struct {
		name      string
		body      []byte
		summaries int
	}{
		{"the week again", week, 0},
		{"the week again, one minute of the fourth day changed", body(
			points("step_count", "count", watch, "-0700", 0, 3*day+5, 0),
			points("step_count", "count", watch, "-0700", 3*day+5, 3*day+6, 1),
			points("step_count", "count", watch, "-0700", 3*day+6, 7*day, 0)), 7},
		{"the last day again", body(points("step_count", "count", watch, "-0700", 6*day, 7*day, 0)), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := r.dump(t)
			res := write(c.body)
			if res.Summaries != c.summaries {
				t.Errorf("%d days touched, want %d", res.Summaries, c.summaries)
			}
			after := r.dump(t)
			if c.summaries == 0 && after != before {
				t.Errorf("an unchanged resend changed the summaries:\nbefore %s\nafter  %s", before, after)
			}
			r.recomputeAll(t)
			if got := r.dump(t); got != after {
				t.Errorf("summaries differ from their recompute:\nwritten    %s\nrecomputed %s", after, got)
			}
		})
	}
}
