package hae

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// testRouter stands in for the kind registry, which hae does not import.
type testRouter struct{}

func (testRouter) MetricKind(name string) string {
	switch name {
	case "heart_rate":
		return "heart_rate"
	case "blood_pressure":
		return "blood_pressure"
	case "sleep_analysis":
		return "sleep"
	}
	return "quantity"
}

func (testRouter) TaggedKind(typ string) string {
	switch typ {
	case "HeartRate":
		return "heart_rate"
	case "BloodPressure":
		return "blood_pressure"
	case "Workout":
		return "workout"
	}
	return "quantity"
}

func (testRouter) ArrayKind(key string) string {
	switch key {
	case "workouts":
		return "workout"
	case "ecg":
		return "ecg"
	case "symptoms", "stateOfMind", "medications", "cycleTracking", "heartRateNotifications":
		return "event"
	}
	return ""
}

// walkItems walks body and returns copies of the items.
func walkItems(w *Walker, body []byte) ([]Item, error) {
	if w == nil {
		w = new(Walker)
	}
	var items []Item
	err := w.Walk(body, testRouter{}, func(it *Item) error {
		items = append(items, *it)
		return nil
	})
	return items, err
}

func readConformance(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "conformance", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func conformanceFiles(t testing.TB) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "conformance", "*.json"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no conformance bodies: %v", err)
	}
	for i, n := range names {
		names[i] = filepath.Base(n)
	}
	return names
}

// --- an independent walker built on encoding/json, to check the scanner ---

type member struct {
	key string
	val json.RawMessage
}

// orderedMembers lists an object's members; the last occurrence of a key
// wins and keeps its place.
func orderedMembers(obj []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var ms []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("key %v", tok)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		for i := range ms {
			if ms[i].key == key {
				ms = append(ms[:i], ms[i+1:]...)
				break
			}
		}
		ms = append(ms, member{key, raw})
	}
	return ms, nil
}

func rawObject(raw []byte) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

func rawString(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func pointerToken(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// oracleWalk states the walking rules again with encoding/json.
func oracleWalk(body []byte, r Router) ([]Item, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, ErrNoData
	}
	data, ok := top["data"]
	if !ok || data[0] != '{' {
		return nil, ErrNoData
	}
	ms, err := orderedMembers(data)
	if err != nil {
		return nil, err
	}
	var items []Item
	for _, m := range ms {
		if m.key == "metrics" {
			items = append(items, oracleMetrics(m.val, r)...)
			continue
		}
		kind := r.ArrayKind(m.key)
		if kind == "" {
			continue
		}
		switch m.val[0] {
		case 'n':
		case '[':
			var els []json.RawMessage
			if err := json.Unmarshal(m.val, &els); err != nil {
				return nil, err
			}
			for i, el := range els {
				_, tagged := rawObject(el)["workout_type"]
				items = append(items, Item{Kind: kind, Source: m.key, Tagged: tagged && m.key == "workouts",
					Array: "/data/" + pointerToken(m.key), Index: i, Raw: el})
			}
		default:
			items = append(items, Item{Kind: kind, Source: m.key, Array: "/data", Key: m.key, Raw: m.val})
		}
	}
	return items, nil
}

func oracleMetrics(val json.RawMessage, r Router) []Item {
	switch val[0] {
	case 'n':
		return nil
	case '[':
	default:
		return []Item{{Kind: r.MetricKind(""), Source: "metrics", Array: "/data", Key: "metrics", Raw: val}}
	}
	var els []json.RawMessage
	if err := json.Unmarshal(val, &els); err != nil {
		panic(err)
	}
	var items []Item
	for i, el := range els {
		obj := rawObject(el)
		if obj == nil {
			items = append(items, Item{Kind: r.MetricKind(""), Source: "metrics", Array: "/data/metrics", Index: i, Raw: el})
			continue
		}
		if typ, ok := obj["type"]; ok {
			s, _ := rawString(typ)
			items = append(items, Item{Kind: r.TaggedKind(s), Source: "metrics", Tagged: true, Array: "/data/metrics", Index: i, Raw: el})
			continue
		}
		tmpl := Item{Source: "metrics"}
		tmpl.Name, tmpl.HasName = rawString(obj["name"])
		tmpl.Units, _ = rawString(obj["units"])
		d, ok := obj["data"]
		if !ok || d[0] == 'n' {
			continue
		}
		if d[0] != '[' {
			tmpl.Kind, tmpl.Array, tmpl.Key, tmpl.Raw = r.MetricKind(""), fmt.Sprintf("/data/metrics/%d", i), "data", d
			items = append(items, tmpl)
			continue
		}
		var pts []json.RawMessage
		if err := json.Unmarshal(d, &pts); err != nil {
			panic(err)
		}
		for j, pt := range pts {
			it := tmpl
			it.Kind, it.Array, it.Index, it.Raw = r.MetricKind(tmpl.Name), fmt.Sprintf("/data/metrics/%d/data", i), j, pt
			items = append(items, it)
		}
	}
	return items
}

// tapeLimitCases squeeze the tape so the rescan path runs on small bodies.
var tapeLimitCases = [][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}, {2, 1}, {3, 2}, {5, 3}}

// checkWalk asserts that Walk agrees with the oracle (when the body is
// valid for encoding/json) and with itself under every tape budget.
func checkWalk(t testing.TB, body []byte) []Item {
	t.Helper()
	items, err := walkItems(nil, body)
	if json.Valid(body) {
		want, werr := oracleWalk(body, testRouter{})
		if errors.Is(werr, ErrNoData) != errors.Is(err, ErrNoData) || (werr == nil) != (err == nil) {
			t.Fatalf("Walk error %v, oracle error %v", err, werr)
		}
		if err == nil && !sameItems(items, want) {
			t.Fatalf("Walk and the oracle differ:\n walk   %s\n oracle %s", describeItems(items), describeItems(want))
		}
	}
	for _, lim := range tapeLimitCases {
		w := &Walker{tapeLimits: &lim}
		got, gerr := walkItems(w, body)
		if (gerr == nil) != (err == nil) || !sameItems(got, items) {
			t.Fatalf("tape limits %v: got %s (%v), want %s (%v)", lim, describeItems(got), gerr, describeItems(items), err)
		}
	}
	return items
}

func sameItems(a, b []Item) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

func describeItems(items []Item) string {
	var sb strings.Builder
	for _, it := range items {
		fmt.Fprintf(&sb, "\n  %s %s src=%s tagged=%v name=%q/%v units=%q ord=%d raw=%.40q", it.Kind, it.Pointer(), it.Source, it.Tagged, it.Name, it.HasName, it.Units, it.Ordinal, it.Raw)
	}
	return sb.String()
}
