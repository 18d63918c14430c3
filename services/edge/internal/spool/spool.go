// Package spool holds an upload's body while it is checked and cut: in
// memory up to a few MiB, then in a private temporary file that is mapped
// into memory read-only (page cache, not heap) and removed after the reply.
package spool

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
)

// ErrTooLarge is a body (after decompression) over the limit.
var ErrTooLarge = errors.New("body exceeds the size limit")

// Spool is a complete body.
type Spool struct {
	mem    []byte
	file   *os.File
	mapped []byte
	buf    *bytes.Buffer // the memory buffer, returned to its pool on Close
	pool   *Pool
}

// Pool spools bodies with buffers reused between requests: growing a
// fresh buffer to each body's size (and clearing it) cost a fifth of the
// edge's CPU on 1 MB uploads.
type Pool struct {
	memBytes, maxBytes int64
	dir                string
	bufs               sync.Pool
}

// NewPool returns a pool spooling up to memBytes in memory, bodies of at
// most maxBytes, temp files in dir.
func NewPool(memBytes, maxBytes int64, dir string) *Pool {
	p := &Pool{memBytes: memBytes, maxBytes: maxBytes, dir: dir}
	p.bufs.New = func() any { return new(bytes.Buffer) }
	return p
}

// Fill spools r; sizeHint (the Content-Length, or ≤ 0) sizes the buffer
// up front.
func (p *Pool) Fill(r io.Reader, sink io.Writer, sizeHint int64) (*Spool, error) {
	buf := p.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	if sizeHint > 0 {
		buf.Grow(int(min(sizeHint, p.memBytes) + 1))
	}
	s, err := fill(r, sink, p.memBytes, p.maxBytes, p.dir, buf)
	if err != nil || s.file != nil {
		p.bufs.Put(buf)
		return s, err
	}
	s.buf, s.pool = buf, p
	return s, nil
}

// Fill reads r to the end into a spool, writing every byte to sink as well
// (the ingestion id's hash). Bodies over maxBytes fail with ErrTooLarge as
// soon as the limit is crossed, without reading the rest.
func Fill(r io.Reader, sink io.Writer, memBytes, maxBytes int64, dir string) (*Spool, error) {
	return fill(r, sink, memBytes, maxBytes, dir, new(bytes.Buffer))
}

func fill(r io.Reader, sink io.Writer, memBytes, maxBytes int64, dir string, buf *bytes.Buffer) (*Spool, error) {
	limited := &io.LimitedReader{R: r, N: maxBytes + 1}
	src := io.TeeReader(limited, sink)
	s := &Spool{}
	if _, err := io.CopyN(buf, src, memBytes+1); errors.Is(err, io.EOF) {
		s.mem = buf.Bytes()
		return s, s.check(limited)
	} else if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	// Past the memory budget: continue in a file, unlinked right away so
	// nothing is left behind even if the process dies.
	f, err := os.CreateTemp(dir, "health-upload-*")
	if err != nil {
		return nil, fmt.Errorf("spool file: %w", err)
	}
	_ = os.Remove(f.Name())
	s.file = f
	if _, err := f.Write(buf.Bytes()); err != nil {
		s.Close()
		return nil, fmt.Errorf("spool file: %w", err)
	}
	if _, err := io.Copy(f, src); err != nil {
		s.Close()
		return nil, fmt.Errorf("read body: %w", err)
	}
	if err := s.check(limited); err != nil {
		s.Close()
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("spool file: %w", err)
	}
	s.mapped, err = syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("map spool file: %w", err)
	}
	return s, nil
}

func (s *Spool) check(limited *io.LimitedReader) error {
	if limited.N <= 0 {
		return ErrTooLarge
	}
	return nil
}

// Bytes is the whole body. It stays valid until Close.
func (s *Spool) Bytes() []byte {
	if s.file != nil {
		return s.mapped
	}
	return s.mem
}

// InFile reports whether the body went to disk.
func (s *Spool) InFile() bool { return s.file != nil }

// Close releases the body.
func (s *Spool) Close() error {
	var errs []error
	if s.mapped != nil {
		errs = append(errs, syscall.Munmap(s.mapped))
		s.mapped = nil
	}
	if s.file != nil {
		errs = append(errs, s.file.Close())
		s.file = nil
	}
	s.mem = nil
	if s.buf != nil {
		s.pool.bufs.Put(s.buf)
		s.buf = nil
	}
	return errors.Join(errs...)
}
