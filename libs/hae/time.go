package hae

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"
)

// Time is a parsed device timestamp.
type Time struct {
	Instant   time.Time // the instant, in UTC, microsecond precision kept as sent (fraction truncated to µs)
	OffsetMin int       // the offset as written, minutes east of UTC (0 for Z and for date-only)
	DateOnly  bool      // "YYYY-MM-DD" alone (Instant = midnight UTC of that date)

	Year, Month, Day int // the calendar date as written (local to its own offset)
}

// TimeError says why a timestamp was refused; Reason is meant for people
// (it ends up in rejected_points).
type TimeError struct {
	Input  string // the timestamp as given, untrimmed
	Reason string
}

func (e *TimeError) Error() string {
	return fmt.Sprintf("timestamp %q: %s", e.Input, e.Reason)
}

// ParseTime parses a device timestamp: a date, a time of day and a zone
// (the grammar in docs/data-rules.md, Timestamps). A date alone is refused.
func ParseTime(s string) (Time, error) { return parseTime(s, false) }

// ParseDateOrTime is ParseTime that also accepts a date alone ("YYYY-MM-DD"),
// as aggregated sleep sends in its "date".
func ParseDateOrTime(s string) (Time, error) { return parseTime(s, true) }

// Bytes of the no-break spaces iOS puts before AM/PM.
const (
	narrowNBSP = "\u202f"
	nbsp       = "\u00a0"
)

// parseTime is a hand-written scanner: it runs once per point (millions a
// second) and must not allocate on success.
func parseTime(in string, dateOK bool) (Time, error) {
	s := trimSpaceTab(in)
	fail := func(reason string) (Time, error) {
		return Time{}, &TimeError{Input: in, Reason: reason}
	}

	// Date: exactly YYYY-MM-DD.
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return fail("expected a date as YYYY-MM-DD")
	}
	year, ok1 := digits(s, 0, 4)
	month, ok2 := digits(s, 5, 2)
	day, ok3 := digits(s, 8, 2)
	if !ok1 || !ok2 || !ok3 {
		return fail("expected a date as YYYY-MM-DD")
	}
	if month < 1 || month > 12 {
		return fail("month out of range")
	}
	if day < 1 || day > daysIn(month, year) {
		return fail("day out of range")
	}
	t := Time{Year: year, Month: month, Day: day}
	p := 10
	if p == len(s) {
		if !dateOK {
			return fail("date without a time of day")
		}
		t.DateOnly = true
		t.Instant = time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
		return t, nil
	}
	if s[p] != ' ' && s[p] != 'T' {
		return fail("expected a space or T after the date")
	}
	p++

	// Time of day: H:MM or HH:MM, then optional :SS and .fraction.
	hour, ok := digits(s, p, 1)
	if !ok {
		return fail("expected a time of day as H:MM or HH:MM")
	}
	p++
	if p < len(s) && isDigit(s[p]) {
		hour = hour*10 + int(s[p]-'0')
		p++
	}
	if p >= len(s) || s[p] != ':' {
		return fail("expected a time of day as H:MM or HH:MM")
	}
	minute, ok := digits(s, p+1, 2)
	if !ok {
		return fail("expected two digits of minutes")
	}
	p += 3
	sec, nsec := 0, 0
	if p < len(s) && s[p] == ':' {
		if sec, ok = digits(s, p+1, 2); !ok {
			return fail("expected two digits of seconds")
		}
		p += 3
		if p < len(s) && s[p] == '.' {
			p++
			n := 0
			for p < len(s) && isDigit(s[p]) {
				if n < 6 { // keep microseconds, truncate the rest
					nsec = nsec*10 + int(s[p]-'0')
				}
				n++
				p++
			}
			if n == 0 {
				return fail("expected digits after the decimal point")
			}
			if n > 9 {
				return fail("too many fractional digits (at most 9)")
			}
			for k := min(n, 6); k < 9; k++ {
				nsec *= 10
			}
		}
	}

	// Optional AM/PM, directly or after one space, U+202F or U+00A0.
	meridiem := byte(0)
	q := p
	switch {
	case q < len(s) && s[q] == ' ':
		q++
	case hasPrefixAt(s, q, narrowNBSP):
		q += len(narrowNBSP)
	case hasPrefixAt(s, q, nbsp):
		q += len(nbsp)
	}
	if q+1 < len(s) && (s[q+1] == 'M' || s[q+1] == 'm') {
		switch s[q] {
		case 'A', 'a':
			meridiem = 'A'
		case 'P', 'p':
			meridiem = 'P'
		}
		if meridiem != 0 {
			p = q + 2
		}
	}
	if meridiem != 0 {
		if hour < 1 || hour > 12 {
			return fail("hour out of range for a 12-hour clock (1-12 with AM/PM)")
		}
		switch {
		case meridiem == 'A' && hour == 12:
			hour = 0
		case meridiem == 'P' && hour < 12:
			hour += 12
		}
	} else if hour > 23 {
		return fail("hour out of range")
	}
	if minute > 59 {
		return fail("minute out of range")
	}
	if sec > 59 {
		return fail("second out of range")
	}

	// Zone, after optional spaces: Z, ±HHMM or ±HH:MM.
	for p < len(s) && s[p] == ' ' {
		p++
	}
	if p == len(s) {
		return fail("missing time zone (Z or an offset like +0100)")
	}
	off := 0
	switch s[p] {
	case 'Z':
		p++
	case '+', '-':
		sign := s[p]
		oh, ok := digits(s, p+1, 2)
		if !ok {
			return fail("expected a zone offset as ±HHMM or ±HH:MM")
		}
		p += 3
		if p < len(s) && s[p] == ':' {
			p++
		}
		om, ok := digits(s, p, 2)
		if !ok {
			return fail("expected a zone offset as ±HHMM or ±HH:MM")
		}
		p += 2
		if oh > 23 || om > 59 {
			return fail("zone offset out of range (at most ±23:59)")
		}
		off = oh*60 + om
		if sign == '-' {
			off = -off
		}
	default:
		return fail("expected a time zone (Z or an offset like +0100)")
	}
	if p != len(s) {
		return fail("unexpected text after the time zone")
	}
	t.OffsetMin = off
	t.Instant = time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC).
		Add(-time.Duration(off) * time.Minute)
	return t, nil
}

// trimSpaceTab trims only ' ' and '\t': other white space is not tolerated.
func trimSpaceTab(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// digits reads exactly n ASCII digits at s[p:].
func digits(s string, p, n int) (int, bool) {
	if p < 0 || p+n > len(s) {
		return 0, false
	}
	v := 0
	for _, c := range []byte(s[p : p+n]) {
		if !isDigit(c) {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func hasPrefixAt(s string, p int, prefix string) bool {
	return p+len(prefix) <= len(s) && s[p:p+len(prefix)] == prefix
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// ParseTimeBytes is ParseTime on the bytes of a JSON string's content,
// without copying them: decoders read a timestamp per point straight from
// the body. An error holds its own copy of the input.
func ParseTimeBytes(b []byte) (Time, error) {
	if len(b) == 0 {
		return ParseTime("")
	}
	t, err := parseTime(unsafe.String(&b[0], len(b)), false)
	if err != nil {
		var te *TimeError
		if errors.As(err, &te) {
			te.Input = strings.Clone(te.Input)
		}
	}
	return t, err
}
