package hae

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Scanner primitives over a []byte holding JSON. They index only within
// bounds and always move forward, so invalid input can neither panic nor
// loop; they report it with a negative index. Containers are skipped by
// counting brackets, never by recursion: a valid body may nest a million deep.

// scalarEnd marks the bytes that end a number or a literal.
var scalarEnd = [256]bool{
	' ': true, '\t': true, '\n': true, '\r': true,
	',': true, ':': true, '{': true, '}': true, '[': true, ']': true, '"': true,
}

// structural marks the bytes a container skip must look at.
var structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue returns the index just past the value starting at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i < 0 || i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i+1)
	case '{', '[':
		return skipContainer(b, i)
	}
	j := i
	for j < len(b) && !scalarEnd[b[j]] {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// skipString returns the index just past the closing quote of a string whose
// body starts at b[i], or -1.
func skipString(b []byte, i int) int {
	for i < len(b) {
		c := b[i]
		if c == '"' {
			return i + 1
		}
		if c == '\\' {
			i += 2
			continue
		}
		i++
	}
	return -1
}

// skipContainer returns the index just past the object or array opening at
// b[i], or -1. Brackets of either kind are counted alike: in valid JSON they
// match, and in invalid JSON any answer will do as long as it terminates.
func skipContainer(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		c := b[i]
		i++
		if !structural[c] {
			continue
		}
		switch c {
		case '"':
			if i = skipString(b, i); i < 0 {
				return -1
			}
		case '{', '[':
			depth++
		default:
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// Results of a step through an array or an object.
const (
	stepElem = iota // positioned on an element (or a member)
	stepEnd         // the container closed; the index is just past it
	stepErr         // not JSON
)

// arrayStep finds the next element of an array. pos is just past '[' (first)
// or just past the previous element.
func arrayStep(b []byte, pos int, first bool) (int, int) {
	pos = skipWS(b, pos)
	if pos >= len(b) {
		return pos, stepErr
	}
	if b[pos] == ']' {
		return pos + 1, stepEnd
	}
	if !first {
		if b[pos] != ',' {
			return pos, stepErr
		}
		if pos = skipWS(b, pos+1); pos >= len(b) {
			return pos, stepErr
		}
	}
	return pos, stepElem
}

// objStep finds the next member of an object. pos is just past '{' (first)
// or just past the previous value. It returns the key with its quotes
// (b[ks:ke]) and the start of the value; on stepEnd, vs is just past '}'.
func objStep(b []byte, pos int, first bool) (ks, ke, vs, st int) {
	pos = skipWS(b, pos)
	if pos >= len(b) {
		return 0, 0, pos, stepErr
	}
	if b[pos] == '}' {
		return 0, 0, pos + 1, stepEnd
	}
	if !first {
		if b[pos] != ',' {
			return 0, 0, pos, stepErr
		}
		if pos = skipWS(b, pos+1); pos >= len(b) {
			return 0, 0, pos, stepErr
		}
	}
	if b[pos] != '"' {
		return 0, 0, pos, stepErr
	}
	ks = pos
	if ke = skipString(b, pos+1); ke < 0 {
		return 0, 0, pos, stepErr
	}
	pos = skipWS(b, ke)
	if pos >= len(b) || b[pos] != ':' {
		return 0, 0, pos, stepErr
	}
	if vs = skipWS(b, pos+1); vs >= len(b) {
		return 0, 0, vs, stepErr
	}
	return ks, ke, vs, stepElem
}

// keyIs compares a raw key (quotes included) with a plain ASCII name,
// decoding only when the key holds an escape.
func keyIs(raw []byte, name string) bool {
	if len(raw) < 2 {
		return false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner) == name
	}
	s, ok := decodeString(raw)
	return ok && s == name
}

// scanHasKey skips the object at b[i] and says whether it has the member key.
func scanHasKey(b []byte, i int, key string) (end int, found bool) {
	pos, first := i+1, true
	for {
		ks, ke, vs, st := objStep(b, pos, first)
		switch st {
		case stepEnd:
			return vs, found
		case stepErr:
			return -1, false
		}
		if keyIs(b[ks:ke], key) {
			found = true
		}
		if pos = skipValue(b, vs); pos < 0 {
			return -1, false
		}
		first = false
	}
}

// decodeString decodes a JSON string literal (quotes included). Like
// encoding/json, invalid UTF-8 becomes U+FFFD, so a name survives a round
// trip through a part unchanged.
func decodeString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD so
// the output is always valid JSON and decodes to what decodeString gives;
// nothing is HTML-escaped.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		// U+2028 and U+2029 end lines in JavaScript; encoding/json escapes
		// them too.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendPointerToken appends a JSON Pointer reference token (RFC 6901).
func appendPointerToken(dst []byte, tok string) []byte {
	for i := 0; i < len(tok); i++ {
		switch tok[i] {
		case '~':
			dst = append(dst, '~', '0')
		case '/':
			dst = append(dst, '~', '1')
		default:
			dst = append(dst, tok[i])
		}
	}
	return dst
}
