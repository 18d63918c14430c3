package applehealth

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/flate"
)

// A zip cut short has lost its central directory (it is at the end), but
// every entry before the cut still begins with a local header and can be
// read in order. This is that reading: enough to find the records' XML
// and stream it as far as it goes.

const (
	localHeaderSig   = 0x04034b50
	centralHeaderSig = 0x02014b50
	descriptorSig    = 0x08074b50
	localHeaderLen   = 30
	flagDescriptor   = 1 << 3
	methodStore      = 0
	methodDeflate    = 8
	zip64ExtraID     = 0x0001
)

// localEntry is an entry's local header.
type localEntry struct {
	name         string
	method       uint16
	flags        uint16
	csize        uint64
	zip64        bool
	headerOffset int64
}

// countingReader counts the bytes read through it, so entries can be
// found again by offset.
type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

func (c *countingReader) discard(n int64) error {
	for n > 0 {
		k, err := c.r.Discard(int(min(n, 1<<20)))
		c.n += int64(k)
		n -= int64(k)
		if err != nil {
			return err
		}
	}
	return nil
}

// readLocal reads the local header at the reader's position; ok is false
// at the central directory or the end of the data.
func readLocal(cr *countingReader) (le localEntry, ok bool, err error) {
	le.headerOffset = cr.n
	var h [localHeaderLen]byte
	if _, err := io.ReadFull(cr, h[:4]); err != nil {
		return le, false, nil
	}
	if sig := binary.LittleEndian.Uint32(h[:4]); sig != localHeaderSig {
		return le, false, nil
	}
	if _, err := io.ReadFull(cr, h[4:]); err != nil {
		return le, false, err
	}
	le.flags = binary.LittleEndian.Uint16(h[6:])
	le.method = binary.LittleEndian.Uint16(h[8:])
	le.csize = uint64(binary.LittleEndian.Uint32(h[18:]))
	nameLen := int(binary.LittleEndian.Uint16(h[26:]))
	extraLen := int(binary.LittleEndian.Uint16(h[28:]))
	buf := make([]byte, nameLen+extraLen)
	if _, err := io.ReadFull(cr, buf); err != nil {
		return le, false, err
	}
	le.name = string(buf[:nameLen])
	for extra := buf[nameLen:]; len(extra) >= 4; {
		id, size := binary.LittleEndian.Uint16(extra), int(binary.LittleEndian.Uint16(extra[2:]))
		if 4+size > len(extra) {
			break
		}
		if id == zip64ExtraID {
			le.zip64 = true
			if size >= 16 && le.csize == 0xffffffff {
				le.csize = binary.LittleEndian.Uint64(extra[4+8:])
			}
		}
		extra = extra[4+size:]
	}
	return le, true, nil
}

// data returns a reader of an entry's content, positioned after its header.
func (le localEntry) data(cr *countingReader) (io.Reader, error) {
	switch le.method {
	case methodDeflate:
		return flate.NewReader(cr), nil
	case methodStore:
		if le.flags&flagDescriptor != 0 {
			return nil, fmt.Errorf("%s: a stored entry of unknown size cannot be read without the zip's directory", le.name)
		}
		return io.LimitReader(cr, int64(le.csize)), nil
	}
	return nil, fmt.Errorf("%s: compression method %d is not supported", le.name, le.method)
}

// skip moves past an entry's data and its data descriptor.
func (le localEntry) skip(cr *countingReader) error {
	if le.flags&flagDescriptor == 0 {
		return cr.discard(int64(le.csize))
	}
	r, err := le.data(cr)
	if err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	return skipDescriptor(cr)
}

// skipDescriptor reads past a data descriptor: an optional signature, the
// CRC, and the sizes in 4 or 8 bytes each (told apart by where the next
// header's signature is).
func skipDescriptor(cr *countingReader) error {
	if b, err := cr.r.Peek(4); err == nil && binary.LittleEndian.Uint32(b) == descriptorSig {
		if err := cr.discard(4); err != nil {
			return err
		}
	}
	b, _ := cr.r.Peek(24)
	isSig := func(off int) bool {
		if len(b) < off+4 {
			return false
		}
		s := binary.LittleEndian.Uint32(b[off:])
		return s == localHeaderSig || s == centralHeaderSig
	}
	if !isSig(12) && isSig(20) {
		return cr.discard(20)
	}
	return cr.discard(12)
}

// findSequential walks a zip without its directory to the records' XML.
func (e *Export) findSequential() error {
	if _, err := e.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	cr := &countingReader{r: bufio.NewReaderSize(e.f, 256<<10)}
	var seen []string
	for {
		le, ok, err := readLocal(cr)
		if err != nil || !ok {
			what := "nothing"
			if len(seen) > 0 {
				what = strings.Join(seen, ", ")
			}
			if err == nil && cr.n < e.size {
				return fmt.Errorf("%w: the zip has no directory and cannot be read past byte %d (read: %s)", ErrNotExport, cr.n, what)
			}
			return fmt.Errorf("%w: the zip ends at byte %d without its directory, before any XML whose root is <%s> (read: %s)", ErrTruncated, e.size, rootName, what)
		}
		seen = append(seen, le.name)
		if strings.EqualFold(strings.TrimSpace(extOf(le.name)), ".xml") {
			r, err := le.data(cr)
			if err != nil {
				return err
			}
			head := make([]byte, headerPeek)
			n, _ := io.ReadFull(r, head)
			if isRecordsHead(head[:n]) {
				e.name = le.name
				if i := strings.LastIndexByte(le.name, '/'); i >= 0 {
					e.dir = le.name[:i+1]
				}
				e.seqOffset = le.headerOffset
				return nil
			}
			// Not the records: finish the entry to reach the next one.
			if _, err := io.Copy(io.Discard, r); err != nil {
				return fmt.Errorf("%w: the zip ends at byte %d, inside %s", ErrTruncated, cr.n, le.name)
			}
			if le.flags&flagDescriptor != 0 {
				if err := skipDescriptor(cr); err != nil {
					return err
				}
			}
			continue
		}
		if err := le.skip(cr); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: the zip ends at byte %d, inside %s, before any XML whose root is <%s>", ErrTruncated, cr.n, le.name, rootName)
			}
			return err
		}
	}
}

func extOf(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i:]
	}
	return ""
}

// sequentialRecords reads the records' entry found by findSequential.
func (e *Export) sequentialRecords() (io.ReadCloser, error) {
	if _, err := e.f.Seek(e.seqOffset, io.SeekStart); err != nil {
		return nil, err
	}
	cr := &countingReader{r: bufio.NewReaderSize(e.f, 256<<10), n: e.seqOffset}
	le, ok, err := readLocal(cr)
	if err != nil || !ok {
		return nil, fmt.Errorf("%w: the entry at byte %d is gone", ErrTruncated, e.seqOffset)
	}
	r, err := le.data(cr)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(&cutShort{r: r}), nil
}

// cutShort: in a zip without its directory, the data ending is the cut.
type cutShort struct{ r io.Reader }

func (c *cutShort) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("%w: %w", ErrTruncated, err)
	}
	return n, err
}
