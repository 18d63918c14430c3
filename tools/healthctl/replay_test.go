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
			p := newProgress(&out, "replay heart_rate")
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
