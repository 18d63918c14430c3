package spool

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"testing"
)

func TestFill(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<12) // 64 KiB
	tests := []struct {
		name     string
		size     int
		mem, max int64
		inFile   bool
		err      error
	}{
		{name: "empty", size: 0, mem: 1024, max: 1 << 20},
		{name: "in memory", size: 1000, mem: 1024, max: 1 << 20},
		{name: "exactly the memory budget", size: 1024, mem: 1024, max: 1 << 20},
		{name: "spills to a file", size: len(body), mem: 1024, max: 1 << 20, inFile: true},
		{name: "exactly the limit", size: 4096, mem: 1024, max: 4096, inFile: true},
		{name: "over the limit in memory", size: 1000, mem: 1024, max: 999, err: ErrTooLarge},
		{name: "over the limit in a file", size: len(body), mem: 1024, max: 4096, err: ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			in := body[:tc.size]
			h := sha256.New()
			s, err := Fill(bytes.NewReader(in), h, tc.mem, tc.max, dir)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if !bytes.Equal(s.Bytes(), in) {
				t.Fatalf("spooled %d bytes, want %d", len(s.Bytes()), len(in))
			}
			if s.InFile() != tc.inFile {
				t.Errorf("in file = %v, want %v", s.InFile(), tc.inFile)
			}
			if got, want := h.Sum(nil), sha256.Sum256(in); !bytes.Equal(got, want[:]) {
				t.Error("the sink did not see the whole body")
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 0 {
				t.Errorf("spool left %d files in its directory", len(entries))
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// An endless body must stop at the limit, not be read to the end.
func TestFillStopsAtLimit(t *testing.T) {
	r := &countingReader{}
	_, err := Fill(r, io.Discard, 1024, 1<<20, t.TempDir())
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if r.n > 2<<20 {
		t.Fatalf("read %d bytes of an endless body with a 1 MiB limit", r.n)
	}
}

type countingReader struct{ n int64 }

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	c.n += int64(len(p))
	return len(p), nil
}

// Pooled buffers: a body spooled after another one gets its own bytes,
// whatever the previous one left in the buffer.
func TestPoolReusesBuffers(t *testing.T) {
	p := NewPool(1024, 1<<20, t.TempDir())
	first, err := p.Fill(bytes.NewReader(bytes.Repeat([]byte("a"), 900)), io.Discard, 900)
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	second, err := p.Fill(bytes.NewReader([]byte("bb")), io.Discard, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if string(second.Bytes()) != "bb" {
		t.Fatalf("second body %q", second.Bytes())
	}
	big, err := p.Fill(bytes.NewReader(bytes.Repeat([]byte("c"), 5000)), io.Discard, 5000)
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	if !big.InFile() || len(big.Bytes()) != 5000 {
		t.Fatalf("a body over the memory budget: in file %v, %d bytes", big.InFile(), len(big.Bytes()))
	}
}
