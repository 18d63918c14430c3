package importer

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/healthexport/libs/applehealth"
	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/synth"
)

// BenchmarkConvert is the importer's own work on one core: reading the
// XML, making the items and cutting them into parts (everything but
// publishing them). Run with -cpu 1.
func BenchmarkConvert(b *testing.B) {
	var buf bytes.Buffer
	counts, err := synth.WriteExport(&buf, synth.ExportSpec{Days: 20, Seed: 1}, nil)
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.CreateTemp(b.TempDir(), "export")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(buf.Bytes()); err != nil {
		b.Fatal(err)
	}
	reg := kind.New()
	b.SetBytes(counts.XMLBytes)
	b.ReportAllocs()
	parts, records := 0, int64(0)
	for b.Loop() {
		e, err := applehealth.OpenFile(f, "export.xml")
		if err != nil {
			b.Fatal(err)
		}
		cutter := hae.NewCutter(hae.DefaultPartMaxBytes, func(*hae.Part) error { parts++; return nil })
		stats := newStats()
		conv := newConverter(reg, e, e.Name(), func(it *hae.Item) error {
			k, _ := reg.Lookup(it.Kind)
			return k.Cut(cutter, it, hae.DefaultPartMaxBytes, false)
		}, stats)
		im := &Importer{reg: reg, cfg: Config{ProgressEvery: time.Hour}}
		p := &Progress{Stats: *stats}
		conv.stats = &p.Stats
		if err := im.convert(b.Context(), e, conv, p, func() error { return nil }); err != nil {
			b.Fatal(err)
		}
		if err := cutter.Flush(); err != nil {
			b.Fatal(err)
		}
		records += p.Records
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(parts)/float64(b.N), "parts/op")
}
