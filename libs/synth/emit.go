package synth

import (
	"io"
	"math"
	"strconv"
	"time"

	"github.com/healthexport/libs/hae"
)

// emitter writes pretty JSON the way the app does (and the conformance
// files are laid out): one space of indent per level, `"key": value`, empty
// containers as {} and []. It appends to a buffer and hands it to the
// writer in flushSize pieces; the first write error sticks.
type emitter struct {
	w     io.Writer
	buf   []byte
	n     int64
	err   error
	first []bool // per open container: nothing written in it yet
}

const flushSize = 64 << 10

// TimeLayout is the app's timestamp layout, yyyy-MM-dd HH:mm:ss Z.
const TimeLayout = "2006-01-02 15:04:05 -0700"

// indents is a newline followed by enough spaces for any depth used here.
const indents = "\n                                "

func newEmitter(w io.Writer) *emitter {
	return &emitter{w: w, buf: make([]byte, 0, flushSize+4<<10), first: make([]bool, 0, 16)}
}

func (e *emitter) flush() {
	if len(e.buf) == 0 {
		return
	}
	if e.err == nil {
		var m int
		m, e.err = e.w.Write(e.buf)
		e.n += int64(m)
	}
	e.buf = e.buf[:0]
}

func (e *emitter) maybeFlush() {
	if len(e.buf) >= flushSize {
		e.flush()
	}
}

// newline writes the comma (unless first) and the indent of the next value
// or key in the innermost container.
func (e *emitter) newline() {
	d := len(e.first)
	if d == 0 {
		return
	}
	if e.first[d-1] {
		e.first[d-1] = false
	} else {
		e.buf = append(e.buf, ',')
	}
	e.buf = append(e.buf, indents[:1+d]...)
}

func (e *emitter) open(c byte) {
	e.buf = append(e.buf, c)
	e.first = append(e.first, true)
}

func (e *emitter) close(c byte) {
	d := len(e.first)
	empty := e.first[d-1]
	e.first = e.first[:d-1]
	if !empty {
		e.buf = append(e.buf, indents[:d]...)
	}
	e.buf = append(e.buf, c)
	e.maybeFlush()
}

// Values inside an array: elem before each.
func (e *emitter) elem() { e.newline() }

// key starts a member of the innermost object.
func (e *emitter) key(k string) {
	e.newline()
	e.buf = append(e.buf, '"')
	e.buf = append(e.buf, k...)
	e.buf = append(e.buf, `": `...)
}

func (e *emitter) beginObject() { e.open('{') }
func (e *emitter) endObject()   { e.close('}') }
func (e *emitter) beginArray()  { e.open('[') }
func (e *emitter) endArray()    { e.close(']') }

func (e *emitter) str(s string) { e.buf = hae.AppendString(e.buf, s) }

func (e *emitter) int(v int64) { e.buf = strconv.AppendInt(e.buf, v, 10) }

// num writes a float64 the way a Swift Double prints: shortest form, so
// arithmetic noise (0.30000000000000004) shows as it does from the app.
func (e *emitter) num(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		e.buf = strconv.AppendInt(e.buf, int64(v), 10)
		return
	}
	e.buf = strconv.AppendFloat(e.buf, v, 'f', -1, 64)
}

func (e *emitter) time(t time.Time) {
	e.buf = append(e.buf, '"')
	e.buf = t.AppendFormat(e.buf, TimeLayout)
	e.buf = append(e.buf, '"')
}

func (e *emitter) date(t time.Time) {
	e.buf = append(e.buf, '"')
	e.buf = t.AppendFormat(e.buf, time.DateOnly)
	e.buf = append(e.buf, '"')
}

// Shorthands for members.
func (e *emitter) kstr(k, v string)         { e.key(k); e.str(v) }
func (e *emitter) knum(k string, v float64) { e.key(k); e.num(v) }
func (e *emitter) ktime(k string, t time.Time) {
	e.key(k)
	e.time(t)
}

// kqty writes "k": {"qty": v, "units": u}.
func (e *emitter) kqty(k string, v float64, units string) {
	e.key(k)
	e.beginObject()
	e.knum("qty", v)
	e.kstr("units", units)
	e.endObject()
}
