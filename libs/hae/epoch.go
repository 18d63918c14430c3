package hae

import (
	"math"
	"strconv"
	"time"
)

// Dates sent as JSON numbers (ECG voltages and heart-rate notification
// series in app 9.x) are seconds with a fraction. Two epochs are in use:
// Unix (1970) and Apple's reference date (2001-01-01, "Core Data"
// seconds). They are told apart by range: a Unix time since 2001 is at
// least ReferenceEpochUnix, while a reference-date time before 2032 is
// below it, and health data from before 2001 never comes as a number.
const (
	// ReferenceEpochUnix is 2001-01-01T00:00:00Z in Unix seconds.
	ReferenceEpochUnix = 978307200
	// epochMillisFrom: numbers this large are Unix milliseconds (in
	// seconds they would be after the year 5000).
	epochMillisFrom = 1e11
	// epochMillisMax bounds the milliseconds (the year 5138).
	epochMillisMax = 1e14
)

// ParseEpoch reads a date sent as a JSON number: Unix seconds from 2001
// on, seconds since 2001-01-01 below that, or Unix milliseconds from 1e11.
// The fraction is kept to the microsecond (truncated, as for text times)
// from the number's decimal digits, not through a float64, which cannot
// hold microseconds of a date in 2026. The offset is UTC.
func ParseEpoch(raw []byte) (Time, error) {
	s := string(raw)
	fail := func(reason string) (Time, error) { return Time{}, &TimeError{Input: s, Reason: reason} }
	whole, frac, ok := decimalParts(raw)
	if !ok {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fail("expected a number of seconds")
		}
		// An exponent: the float is all there is.
		whole = int64(math.Floor(f))
		frac = int64(math.Round((f - math.Floor(f)) * 1e6))
		if frac == 1e6 {
			whole, frac = whole+1, 0
		}
	}
	if whole < 0 {
		return fail("a negative number is not a date")
	}
	if whole >= epochMillisMax {
		return fail("too large for a date")
	}
	var at time.Time
	switch {
	case whole >= epochMillisFrom:
		at = time.UnixMicro(whole*1000 + frac/1000)
	case whole >= ReferenceEpochUnix:
		at = time.Unix(whole, frac*1000)
	default:
		at = time.Unix(whole+ReferenceEpochUnix, frac*1000)
	}
	at = at.UTC()
	y, m, d := at.Date()
	return Time{Instant: at, Year: y, Month: int(m), Day: d}, nil
}

// decimalParts splits a plain decimal number (digits, optional fraction,
// no sign or exponent) into whole units and microseconds.
func decimalParts(raw []byte) (whole, micros int64, ok bool) {
	i := 0
	for ; i < len(raw) && isDigit(raw[i]); i++ {
		if i >= 15 {
			return 0, 0, false
		}
		whole = whole*10 + int64(raw[i]-'0')
	}
	if i == 0 {
		return 0, 0, false
	}
	if i == len(raw) {
		return whole, 0, true
	}
	if raw[i] != '.' || i+1 == len(raw) {
		return 0, 0, false
	}
	n := 0
	for i++; i < len(raw); i++ {
		if !isDigit(raw[i]) {
			return 0, 0, false
		}
		if n < 6 {
			micros = micros*10 + int64(raw[i]-'0')
		}
		n++
	}
	for ; n < 6; n++ {
		micros *= 10
	}
	return whole, micros, true
}

// ParseTimeValue reads a date member's raw JSON value: a string in any
// form ParseTime takes, or a number (ParseEpoch).
func ParseTimeValue(raw []byte) (Time, error) {
	if len(raw) > 0 && (isDigit(raw[0]) || raw[0] == '-') {
		return ParseEpoch(raw)
	}
	s, ok := decodeString(raw)
	if !ok {
		return Time{}, &TimeError{Input: string(raw), Reason: "expected a date string or a number of seconds"}
	}
	return ParseTime(s)
}
