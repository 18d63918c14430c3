package query

import (
	"encoding/base64"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestCursorRoundTrip(t *testing.T) {
	at := time.Date(2025, 3, 1, 16, 0, 0, 123456000, time.FixedZone("", -8*3600))
	key := keyStrings([]any{at, "Ana\u2019s Apple\u00a0Watch"})
	if key[0] != "2025-03-02T00:00:00.123456Z" {
		t.Errorf("time in a cursor: %s, want UTC with every digit", key[0])
	}
	c := cursor{"sessions": {Key: key}, "segments": {Done: true}}
	s := c.encode()
	for _, ch := range s {
		if !(ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
			t.Fatalf("cursor %q is not URL-safe", s)
		}
	}
	back, err := decodeCursor(s, sleepSessionList, sleepSegmentList)
	if err != nil {
		t.Fatal(err)
	}
	if !back["segments"].Done || !slices.Equal(back["sessions"].Key, key) {
		t.Errorf("decoded %+v", back)
	}
	vals, err := sleepSessionList.keyValues(back["sessions"].Key)
	if err != nil {
		t.Fatal(err)
	}
	if !vals[0].(time.Time).Equal(at) || vals[1] != "Ana\u2019s Apple\u00a0Watch" {
		t.Errorf("key values %v", vals)
	}
	if c, err := decodeCursor("", heartRateList); err != nil || len(c) != 0 {
		t.Errorf("empty cursor: %v, %v", c, err)
	}
}

func TestCursorRejected(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for name, c := range map[string]string{
		"not base64":         "!!!",
		"not JSON":           enc("points"),
		"another endpoint's": enc(`{"sessions":{"k":["2025-03-01T00:00:00Z","x"]}}`),
		"key too short":      enc(`{"points":{"k":["2025-03-01T00:00:00Z"]}}`),
		"key too long":       enc(`{"points":{"k":["2025-03-01T00:00:00Z","x","y"]}}`),
		"not a time":         enc(`{"points":{"k":["yesterday","x"]}}`),
		"null position":      enc(`{"points":null}`),
		"padded base64":      base64.URLEncoding.EncodeToString([]byte(`{"points":{"done":true}}`)) + "=",
	} {
		if _, err := decodeCursor(c, heartRateList); !errors.Is(err, ErrBadCursor) {
			t.Errorf("%s: %v, want ErrBadCursor", name, err)
		}
	}
}
