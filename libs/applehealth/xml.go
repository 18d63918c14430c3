package applehealth

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"

	"github.com/orisano/gosax"
)

// Errors of a file that is not what it should be. Each is wrapped with
// what was found and where.
var (
	// ErrNotExport is a file that is not the Health app's export.
	ErrNotExport = errors.New("not a Health app export")
	// ErrTruncated is an export that ends before its end: what was read
	// before the cut is good.
	ErrTruncated = errors.New("the export is truncated")
	// ErrTooLarge is one element bigger than any real export writes.
	ErrTooLarge = errors.New("an element is too large")
)

// Limits that keep a hostile or broken file from taking the memory: real
// elements are a few hundred bytes, a workout with an inline route a few
// MB.
const (
	// maxProlog bounds what may come before the root element (the XML
	// declaration and the DTD: about 10 KB in real exports).
	maxProlog = 4 << 20
	// maxElementBytes bounds one top-level element, children included.
	maxElementBytes = 64 << 20
	// saxBuffer is the parser's read buffer.
	saxBuffer = 256 << 10
)

// rootName is the root element of export.xml.
const rootName = "HealthData"

// Element is one top-level element of export.xml (a Record, Workout,
// Correlation, ActivitySummary, ...) or one of its descendants, valid
// until the Reader's next call to Next.
type Element struct {
	r *Reader
	i int
}

// node is an element as read: its attributes are r.attrs[a0:a1], its
// descendants r.nodes[i+1:end] (document order).
type node struct {
	name   string
	line   int
	a0, a1 int
	end    int
	bad    string // why its attributes could not all be read ("" when they could)
}

// attr is an attribute's key and value as offsets into r.arena.
type attr struct{ k0, k1, v0, v1 int }

// Name is the element's name.
func (e Element) Name() string { return e.r.nodes[e.i].name }

// Line is the line of the element's start tag, counted from 1.
func (e Element) Line() int { return e.r.nodes[e.i].line }

// Malformed says why the element's attributes could not all be read (""
// when they could): such an element is rejected, not guessed at.
func (e Element) Malformed() string { return e.r.nodes[e.i].bad }

// Attr returns the value of an attribute (entities decoded; characters
// XML forbids, such as \x0b, kept as they are), and whether it is there.
// The bytes are valid until the Reader's next call to Next.
func (e Element) Attr(key string) ([]byte, bool) {
	n := &e.r.nodes[e.i]
	for _, a := range e.r.attrs[n.a0:n.a1] {
		if string(e.r.arena[a.k0:a.k1]) == key {
			return e.r.arena[a.v0:a.v1], true
		}
	}
	return nil, false
}

// Str is an attribute's value as a string ("" when absent).
func (e Element) Str(key string) string {
	v, _ := e.Attr(key)
	return string(v)
}

// Attrs yields every attribute in document order.
func (e Element) Attrs() iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		n := &e.r.nodes[e.i]
		for _, a := range e.r.attrs[n.a0:n.a1] {
			if !yield(e.r.arena[a.k0:a.k1], e.r.arena[a.v0:a.v1]) {
				return
			}
		}
	}
}

// Children yields the element's child elements in document order.
func (e Element) Children() iter.Seq[Element] {
	return func(yield func(Element) bool) {
		end := e.r.nodes[e.i].end
		for j := e.i + 1; j < end; j = e.r.nodes[j].end {
			if !yield(Element{r: e.r, i: j}) {
				return
			}
		}
	}
}

// Reader streams the top-level elements of export.xml: whatever the file's
// size, it holds one element at a time. It skips the prolog itself (the
// DTD that iOS 16 writes is malformed, and both encoding/xml and the SAX
// parser would read it to the end of the file), takes characters XML
// forbids as they are, and counts lines so every element can be found in
// the file.
type Reader struct {
	src      *meter
	sax      *gosax.Reader
	line     int   // the line the next event starts on
	consumed int64 // bytes of the document the events have covered
	depth    int
	closed   bool // </HealthData> seen
	started  bool // <HealthData> seen

	arena []byte
	attrs []attr
	nodes []node
	open  []int // indexes of the nodes not yet ended, outermost first
	names map[string]string
}

// meter counts what the parser read, and refuses to let it buffer more than
// maxElementBytes ahead of the last event: a quote or a tag never closed
// would otherwise make it read the whole file into memory.
type meter struct {
	r        io.Reader
	n        int64
	consumed *int64
}

func (m *meter) Read(p []byte) (int, error) {
	if m.n-*m.consumed > maxElementBytes {
		return 0, fmt.Errorf("%w: more than %d MiB without the end of a tag, at byte %d", ErrTooLarge, maxElementBytes>>20, *m.consumed)
	}
	n, err := m.r.Read(p)
	m.n += int64(n)
	return n, err
}

// NewReader reads an export.xml. It fails when the document does not start
// like one (ErrNotExport).
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	lines, skipped, err := skipProlog(br)
	if err != nil {
		return nil, err
	}
	x := &Reader{line: 1 + lines, consumed: skipped, names: map[string]string{}}
	x.src = &meter{r: br, n: skipped, consumed: &x.consumed}
	x.sax = gosax.NewReaderSize(x.src, saxBuffer)
	x.sax.EmitSelfClosingTag = true
	return x, nil
}

// Offset is how many bytes of the document have been read.
func (x *Reader) Offset() int64 { return x.consumed }

// Line is the line the reader has reached.
func (x *Reader) Line() int { return x.line }

// Next returns the next top-level element, io.EOF after </HealthData>, or
// an error: ErrTruncated when the document ends early, ErrTooLarge, or
// ErrNotExport when the root is not <HealthData>.
func (x *Reader) Next() (Element, error) {
	if x.closed {
		return Element{}, io.EOF
	}
	x.arena, x.attrs, x.nodes, x.open = x.arena[:0], x.attrs[:0], x.nodes[:0], x.open[:0]
	for {
		ev, err := x.sax.Event()
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				return Element{}, err
			}
			return Element{}, x.truncated(err)
		}
		switch ev.Type() {
		case gosax.EventEOF:
			if !x.started {
				return Element{}, fmt.Errorf("%w: the document has no <%s> element", ErrNotExport, rootName)
			}
			return Element{}, x.truncated(nil)
		case gosax.EventStart:
			line := x.line
			x.advance(ev.Bytes)
			if err := x.start(ev.Bytes, line); err != nil {
				return Element{}, err
			}
		case gosax.EventEnd:
			// A self-closing tag's end repeats its start's bytes.
			if bytes.HasPrefix(ev.Bytes, []byte("</")) {
				x.advance(ev.Bytes)
			}
			if done, err := x.end(); done || err != nil {
				return Element{r: x}, err
			}
		default:
			x.advance(ev.Bytes)
		}
	}
}

// advance accounts for an event's bytes.
func (x *Reader) advance(b []byte) {
	x.consumed += int64(len(b))
	x.line += bytes.Count(b, []byte{'\n'})
}

func (x *Reader) truncated(cause error) error {
	where := fmt.Sprintf("the document ends at line %d (byte %d) inside <%s>", x.line, x.consumed, rootName)
	if len(x.open) > 0 {
		n := x.nodes[x.open[0]]
		where = fmt.Sprintf("the document ends at line %d (byte %d), inside the <%s> of line %d", x.line, x.consumed, n.name, n.line)
	}
	if cause != nil && !errors.Is(cause, io.EOF) && !errors.Is(cause, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %s: %w", ErrTruncated, where, cause)
	}
	return fmt.Errorf("%w: %s", ErrTruncated, where)
}

// start opens an element.
func (x *Reader) start(tag []byte, line int) error {
	name, rest := gosax.Name(tag)
	if x.depth == 0 {
		if x.started || string(name) != rootName {
			return fmt.Errorf("%w: the root element is <%s>, not <%s>", ErrNotExport, name, rootName)
		}
		x.started = true
		x.depth = 1
		return nil
	}
	x.depth++
	n := node{name: x.intern(name), line: line, a0: len(x.attrs)}
	n.bad = x.readAttrs(rest)
	n.a1 = len(x.attrs)
	if len(x.arena) > maxElementBytes {
		return fmt.Errorf("%w: the <%s> of line %d is larger than %d MiB", ErrTooLarge, x.nodes[x.open[0]].name, x.nodes[x.open[0]].line, maxElementBytes>>20)
	}
	x.open = append(x.open, len(x.nodes))
	x.nodes = append(x.nodes, n)
	return nil
}

// end closes the innermost element; done reports a finished top-level
// element (err io.EOF: the root closed).
func (x *Reader) end() (done bool, err error) {
	if x.depth == 0 {
		return false, fmt.Errorf("%w: a closing tag at line %d before any element", ErrNotExport, x.line)
	}
	x.depth--
	if x.depth == 0 {
		x.closed = true
		return true, io.EOF
	}
	last := x.open[len(x.open)-1]
	x.open = x.open[:len(x.open)-1]
	x.nodes[last].end = len(x.nodes)
	return len(x.open) == 0, nil
}

// readAttrs copies the attributes of a start tag into the arena, entities
// decoded. It returns why they could not all be read, or "".
func (x *Reader) readAttrs(rest []byte) string {
	for {
		a, next, err := gosax.NextAttribute(rest)
		if err != nil {
			return fmt.Sprintf("malformed attributes: %v", err)
		}
		if a.Key == nil {
			return ""
		}
		if len(a.Value) < 2 {
			return fmt.Sprintf("attribute %q has no quoted value", a.Key)
		}
		rest = next
		k0 := len(x.arena)
		x.arena = append(x.arena, a.Key...)
		v0 := len(x.arena)
		x.arena = append(x.arena, a.Value[1:len(a.Value)-1]...)
		// Decoded in place; an unknown entity keeps the text as written
		// rather than losing the record.
		if v, err := gosax.Unescape(x.arena[v0:]); err == nil {
			x.arena = x.arena[:v0+len(v)]
		}
		x.attrs = append(x.attrs, attr{k0: k0, k1: v0, v0: v0, v1: len(x.arena)})
	}
}

// intern keeps one string per element name.
func (x *Reader) intern(b []byte) string {
	if s, ok := x.names[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(x.names) < 1024 {
		x.names[s] = s
	}
	return s
}

// skipProlog reads what precedes the root element: a byte order mark, the
// XML declaration, comments, processing instructions and the DOCTYPE with
// its internal DTD. The DTD is skipped to its "]>" without being read: the
// one iOS 16 writes lacks a ">" (an ATTLIST of VisionPrescription), which
// makes parsers that count brackets read the whole file as DTD. It returns
// the lines and bytes skipped.
func skipProlog(br *bufio.Reader) (lines int, n int64, err error) {
	if b, _ := br.Peek(3); bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
		n = 3
	}
	skipTo := func(marker string) error {
		for {
			c, err := br.ReadByte()
			if err != nil {
				return fmt.Errorf("%w: the prolog ends before %q (line %d)", ErrNotExport, marker, lines+1)
			}
			n++
			if c == '\n' {
				lines++
			}
			if n > maxProlog {
				return fmt.Errorf("%w: more than %d MiB before the root element", ErrNotExport, maxProlog>>20)
			}
			if c == marker[len(marker)-1] && len(marker) == 1 {
				return nil
			}
			if c == marker[0] && len(marker) > 1 {
				next, _ := br.Peek(len(marker) - 1)
				if string(next) == marker[1:] {
					_, _ = br.Discard(len(marker) - 1)
					n += int64(len(marker) - 1)
					return nil
				}
			}
		}
	}
	for {
		b, err := br.Peek(1)
		if err != nil {
			return lines, n, fmt.Errorf("%w: the file is empty or holds no element", ErrNotExport)
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			if b[0] == '\n' {
				lines++
			}
			_, _ = br.Discard(1)
			n++
			continue
		case '<':
		default:
			return lines, n, fmt.Errorf("%w: it does not start like an XML document", ErrNotExport)
		}
		head, _ := br.Peek(9)
		switch {
		case bytes.HasPrefix(head, []byte("<?")):
			err = skipTo("?>")
		case bytes.HasPrefix(head, []byte("<!--")):
			err = skipTo("-->")
		case bytes.HasPrefix(head, []byte("<!DOCTYPE")):
			_, _ = br.Discard(len("<!DOCTYPE"))
			n += int64(len("<!DOCTYPE"))
			err = skipDoctype(br, skipTo)
		default:
			return lines, n, nil // the root element: the parser's
		}
		if err != nil {
			return lines, n, err
		}
	}
}

// skipDoctype skips a DOCTYPE: to its ">" when it has no internal DTD,
// else to the "]" that ends the DTD and the ">" after it (a "]" followed
// by anything else was inside the DTD).
func skipDoctype(br *bufio.Reader, skipTo func(string) error) error {
	peek := func() (byte, bool) {
		b, err := br.Peek(1)
		return firstByte(b), err == nil
	}
	for {
		c, ok := peek()
		if !ok {
			return skipTo(">")
		}
		if err := skipTo(string(c)); err != nil {
			return err
		}
		switch c {
		case '>':
			return nil
		case '[':
		default:
			continue
		}
	dtd:
		for {
			if err := skipTo("]"); err != nil {
				return err
			}
			for {
				c, ok := peek()
				if !ok {
					return skipTo(">")
				}
				switch c {
				case ' ', '\t', '\r', '\n':
					if err := skipTo(string(c)); err != nil {
						return err
					}
				case '>':
					return skipTo(">")
				default:
					continue dtd
				}
			}
		}
	}
}

func firstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}
