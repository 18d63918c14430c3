package importer

import (
	"bytes"
	"math"
	"strconv"

	"github.com/healthexport/libs/hae"
)

// obj writes one JSON object into a buffer reused from item to item.
type obj struct {
	b     []byte
	depth []int // members written, per open object or array
}

func (o *obj) reset() { o.b, o.depth = o.b[:0], o.depth[:0] }

func (o *obj) open(c byte) {
	o.b = append(o.b, c)
	o.depth = append(o.depth, 0)
}

func (o *obj) close(c byte) {
	o.b = append(o.b, c)
	o.depth = o.depth[:len(o.depth)-1]
}

// sep writes the comma before a member or element.
func (o *obj) sep() {
	if n := &o.depth[len(o.depth)-1]; *n > 0 {
		o.b = append(o.b, ',')
	} else {
		*n = 1
	}
}

func (o *obj) key(k string) {
	o.sep()
	o.b = hae.AppendString(o.b, k)
	o.b = append(o.b, ':')
}

// keyBytes writes a key given as bytes (a metadata key from the file).
func (o *obj) keyBytes(k []byte) {
	o.sep()
	o.b = appendText(o.b, k)
	o.b = append(o.b, ':')
}

func (o *obj) str(k string, v []byte) {
	o.key(k)
	o.b = appendText(o.b, v)
}

func (o *obj) strString(k, v string) {
	o.key(k)
	o.b = hae.AppendString(o.b, v)
}

// num writes a number written as text in the file: as a JSON number when
// it is one (a decimal comma is read as a point), else as the string it
// is, for the kind to reject with its reason.
func (o *obj) num(k string, v []byte) {
	o.key(k)
	o.b = appendNumber(o.b, v)
}

func (o *obj) float(k string, v float64) {
	o.key(k)
	o.b = strconv.AppendFloat(o.b, v, 'g', -1, 64)
}

func (o *obj) int(k string, v int64) {
	o.key(k)
	o.b = strconv.AppendInt(o.b, v, 10)
}

func (o *obj) bool(k string, v bool) {
	o.key(k)
	o.b = strconv.AppendBool(o.b, v)
}

func (o *obj) raw(k string, v []byte) {
	o.key(k)
	o.b = append(o.b, v...)
}

// appendText writes a string from the file: NUL, which PostgreSQL cannot
// store in text or jsonb, is dropped; every other character is kept
// (control characters escaped, invalid UTF-8 as U+FFFD).
func appendText(b, v []byte) []byte {
	if bytes.IndexByte(v, 0) >= 0 {
		v = bytes.ReplaceAll(v, []byte{0}, nil)
	}
	return hae.AppendString(b, string(v))
}

// number reads a number written as text: surrounding spaces are ignored
// and a decimal comma is a point ("72 ", "1,5"). ok is false for anything
// else, NaN and infinities included.
func number(v []byte) (float64, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil && bytes.Count(v, []byte{','}) == 1 && bytes.IndexByte(v, '.') < 0 {
		f, err = strconv.ParseFloat(string(bytes.Replace(v, []byte{','}, []byte{'.'}, 1)), 64)
	}
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// appendNumber writes a number from the file as JSON: as written when it
// already is a JSON number (the common case, no conversion), else as the
// number it reads as, else as a string.
func appendNumber(b, v []byte) []byte {
	if jsonNumber(v) {
		return append(b, v...)
	}
	if f, ok := number(v); ok {
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	}
	return appendText(b, v)
}

// jsonNumber reports text that is a JSON number as it stands.
func jsonNumber(v []byte) bool {
	i := 0
	if i < len(v) && v[i] == '-' {
		i++
	}
	switch {
	case i < len(v) && v[i] == '0':
		i++
	case i < len(v) && v[i] >= '1' && v[i] <= '9':
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(v) && v[i] == '.' {
		i++
		start := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < len(v) && (v[i] == 'e' || v[i] == 'E') {
		i++
		if i < len(v) && (v[i] == '+' || v[i] == '-') {
			i++
		}
		start := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(v)
}
