package hae

import (
	"testing"
	"time"
)

func TestParseEpoch(t *testing.T) {
	utc := func(s string) time.Time {
		at, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	cases := []struct {
		name, in string
		want     time.Time
		bad      bool
	}{
		{"unix seconds", "1764547200", utc("2025-12-01T00:00:00Z"), false},
		{"unix seconds to the microsecond", "1764547200.123456", utc("2025-12-01T00:00:00.123456Z"), false},
		{"unix fraction beyond microseconds truncated", "1764547200.1234569", utc("2025-12-01T00:00:00.123456Z"), false},
		{"unix short fraction", "1741802400.5", utc("2025-03-12T18:00:00.5Z"), false},
		{"reference date seconds", "786240000", utc("2025-12-01T00:00:00Z"), false},
		{"reference date with fraction", "763495200.002", utc("2025-03-12T18:00:00.002Z"), false},
		{"reference date zero", "0", utc("2001-01-01T00:00:00Z"), false},
		{"last reference second before the switch", "978307199", utc("2032-01-01T23:59:59Z"), false},
		{"first unix second after the switch", "978307200", utc("2001-01-01T00:00:00Z"), false},
		{"unix milliseconds", "1764547200123", utc("2025-12-01T00:00:00.123Z"), false},
		{"unix milliseconds with fraction", "1764547200123.456", utc("2025-12-01T00:00:00.123456Z"), false},
		{"exponent", "1.7645472e9", utc("2025-12-01T00:00:00Z"), false},
		{"negative", "-5", time.Time{}, true},
		{"not a number", "abc", time.Time{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseEpoch([]byte(c.in))
			if c.bad {
				if err == nil {
					t.Fatalf("ParseEpoch(%s) = %v, want an error", c.in, got.Instant)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseEpoch(%s): %v", c.in, err)
			}
			if !got.Instant.Equal(c.want) || got.OffsetMin != 0 {
				t.Errorf("ParseEpoch(%s) = %s %+d, want %s +0", c.in, got.Instant.Format(time.RFC3339Nano), got.OffsetMin, c.want.Format(time.RFC3339Nano))
			}
			if y, m, d := c.want.Date(); got.Year != y || got.Month != int(m) || got.Day != d {
				t.Errorf("calendar date %d-%d-%d, want %s", got.Year, got.Month, got.Day, c.want.Format(time.DateOnly))
			}
		})
	}
}

func TestParseTimeValue(t *testing.T) {
	cases := []struct {
		in   string
		want string
		off  int
	}{
		{`"2025-03-12 10:00:00.004 -0800"`, "2025-03-12T18:00:00.004Z", -480},
		{`"2024-09-21 7:57:00\u202fpm +1000"`, "2024-09-21T09:57:00Z", 600},
		{`1741802400.004`, "2025-03-12T18:00:00.004Z", 0},
		{`763495200.004`, "2025-03-12T18:00:00.004Z", 0},
	}
	for _, c := range cases {
		got, err := ParseTimeValue([]byte(c.in))
		if err != nil {
			t.Errorf("ParseTimeValue(%s): %v", c.in, err)
			continue
		}
		if s := got.Instant.UTC().Format(time.RFC3339Nano); s != c.want || got.OffsetMin != c.off {
			t.Errorf("ParseTimeValue(%s) = %s %+d, want %s %+d", c.in, s, got.OffsetMin, c.want, c.off)
		}
	}
	for _, bad := range []string{`true`, `{}`, `null`, `"yesterday"`} {
		if _, err := ParseTimeValue([]byte(bad)); err == nil {
			t.Errorf("ParseTimeValue(%s): no error", bad)
		}
	}
}

func FuzzParseEpoch(f *testing.F) {
	for _, s := range []string{"1764547200.123456", "786240000", "1.7e9", "1764547200123", "0.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseEpoch([]byte(s))
		if err != nil {
			return
		}
		if got.Instant.Nanosecond()%1000 != 0 {
			t.Errorf("ParseEpoch(%q) kept less than a microsecond: %s", s, got.Instant.Format(time.RFC3339Nano))
		}
		if got.Instant.Before(time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("ParseEpoch(%q) = %s, before 1970", s, got.Instant)
		}
	})
}
