package hae

import (
	"errors"
	"unicode/utf8"
)

// ErrNotObject and ErrNotArray are what Object and Array return for input
// of another shape (or not JSON).
var (
	ErrNotObject = errors.New("not a JSON object")
	ErrNotArray  = errors.New("not a JSON array")
)

// Member is one member of a JSON object: its key (decoded) and its value
// as raw JSON. Both alias the input unless the key holds an escape.
type Member struct {
	Key   []byte
	Value []byte
}

// Object splits the JSON object raw into its members, appending to dst,
// without decoding or copying the values: decoding an item costs one pass
// over its bytes, not encoding/json's validation pass plus a map. Nested
// values are only skipped; whoever reads one checks it.
func Object(raw []byte, dst []Member) ([]Member, error) {
	pos := skipWS(raw, 0)
	if pos >= len(raw) || raw[pos] != '{' {
		return dst, ErrNotObject
	}
	pos++
	for first := true; ; first = false {
		ks, ke, vs, st := objStep(raw, pos, first)
		if st == stepErr {
			return dst, ErrNotObject
		}
		if st == stepEnd {
			pos = vs
			break
		}
		if pos = skipValue(raw, vs); pos < 0 {
			return dst, ErrNotObject
		}
		key := raw[ks+1 : ke-1]
		if !plain(key) {
			s, ok := decodeString(raw[ks:ke])
			if !ok {
				return dst, ErrNotObject
			}
			key = []byte(s)
		}
		dst = append(dst, Member{Key: key, Value: raw[vs:pos:pos]})
	}
	if skipWS(raw, pos) != len(raw) {
		return dst, ErrNotObject
	}
	return dst, nil
}

// Array splits the JSON array raw into its elements (aliasing raw),
// appending to dst.
func Array(raw []byte, dst [][]byte) ([][]byte, error) {
	pos := skipWS(raw, 0)
	if pos >= len(raw) || raw[pos] != '[' {
		return dst, ErrNotArray
	}
	pos++
	for first := true; ; first = false {
		s, st := arrayStep(raw, pos, first)
		if st == stepErr {
			return dst, ErrNotArray
		}
		if st == stepEnd {
			pos = s
			break
		}
		if pos = skipValue(raw, s); pos < 0 {
			return dst, ErrNotArray
		}
		dst = append(dst, raw[s:pos:pos])
	}
	if skipWS(raw, pos) != len(raw) {
		return dst, ErrNotArray
	}
	return dst, nil
}

// String decodes a JSON string literal (quotes included).
func String(raw []byte) (string, bool) { return decodeString(raw) }

// AppendString appends s as a JSON string literal; non-ASCII is written as
// UTF-8, as the app writes it, except U+2028 and U+2029 (escaped).
func AppendString(dst []byte, s string) []byte { return appendString(dst, s) }

// Plain reports a string literal's body that needs no decoding: no
// escape, valid UTF-8 (control characters are the JSON check's to refuse).
func Plain(b []byte) bool { return plain(b) }

// plain reports a key that needs no decoding: no escape, valid UTF-8.
func plain(b []byte) bool {
	ascii := true
	for _, c := range b {
		if c == '\\' {
			return false
		}
		ascii = ascii && c < utf8.RuneSelf
	}
	return ascii || utf8.Valid(b)
}
