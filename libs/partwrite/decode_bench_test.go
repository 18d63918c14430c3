package partwrite_test

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/partwrite"
	"github.com/healthexport/libs/stream"
)

// hrParts cuts a body of n minute-level heart-rate points into parts as
// the edge does.
func hrParts(b *testing.B, n int) []*hae.Part {
	var body strings.Builder
	body.WriteString(`{"data":{"metrics":[{"name":"heart_rate","units":"count/min","data":[`)
	for i := range n {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, "\n     {\n      \"date\": \"2025-03-%02d %02d:%02d:00 -0800\",\n      \"Min\": %d.25,\n      \"Avg\": 71.%04d,\n      \"Max\": 96.5,\n      \"source\": \"Ana’s Apple Watch\"\n     }", 1+i/1440, i/60%24, i%60, 50+i%30, i%9999)
	}
	body.WriteString(`]}]}}`)
	reg := kind.New()
	var parts []*hae.Part
	cut := hae.NewCutter(512<<10, func(p *hae.Part) error { parts = append(parts, p); return nil })
	if err := hae.Walk([]byte(body.String()), reg, func(it *hae.Item) error { _, err := cut.Add(it); return err }); err != nil {
		b.Fatal(err)
	}
	if err := cut.Flush(); err != nil {
		b.Fatal(err)
	}
	return parts
}

// BenchmarkDecodePart is the metric-writer's cost per point before the
// database: a part turned into rows.
func BenchmarkDecodePart(b *testing.B) {
	parts := hrParts(b, 20000)
	k, _ := kind.New().Lookup("heart_rate")
	w := partwrite.New(slog.New(slog.NewTextHandler(io.Discard, nil)), k, nil, nil)
	meta := stream.Meta{UserID: uuid.New(), IngestionID: strings.Repeat("ab", 32), PartID: "p", Kind: "heart_rate", Seq: 9, ReceivedAt: time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC), From: stream.OriginUpload}
	b.ReportAllocs()
	rows := 0
	for b.Loop() {
		for _, p := range parts {
			rows += w.Decode(&partwrite.Part{Meta: meta, Payload: p.Payload}).Rows()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rows), "ns/point")
}
