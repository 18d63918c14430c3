package query

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func off(m int16) *int16 { return &m }

func TestFormatTime(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		instant string
		offset  *int16
		want    string
	}{
		{"2025-03-01T16:00:00Z", off(-480), "2025-03-01T08:00:00-08:00"},
		{"2025-03-09T21:00:00.25Z", off(-420), "2025-03-09T14:00:00.25-07:00"},
		{"2025-03-09T10:30:00Z", off(330), "2025-03-09T16:00:00+05:30"},
		{"1998-07-14T06:00:00Z", off(120), "1998-07-14T08:00:00+02:00"},
		{"2025-03-01T16:01:00Z", off(0), "2025-03-01T16:01:00Z"},
		{"2025-03-01T16:01:00Z", nil, "2025-03-01T16:01:00Z"},
		{"2025-03-12T18:00:00.002Z", off(-480), "2025-03-12T10:00:00.002-08:00"},
		{"2025-01-01T00:00:00.000001Z", off(-1439), "2024-12-31T00:01:00.000001-23:59"},
		{"2025-01-01T00:30:00Z", off(-30), "2025-01-01T00:00:00-00:30"},
		// The instant in another zone renders the same.
		{"2025-03-01T17:00:00+01:00", off(-480), "2025-03-01T08:00:00-08:00"},
	} {
		got := FormatTime(at(c.instant), c.offset)
		if got != c.want {
			t.Errorf("FormatTime(%s, %v) = %s, want %s", c.instant, c.offset, got, c.want)
		}
		// Read back, it is the same instant.
		if back := at(got); !back.Equal(at(c.instant)) {
			t.Errorf("%s reads back as %v, not %s", got, back, c.instant)
		}
	}
}

func TestAppendFloat(t *testing.T) {
	for _, f := range []float64{0, 1, -1, 71.25, 9120.5, 1e20, 1e21, 1e-6, 1e-7, -0.0008, 37.775000000000006, 123456789.125, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		want, _ := json.Marshal(f)
		if got := string(appendFloat(nil, f)); got != string(want) {
			t.Errorf("appendFloat(%v) = %s, encoding/json writes %s", f, got, want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got := string(appendFloat(nil, f)); got != "null" {
			t.Errorf("appendFloat(%v) = %s, want null", f, got)
		}
	}
}

func TestAppendJSONValues(t *testing.T) {
	vals := []any{nil, "x", 1.5, int16(-480), int64(7), true, rawJSON(`{"mealTime": "Before Meal"}`),
		[]any{-0.0008, 0.0, nil}, date(time.Date(2025, 3, 5, 0, 0, 0, 0, time.UTC)), []byte("{\"a\":1}"),
		[16]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0},
		time.Date(2025, 3, 1, 16, 0, 0, 0, time.UTC)}
	b := appendObject(nil, []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}, vals, off(-480))
	want := `{"a":null,"b":"x","c":1.5,"d":-480,"e":7,"f":true,"g":{"mealTime": "Before Meal"},"h":[-0.0008,0,null],` +
		`"i":"2025-03-05","j":"{\"a\":1}","k":"12345678-9abc-def0-1234-56789abcdef0","l":"2025-03-01T08:00:00-08:00"}`
	if string(b) != want {
		t.Errorf("appendObject:\n got %s\nwant %s", b, want)
	}
	if !json.Valid(b) {
		t.Error("not valid JSON")
	}
	text := string(appendText(nil, time.Date(2025, 3, 1, 16, 0, 0, 0, time.UTC), off(-480))) + "|" +
		string(appendText(nil, nil, nil)) + "|" + string(appendText(nil, "a,b", nil)) + "|" +
		string(appendText(nil, []any{1.0, 2.5}, nil)) + "|" + string(appendText(nil, rawJSON(`{"x":1}`), nil)) + "|" +
		string(appendText(nil, []byte("a\xffb"), nil))
	if text != "2025-03-01T08:00:00-08:00||a,b|[1,2.5]|{\"x\":1}|a\ufffdb" {
		t.Errorf("appendText: %q", text)
	}
}
