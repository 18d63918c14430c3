package applehealth_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"testing"

	"github.com/healthexport/libs/applehealth"
	"github.com/healthexport/libs/synth"
)

// syntheticXML is an export.xml of about 1.6 MB a day (12,500 records),
// the size real ones have per day of data.
func syntheticXML(b *testing.B, days int) []byte {
	b.Helper()
	var buf bytes.Buffer
	if _, err := synth.WriteExport(&buf, synth.ExportSpec{Days: days, Seed: 1}, nil); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkReader is the parser alone: every top-level element with its
// attributes decoded. Run with -cpu 1 for one core's throughput.
func BenchmarkReader(b *testing.B) {
	doc := syntheticXML(b, 20)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	records := 0
	for b.Loop() {
		x, err := applehealth.NewReader(bytes.NewReader(doc))
		if err != nil {
			b.Fatal(err)
		}
		for {
			el, err := x.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			for range el.Attrs() {
			}
			records++
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkEncodingXML is the standard library on the same document, for
// comparison (tokens only, attributes decoded). It cannot read real
// exports: the broken DTD makes it read the whole file as one directive,
// and \x0b is "illegal character code U+000B" even when not Strict. Here
// the document starts at the root and the \x0b is taken out.
func BenchmarkEncodingXML(b *testing.B) {
	doc := syntheticXML(b, 20)
	doc = bytes.ReplaceAll(doc[bytes.Index(doc, []byte("<HealthData")):], []byte{0x0b}, nil)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	records := 0
	for b.Loop() {
		d := xml.NewDecoder(bytes.NewReader(doc))
		d.Strict = false
		depth := 0
		for {
			tok, err := d.RawToken()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			switch tok.(type) {
			case xml.StartElement:
				depth++
				if depth == 2 {
					records++
				}
			case xml.EndElement:
				depth--
			}
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}
