package kind_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/pgstore"
)

type discard struct{}

func (discard) Row(*pgstore.Table, int64, ...any) {}
func (discard) Reject(string, string, []byte)     {}

type collect struct{ rows [][]any }

func (c *collect) Row(_ *pgstore.Table, ord int64, values ...any) {
	c.rows = append(c.rows, kind.FullRow(&kind.Env{}, ord, values))
}
func (c *collect) Reject(string, string, []byte) {}

func hrItems(n int) []hae.Item {
	var b strings.Builder
	b.WriteString(`{"data":{"metrics":[{"name":"heart_rate","units":"count/min","data":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "\n     {\n      \"date\": \"2025-03-01 %02d:%02d:00 -0800\",\n      \"Min\": 58,\n      \"Avg\": 71.25,\n      \"Max\": 96,\n      \"source\": \"Ana’s Apple Watch\"\n     }", i/60%24, i%60)
	}
	b.WriteString(`]}]}}`)
	var items []hae.Item
	_ = hae.Walk([]byte(b.String()), reg, func(it *hae.Item) error {
		c := *it
		items = append(items, c)
		return nil
	})
	return items
}

// BenchmarkDecodeHeartRate is the per-point cost the edge (validating
// only) and the writer (building rows) pay.
func BenchmarkDecodeHeartRate(b *testing.B) {
	items := hrItems(1440)
	k, _ := reg.Lookup("heart_rate")
	env := testEnv()
	for _, tc := range []struct {
		name       string
		validating bool
		sink       func() kind.Sink
	}{
		{"validate", true, func() kind.Sink { return discard{} }}, // the edge
		{"count", false, func() kind.Sink { return discard{} }},
		{"rows", false, func() kind.Sink { return &collect{} }}, // the writer
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			env.Validating = tc.validating
			for b.Loop() {
				s := tc.sink()
				for i := range items {
					k.Decode(&env, &items[i], s)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/point")
		})
	}
}
