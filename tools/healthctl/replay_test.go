package main

import (
	"bytes"
	"strings"
	"testing"
)

// Off a terminal, progress is plain lines: the first, one every few
// seconds, and the last once.
func TestProgressLines(t *testing.T) {
	tests := []struct {
		name    string
		updates [][2]int64
		want    []string
	}{
		{"nothing to do", nil, []string{"replay heart_rate: 0/0 parts"}},
		{"start, middle, end", [][2]int64{{0, 23}, {10, 23}, {23, 23}}, []string{"replay heart_rate: 0/23 parts (0%)", "replay heart_rate: 23/23 parts (100%)"}},
		{"end reported twice", [][2]int64{{23, 23}, {23, 23}}, []string{"replay heart_rate: 23/23 parts (100%)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			p := newProgress(&out, "replay heart_rate", "parts")
			for _, u := range tc.updates {
				p.update(u[0], u[1])
			}
			p.finish()
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(tc.want), out.String())
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("line %d %q, want it to begin %q", i, lines[i], w)
				}
			}
		})
	}
}

// TestImportProgressLines: off a terminal, an import says how far it got
// in its XML, in MB, with the records read.
func TestImportProgressLines(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out, "import export.zip", "bytes")
	p.describe("1200 records (600/s), 3 parts")
	p.update(10<<20, 40<<20)
	p.describe("4800 records (600/s), 12 parts")
	p.update(40<<20, 40<<20)
	p.finish()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{"import export.zip: 1200 records (600/s), 3 parts, 10/40 MB (25%)", "import export.zip: 4800 records (600/s), 12 parts, 40/40 MB (100%)"}
	if len(lines) != len(want) {
		t.Fatalf("lines:\n%s", out.String())
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d %q, want it to begin %q", i, lines[i], w)
		}
	}
}
