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

// minuteBody is n minutes of heart rate from the Watch and steps from the
// Watch and the iPhone, from minute first after 2025-06-01 00:00 -0700.
func minuteBody(first, n int) []byte {
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.FixedZone("", -7*3600))
	var hr, steps strings.Builder
	for i := range n {
		at := base.Add(time.Duration(first+i) * time.Minute).Format("2006-01-02 15:04:05 -0700")
		if i > 0 {
			hr.WriteByte(',')
			steps.WriteByte(',')
		}
		fmt.Fprintf(&hr, `{"date":"%s","Min":%d,"Avg":%d.5,"Max":%d,"source":"Ana’s Apple Watch"}`, at, 50+i%40, 60+i%40, 70+i%40)
		fmt.Fprintf(&steps, `{"date":"%s","qty":%d,"source":"Ana’s Apple Watch"},{"date":"%s","qty":%d,"source":"iPhone de Ana"}`, at, i%90, at, i%80)
	}
	return []byte(`{"data":{"metrics":[{"name":"heart_rate","units":"count/min","data":[` + hr.String() +
		`]},{"name":"step_count","units":"count","data":[` + steps.String() + `]}]}}`)
}

// BenchmarkWriterSummaries measures what keeping the summaries costs the
// writer: each op writes a batch of a week of minutes (10,080 heart-rate
// rows, or 20,160 step rows from the Watch and the iPhone) as the
// metric-writer does: new data with and without summaries, the same batch
// again (the app resends), and, apart, only the summary refresh of the
// batch's days.
func BenchmarkWriterSummaries(b *testing.B) {
	const week = 7 * 24 * 60
	for _, kindName := range []string{"heart_rate", "quantity"} {
		r := newRig(b)
		w := r.writers[kindName]
		ctx := context.Background()
		batch := func(i int) []*partwrite.Decoded {
			var out []*partwrite.Decoded
			for _, p := range r.cut(b, minuteBody(i*week, week), stream.OriginUpload, time.Now()) {
				if p.Meta.Kind == kindName {
					out = append(out, w.Decode(p))
				}
			}
			return out
		}
		metric := map[string]string{"heart_rate": "heart_rate", "quantity": "step_count"}[kindName]
		written := 0
		b.Run(kindName+"/write-new", func(b *testing.B) {
			b.StopTimer()
			for range b.N {
				d := batch(written)
				written++
				b.StartTimer()
				if _, err := w.Write(ctx, d); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
			}
		})
		bare := w.WithoutSummaries()
		b.Run(kindName+"/write-new-without-summaries", func(b *testing.B) {
			b.StopTimer()
			for range b.N {
				d := batch(written)
				written++
				b.StartTimer()
				if _, err := bare.Write(ctx, d); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
			}
		})
		b.Run(kindName+"/write-resend", func(b *testing.B) {
			b.StopTimer()
			for i := range b.N {
				d := batch(i % written)
				b.StartTimer()
				if _, err := w.Write(ctx, d); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
			}
		})
		m := summary.New(r.reg)
		b.Run(kindName+"/refresh-only", func(b *testing.B) {
			b.StopTimer()
			for i := range b.N {
				ks := weekKeys(r.user, metric, i%written)
				b.StartTimer()
				if err := pgx.BeginFunc(ctx, r.db.Pool, func(tx pgx.Tx) error { return m.Refresh(ctx, tx, ks, true) }); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
			}
		})
	}
}

// weekKeys are the summaries batch i touches: its local days (-0700).
func weekKeys(user [16]byte, metric string, i int) summary.Keys {
	const week = 7 * 24 * 60
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	ks := summary.Keys{}
	for m := i * week; m < (i+1)*week; m += 60 {
		ks.Add(user, metric, kind.DayOf(base.Add(time.Duration(m)*time.Minute)))
	}
	return ks
}
