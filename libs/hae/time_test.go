package hae

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// timeExamples are the timestamps docs/data-rules.md and real exports show; they
// also seed FuzzParseTime.
var timeExamples = []string{
	"2024-02-06 14:30:00 -0800",
	"2024-09-21 7:57:00 PM +1000",
	"2024-09-21 7:57:00\u202fPM +1000",
	"2024-09-21 7:57:00 pm +1000",
	"2024-09-21 07:57 +10:00",
	"2025-01-15T10:00:00Z",
	"2025-01-15T10:00:00.123456789Z",
	"2025-01-15T10:00:00.5+0530",
	" \t2025-01-15 10:00:00 +0000 \t",
	"2025-01-15 10:00:00+0000",
	"2025-01-15 10:00:00    Z",
	"2025-03-09 14:00:00.250 -0700",
	"2025-03-10",
	"2025-01-15 10:00:00",
	"2025-01-15 13:00 PM +0000",
	"２０２５-01-15 10:00:00 +0000",
}

func TestParseTime(t *testing.T) {
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	tests := []struct {
		in      string
		instant string
		offset  int
		y, m, d int
	}{
		{"2024-02-06 14:30:00 -0800", "2024-02-06T22:30:00Z", -480, 2024, 2, 6},
		{"2024-09-21 7:57:00 PM +1000", "2024-09-21T09:57:00Z", 600, 2024, 9, 21},
		{"2024-09-21 7:57:00\u202fPM +1000", "2024-09-21T09:57:00Z", 600, 2024, 9, 21},
		{"2024-09-21 7:57:00\u00a0PM +1000", "2024-09-21T09:57:00Z", 600, 2024, 9, 21},
		{"2024-09-21 7:57:00 pm +1000", "2024-09-21T09:57:00Z", 600, 2024, 9, 21},
		{"2024-09-21 7:57:00 Pm +1000", "2024-09-21T09:57:00Z", 600, 2024, 9, 21},
		{"2024-09-21 7:57PM+1000", "2024-09-21T09:57:00Z", 600, 2024, 9, 21},
		{"2024-09-21 07:57 +10:00", "2024-09-20T21:57:00Z", 600, 2024, 9, 21},
		{"2025-01-15T10:00:00Z", "2025-01-15T10:00:00Z", 0, 2025, 1, 15},
		{"2025-01-15T10:00:00.123456789Z", "2025-01-15T10:00:00.123456Z", 0, 2025, 1, 15},
		{"2025-01-15T10:00:00.5+0530", "2025-01-15T04:30:00.5Z", 330, 2025, 1, 15},
		{" \t2025-01-15 10:00:00 +0000 \t", "2025-01-15T10:00:00Z", 0, 2025, 1, 15},
		{"2025-01-15 10:00:00+0000", "2025-01-15T10:00:00Z", 0, 2025, 1, 15},
		{"2025-01-15 10:00:00    Z", "2025-01-15T10:00:00Z", 0, 2025, 1, 15},
		{"2025-01-15 10:00:00 -00:00", "2025-01-15T10:00:00Z", 0, 2025, 1, 15},
		{"2025-03-09 1:59:00 AM -0800", "2025-03-09T09:59:00Z", -480, 2025, 3, 9},
		{"2025-03-09 3:01:00 am -0700", "2025-03-09T10:01:00Z", -420, 2025, 3, 9},
		{"2025-03-09 12:30:00 PM -0700", "2025-03-09T19:30:00Z", -420, 2025, 3, 9},
		{"2025-03-09 12:05 AM -0700", "2025-03-09T07:05:00Z", -420, 2025, 3, 9},
		{"2025-03-09 14:00:00.250 -0700", "2025-03-09T21:00:00.25Z", -420, 2025, 3, 9},
		{"2025-03-09 23:30 -0700", "2025-03-10T06:30:00Z", -420, 2025, 3, 9},
		{"2024-02-29 00:00 +0000", "2024-02-29T00:00:00Z", 0, 2024, 2, 29},
		{"2000-02-29 00:00 +0000", "2000-02-29T00:00:00Z", 0, 2000, 2, 29},
		{"9999-12-31 23:59:59 -2359", "10000-01-01T23:58:59Z", -1439, 9999, 12, 31},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTime(tt.in)
			if err != nil {
				t.Fatalf("ParseTime: %v", err)
			}
			var want time.Time
			if strings.HasPrefix(tt.instant, "10000") {
				want = time.Date(10000, 1, 1, 23, 58, 59, 0, time.UTC)
			} else {
				want = utc(tt.instant)
			}
			if !got.Instant.Equal(want) || got.Instant.Location() != time.UTC {
				t.Errorf("Instant = %v, want %v (UTC)", got.Instant, want)
			}
			if got.OffsetMin != tt.offset || got.DateOnly {
				t.Errorf("OffsetMin = %d DateOnly = %v, want %d false", got.OffsetMin, got.DateOnly, tt.offset)
			}
			if got.Year != tt.y || got.Month != tt.m || got.Day != tt.d {
				t.Errorf("date = %d-%d-%d, want %d-%d-%d", got.Year, got.Month, got.Day, tt.y, tt.m, tt.d)
			}
			again, err := ParseDateOrTime(tt.in)
			if err != nil || again != got {
				t.Errorf("ParseDateOrTime = %+v, %v; want %+v", again, err, got)
			}
		})
	}
}

func TestParseTimeErrors(t *testing.T) {
	tests := []struct{ in, reason string }{
		{"2025-01-15", "date without a time of day"},
		{"2025-01-15 10:00:00", "missing time zone"},
		{"2025-01-15 10:00", "missing time zone"},
		{"2025-01-15 13:00 PM +0000", "12-hour clock"},
		{"2025-01-15 0:00 AM +0000", "12-hour clock"},
		{"2025-01-15 10:00 +2400", "zone offset out of range"},
		{"2025-01-15 10:00 +2360", "zone offset out of range"},
		{"2025-01-15 10:00 +23:60", "zone offset out of range"},
		{"２０２５-01-15 10:00:00 +0000", "YYYY-MM-DD"},
		{"2025-01-15 1０:00 +0000", "H:MM"},
		{"2025-02-30 10:00:00 +0000", "day out of range"},
		{"2023-02-29 10:00:00 +0000", "day out of range"},
		{"2025-04-31 10:00:00 +0000", "day out of range"},
		{"2025-01-00 10:00:00 +0000", "day out of range"},
		{"2024-13-01 10:00:00 +0000", "month out of range"},
		{"2024-00-01 10:00:00 +0000", "month out of range"},
		{"2025-01-15 24:00 +0000", "hour out of range"},
		{"2025-01-15 10:60 +0000", "minute out of range"},
		{"2025-01-15 10:00:60 +0000", "second out of range"},
		{"2025-01-15 10:00:00 +0000 x", "unexpected text"},
		{"2025-01-15 10:00:00 +0000Z", "unexpected text"},
		{"2025-01-15 10:00:00 +000", "±HHMM"},
		{"2025-01-15 10:00:00 +01", "±HHMM"},
		{"2025-01-15 10:00:00 UTC", "expected a time zone"},
		{"2025-01-15 10:00:00 z", "expected a time zone"},
		{"2025-01-15 10:00:00. +0000", "digits after the decimal point"},
		{"2025-01-15 10:00:00.1234567890Z", "too many fractional digits"},
		{"2025-01-15 10:00.5 +0000", "expected a time zone"},
		{"2025-01-15  10:00 +0000", "H:MM"},
		{"2025-01-15 10:00  PM +0000", "expected a time zone"},
		{"2025-01-15 10:0 +0000", "minutes"},
		{"2025-01-15 100:00 +0000", "H:MM"},
		{"2025-01-15 10:00:0 +0000", "seconds"},
		{"2025-1-15 10:00 +0000", "YYYY-MM-DD"},
		{"25-01-15 10:00 +0000", "YYYY-MM-DD"},
		{"2025/01/15 10:00 +0000", "YYYY-MM-DD"},
		{"2025-01-15x10:00 +0000", "a space or T"},
		{"\n2025-01-15 10:00 +0000", "YYYY-MM-DD"},
		{"2025-01-15 10:00 +0000\n", "unexpected text"},
		{"", "YYYY-MM-DD"},
		{"yesterday at noon", "YYYY-MM-DD"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTime(tt.in)
			if err == nil {
				t.Fatalf("ParseTime = %+v, want an error", got)
			}
			var te *TimeError
			if !errors.As(err, &te) || te.Input != tt.in {
				t.Fatalf("error %v is not a *TimeError for the input", err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not mention %q", err, tt.reason)
			}
		})
	}
	_, err := ParseTime("2024-13-01 10:00:00 +0000")
	if want := `timestamp "2024-13-01 10:00:00 +0000": month out of range`; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

func TestParseDateOrTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2025-03-10", time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC), true},
		{" 2024-02-29\t", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), true},
		{"0000-01-01", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"2025-02-29", time.Time{}, false},
		{"2025-03-10 ", time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC), true}, // trailing space trimmed
		{"2025-03-10T", time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := ParseDateOrTime(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseDateOrTime(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && (!got.DateOnly || !got.Instant.Equal(tt.want) || got.OffsetMin != 0 ||
			got.Year != tt.want.Year() || got.Month != int(tt.want.Month()) || got.Day != tt.want.Day()) {
			t.Errorf("ParseDateOrTime(%q) = %+v, want date-only %v", tt.in, got, tt.want)
		}
	}
}

func TestParseTimeAllocs(t *testing.T) {
	for _, s := range []string{"2024-09-21 7:57:00\u202fPM +1000", "2025-01-15T10:00:00.123456789Z", "2025-03-10"} {
		if n := testing.AllocsPerRun(100, func() { _, _ = ParseDateOrTime(s) }); n != 0 {
			t.Errorf("ParseDateOrTime(%q) allocates %v times", s, n)
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range timeExamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseDateOrTime(s)
		strict, serr := ParseTime(s)
		if err != nil {
			if serr == nil {
				t.Fatalf("ParseTime accepts %q but ParseDateOrTime does not", s)
			}
			return
		}
		if got.DateOnly != (serr != nil) || (serr == nil && strict != got) {
			t.Fatalf("ParseTime and ParseDateOrTime disagree on %q", s)
		}
		if got.Instant.Location() != time.UTC {
			t.Fatalf("%q: Instant not in UTC", s)
		}
		if got.Instant.Nanosecond()%1000 != 0 {
			t.Fatalf("%q: Instant keeps sub-microsecond digits", s)
		}
		local := got.Instant.In(time.FixedZone("", got.OffsetMin*60))
		if local.Year() != got.Year || int(local.Month()) != got.Month || local.Day() != got.Day {
			t.Fatalf("%q: date %d-%d-%d differs from the local date of %v", s, got.Year, got.Month, got.Day, local)
		}
		layout := "2006-01-02 15:04:05.000000 -0700"
		if got.DateOnly {
			layout = "2006-01-02"
		}
		again, err := ParseDateOrTime(local.Format(layout))
		if err != nil {
			t.Fatalf("%q re-formatted as %q: %v", s, local.Format(layout), err)
		}
		if !again.Instant.Equal(got.Instant) || again.OffsetMin != got.OffsetMin || again.DateOnly != got.DateOnly {
			t.Fatalf("%q round trip: %+v, then %+v", s, got, again)
		}
	})
}

func BenchmarkParseTime(b *testing.B) {
	for _, s := range []string{"2024-02-06 14:30:00 -0800", "2024-09-21 7:57:00\u202fPM +1000", "2025-01-15T10:00:00.123456Z"} {
		b.Run(s, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseTime(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestParseTimeBytes(t *testing.T) {
	buf := []byte("2024-09-21 7:57:00\u202fPM +1000")
	got, err := ParseTimeBytes(buf)
	want, _ := ParseTime(string(buf))
	if err != nil || got != want {
		t.Fatalf("ParseTimeBytes = %+v, %v; want %+v", got, err, want)
	}
	bad := []byte("yesterday at noon")
	_, err = ParseTimeBytes(bad)
	copy(bad, "XXXXXXXXXXXXXXXXX") // the error must not see the caller's buffer change
	if err == nil || !strings.Contains(err.Error(), "yesterday at noon") {
		t.Fatalf("error %v does not hold its own copy of the input", err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseTimeBytes(buf) }); n != 0 {
		t.Errorf("%v allocations per parse, want 0", n)
	}
}
