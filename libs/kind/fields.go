package kind

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/healthexport/libs/hae"
)

// object is one JSON object split into its members (raw values aliasing
// the item). Objects are small, so a slice searched from the end (the last
// duplicate wins, as in encoding/json) beats a map.
type object []hae.Member

// get returns a member's raw value.
func (o object) get(key string) ([]byte, bool) {
	for i := len(o) - 1; i >= 0; i-- {
		if string(o[i].Key) == key {
			return o[i].Value, true
		}
	}
	return nil, false
}

// has reports a member, whatever its value.
func (o object) has(key string) bool {
	_, ok := o.get(key)
	return ok
}

// reasonError is a rejection reason meant for a person.
type reasonError string

func (e reasonError) Error() string { return string(e) }

func reasonf(format string, args ...any) error { return reasonError(fmt.Sprintf(format, args...)) }

func decodeObject(raw []byte) (object, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, reasonf("expected a JSON object, got %s", describeJSON(raw))
	}
	o, err := hae.Object(raw, nil)
	if err != nil {
		return nil, reasonf("not a valid JSON object")
	}
	return object(o), nil
}

func describeJSON(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '{':
		return "an object"
	}
	return "a number"
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// str reads a string member; a missing or null member is ("", false, nil).
func (o object) str(key string) (string, bool, error) {
	raw, ok := o.get(key)
	if !ok || isNull(raw) {
		return "", false, nil
	}
	s, ok := hae.String(raw)
	if !ok {
		return "", false, reasonf("%s: must be a string, got %s", key, describeJSON(raw))
	}
	return s, true, nil
}

// num reads a numeric member; a missing or null member is (0, false, nil).
func (o object) num(key string) (float64, bool, error) {
	raw, ok := o.get(key)
	if !ok || isNull(raw) {
		return 0, false, nil
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return 0, false, reasonf("%s: must be a number, got %s", key, describeJSON(raw))
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false, reasonf("%s: %s is not a finite number", key, raw)
	}
	return f, true, nil
}

// source reads "source": missing, null or empty is "" (NULLs would defeat
// unique keys); a string is kept exactly as sent. App 9.x sends an object
// ({name, bundleIdentifier, ...}) in places: its name ("name", else
// "sourceName") is the source, and object reports that the member should
// stay in the row's details (or extra) with its other fields. Another
// value is refused.
func (o object) source(env *Env, key string) (name string, object bool, err error) {
	raw, ok := o.get(key)
	if !ok || isNull(raw) {
		return "", false, nil
	}
	raw = bytes.TrimSpace(raw)
	if s, ok := env.sourceOf(raw); ok {
		return s, false, nil
	}
	if raw[0] != '{' {
		s, _, err := o.str(key)
		return s, false, err
	}
	src, err := decodeObject(raw)
	if err != nil {
		return "", false, reasonf("%s: %v", key, err)
	}
	for _, k := range [...]string{"name", "sourceName"} {
		if v, ok, _ := src.str(k); ok && v != "" {
			return v, true, nil
		}
	}
	return "", true, nil
}

// maxSources bounds the distinct sources a message's Env keeps.
const maxSources = 64

// sourceOf is the string a plain JSON string literal (no escapes, valid
// UTF-8) holds, from the message's few distinct sources: every point of a
// part names the same one or two devices, and a string per point was a
// quarter of the writer's allocations. false for anything else.
func (env *Env) sourceOf(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	if s, ok := env.sources[string(body)]; ok { // no allocation for the lookup
		return s, true
	}
	if bytes.IndexByte(body, '"') >= 0 || !hae.Plain(body) || len(env.sources) >= maxSources {
		return "", false
	}
	if env.sources == nil {
		env.sources = map[string]string{}
	}
	s := string(body)
	env.sources[s] = s
	return s, true
}

// sourceDetails is the source member when it goes to details: the names of
// the members details leave out, without "source" when it was an object.
func sourceDetails(used []string, object bool) []string {
	if !object {
		return used
	}
	out := make([]string, 0, len(used))
	for _, k := range used {
		if k != "source" {
			out = append(out, k)
		}
	}
	return out
}

// Window bounds accepted times: not before 1900, not more than 24 h after
// the upload was received.
var earliest = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)

const futureSlack = 24 * time.Hour

// when reads a required timestamp member (a string, or a number of
// seconds) and checks it against the window.
func (o object) when(env *Env, key string) (hae.Time, error) {
	var (
		t   hae.Time
		err error
	)
	raw, ok := o.get(key)
	switch {
	case ok && plainString(raw):
		// The common case: parsed in place, without copying the string.
		t, err = hae.ParseTimeBytes(raw[1 : len(raw)-1])
	case ok && isNumber(raw):
		t, err = hae.ParseEpoch(bytes.TrimSpace(raw))
	default:
		s, ok, serr := o.str(key)
		if serr != nil {
			return hae.Time{}, serr
		}
		if !ok {
			return hae.Time{}, reasonf("%s: missing", key)
		}
		t, err = hae.ParseTime(s)
	}
	if err != nil {
		return hae.Time{}, reasonf("%s: %v", key, err)
	}
	if err := inWindow(env, key, t.Instant); err != nil {
		return hae.Time{}, err
	}
	return t, nil
}

// isNumber reports a JSON number.
func isNumber(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9')
}

// timeOf reads an optional timestamp member, a string or a number of
// seconds: (zero, false, nil) when missing or null.
func (o object) timeOf(key string) (hae.Time, bool, error) {
	raw, ok := o.get(key)
	if !ok || isNull(raw) {
		return hae.Time{}, false, nil
	}
	if isNumber(raw) {
		t, err := hae.ParseEpoch(bytes.TrimSpace(raw))
		if err != nil {
			return hae.Time{}, false, reasonf("%s: %v", key, err)
		}
		return t, true, nil
	}
	s, _, err := o.str(key)
	if err != nil {
		return hae.Time{}, false, err
	}
	t, err := hae.ParseTime(s)
	if err != nil {
		return hae.Time{}, false, reasonf("%s: %v", key, err)
	}
	return t, true, nil
}

func inWindow(env *Env, key string, t time.Time) error {
	// RFC3339Nano: a fraction of a second can be what puts a time outside
	// the window, so the reason must not round it away.
	if t.Before(earliest) {
		return reasonf("%s: %s is before 1900", key, t.UTC().Format(time.RFC3339Nano))
	}
	if limit := env.ReceivedAt.Add(futureSlack); t.After(limit) {
		return reasonf("%s: %s is more than 24 h after the upload was received (%s)",
			key, t.UTC().Format(time.RFC3339Nano), env.ReceivedAt.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// between checks an optional value against a closed range. It runs for
// every value of every item, so the reason is formatted only on failure.
func between(key string, v optFloat, lo, hi float64) error {
	if !v.ok || v.v >= lo && v.v <= hi {
		return nil
	}
	return reasonf("%s: must be between %g and %g, got %g", key, lo, hi, v.v)
}

// optFloat is an optional number: a value, not a pointer, so reading one
// per point does not allocate.
type optFloat struct {
	v  float64
	ok bool
}

func some(v float64) optFloat { return optFloat{v: v, ok: true} }

// value is the number for a row, or nil (NULL).
func (f optFloat) value() any {
	if !f.ok {
		return nil
	}
	return f.v
}

// optNum reads an optional number.
func (o object) optNum(key string) (optFloat, error) {
	f, ok, err := o.num(key)
	return optFloat{v: f, ok: ok && err == nil}, err
}

// firstNum reads the first present member of keys as a number.
func (o object) firstNum(keys ...string) (optFloat, error) {
	for _, k := range keys {
		if raw, ok := o.get(k); ok && !isNull(raw) {
			return o.optNum(k)
		}
	}
	return optFloat{}, nil
}

// rejectReason turns a decoding error into the reason stored for people.
func rejectReason(err error) string {
	if r, ok := err.(reasonError); ok {
		return string(r)
	}
	return err.Error()
}

func offset(t hae.Time) int16 { return int16(t.OffsetMin) }

// optTime reads an optional timestamp: missing, null or unparseable is
// (zero, false). For fields where "an unparseable value counts as missing".
func (o object) optTime(key string) (hae.Time, bool) {
	t, ok, err := o.timeOf(key)
	return t, ok && err == nil
}

// strictOptTime reads an optional timestamp that must parse when present.
func (o object) strictOptTime(key string) (*hae.Time, error) {
	t, ok, err := o.timeOf(key)
	if err != nil || !ok {
		return nil, err
	}
	return &t, nil
}

// rest returns the members not named in used, as a JSON object string for
// a jsonb column, or nil when nothing is left.
func (o object) rest(used ...string) (any, error) {
	if !slices.ContainsFunc(o, func(m hae.Member) bool { return !slices.Contains(used, string(m.Key)) }) {
		return nil, nil // the common case: nothing left, no map
	}
	left := make(map[string]json.RawMessage, len(o))
	for _, m := range o {
		left[string(m.Key)] = m.Value
	}
	for _, k := range used {
		delete(left, k)
	}
	if len(left) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(left)
	if err != nil {
		return nil, fmt.Errorf("details: %w", err)
	}
	return string(b), nil
}

// instant is a time for a timestamptz column, or nil.
func instant(t *hae.Time) any {
	if t == nil {
		return nil
	}
	return t.Instant
}

// subOrdinal orders the rows an item yields from its own sub-items (route
// points, samples): within the item's ordinal, by position.
func subOrdinal(it *hae.Item, j int) int64 { return int64(it.Ordinal)<<24 | int64(j&(1<<24-1)) }

// span reads the start (required, in the window), end (optional, must
// parse when present) and source of an ECG or an event; srcObject is set
// when the source was an object (kept in details).
func (o object) span(env *Env) (start hae.Time, end *hae.Time, src string, srcObject bool, err error) {
	if start, err = o.when(env, "start"); err != nil {
		return
	}
	if end, err = o.strictOptTime("end"); err != nil {
		return
	}
	src, srcObject, err = o.source(env, "source")
	return
}

// plainString reports a JSON string literal without escapes.
func plainString(raw []byte) bool {
	return len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw[1:len(raw)-1], '\\') < 0
}

// decodeItem splits an item's object into the message's scratch space:
// items are decoded one after the other, and none keeps its object.
func decodeItem(env *Env, raw []byte) (object, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, reasonf("expected a JSON object, got %s", describeJSON(raw))
	}
	o, err := hae.Object(raw, env.scratch[:0])
	env.scratch = o
	if err != nil {
		return nil, reasonf("not a valid JSON object")
	}
	return object(o), nil
}
