package hae

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestTooDeep(t *testing.T) {
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	tests := []struct {
		name string
		body string
		want int
	}{
		{"flat", `{"data":{"metrics":[]}}`, -1},
		{"at the limit", nest(MaxDepth), -1},
		{"one past", nest(MaxDepth + 1), MaxDepth},
		{"objects count too", strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1), 5 * MaxDepth},
		{"brackets in strings do not", `{"a":"` + strings.Repeat("[", 1000) + `"}`, -1},
		{"escaped quote", `["\"[[[[", 1]`, -1},
		{"siblings do not add up", strings.Repeat(nest(MaxDepth)+",", 100), -1},
		{"unterminated string", `["[[[[`, -1},
		{"8 MiB of [", strings.Repeat("[", 8<<20), MaxDepth},
		{"closers first", strings.Repeat("]", 10) + nest(MaxDepth), -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := TooDeep([]byte(tc.body), MaxDepth); got != tc.want {
				t.Fatalf("TooDeep = %d, want %d", got, tc.want)
			}
		})
	}
}

// FuzzTooDeep: on valid JSON, TooDeep finds a container past the limit
// exactly when encoding/json's tokens nest deeper than it.
func FuzzTooDeep(f *testing.F) {
	for _, s := range []string{`{}`, `[[[]]]`, `{"a":[{"b":"[[["}]}`, `"\\\"["`, `[` + strings.Repeat(`{"x":[`, 40) + `1` + strings.Repeat(`]}`, 40) + `]`} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, b []byte, max uint8) {
		got := TooDeep(b, int(max))
		if got >= len(b) || got < -1 || (got >= 0 && b[got] != '{' && b[got] != '[') {
			t.Fatalf("TooDeep = %d on %q", got, b)
		}
		if !json.Valid(b) {
			return
		}
		if want := tokenDepth(t, b) > int(max); (got >= 0) != want {
			t.Fatalf("TooDeep(%q, %d) = %d, want past the limit: %v", b, max, got, want)
		}
	})
}

func tokenDepth(t *testing.T, b []byte) int {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return deepest
		}
		if err != nil {
			t.Fatalf("valid JSON %q: %v", b, err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

func BenchmarkTooDeep(b *testing.B) {
	body := benchBody(1)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if TooDeep(body, MaxDepth) >= 0 {
			b.Fatal("too deep")
		}
	}
}
