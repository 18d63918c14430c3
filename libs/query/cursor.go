package query

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrBadCursor is a cursor this endpoint did not make.
var ErrBadCursor = errors.New("invalid cursor")

// A cursor is opaque to clients: base64url of a JSON object with, per list
// of the endpoint, the key of the last row returned ({"k": [...]}) or that
// the list is done ({"done": true}); a list not named starts at its
// beginning. Times are RFC 3339 in UTC with every fractional digit.
type cursor map[string]*position

type position struct {
	Key  []string `json:"k,omitempty"`
	Done bool     `json:"done,omitempty"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c) // a map of strings: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads a cursor for an endpoint with these lists.
func decodeCursor(s string, lists ...*list) (cursor, error) {
	c := cursor{}
	if s == "" {
		return c, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64url", ErrBadCursor)
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%w: not one of this endpoint's", ErrBadCursor)
	}
	for name, p := range c {
		var l *list
		for _, x := range lists {
			if x.name == name {
				l = x
			}
		}
		if l == nil || p == nil {
			return nil, fmt.Errorf("%w: not one of this endpoint's", ErrBadCursor)
		}
		if p.Done {
			continue
		}
		if _, err := l.keyValues(p.Key); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// keyValues turns a cursor's key into query arguments.
func (l *list) keyValues(key []string) ([]any, error) {
	if len(key) != len(l.key) {
		return nil, fmt.Errorf("%w: not one of this endpoint's", ErrBadCursor)
	}
	out := make([]any, len(key))
	for i, k := range l.key {
		if !k.time {
			out[i] = key[i]
			continue
		}
		if k.date {
			d, err := time.Parse(time.DateOnly, key[i])
			if err != nil {
				return nil, fmt.Errorf("%w: not one of this endpoint's", ErrBadCursor)
			}
			out[i] = day(d)
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, key[i])
		if err != nil {
			return nil, fmt.Errorf("%w: not one of this endpoint's", ErrBadCursor)
		}
		out[i] = t
	}
	return out, nil
}

// keyStrings is the cursor form of a row's key values.
func keyStrings(vals []any) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		switch x := v.(type) {
		case time.Time:
			out[i] = x.UTC().Format(time.RFC3339Nano)
		case date:
			out[i] = time.Time(x).Format(time.DateOnly)
		case string:
			out[i] = x
		default:
			out[i] = fmt.Sprint(x)
		}
	}
	return out
}
