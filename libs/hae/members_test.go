package hae

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestObjectAndArray(t *testing.T) {
	tests := []struct {
		raw  string
		want map[string]string // key -> raw value
		err  bool
	}{
		{raw: `{}`, want: map[string]string{}},
		{raw: ` {"a": 1, "b" : [1, {"c": 2}], "d\u0061": "x\"y", "é": null, "é\u0061": 2} `, want: map[string]string{"a": "1", "b": `[1, {"c": 2}]`, "da": `"x\"y"`, "é": "null", "éa": "2"}},
		{raw: `{"a": 1,}`, err: true},
		{raw: `{"a" 1}`, err: true},
		{raw: `{"a": 1} x`, err: true},
		{raw: `[1]`, err: true},
		{raw: `{"a": [1, 2}`, err: true},
		{raw: ``, err: true},
	}
	for _, tc := range tests {
		got, err := Object([]byte(tc.raw), nil)
		if tc.err {
			if err == nil {
				t.Errorf("Object(%q) = %v, want an error", tc.raw, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("Object(%q): %v", tc.raw, err)
			continue
		}
		m := map[string]string{}
		for _, mem := range got {
			m[string(mem.Key)] = string(mem.Value)
		}
		if !reflect.DeepEqual(m, tc.want) {
			t.Errorf("Object(%q) = %v, want %v", tc.raw, m, tc.want)
		}
	}
	elems, err := Array([]byte(` [1, "two", {"three": [3]}, null] `), nil)
	if err != nil || len(elems) != 4 || string(elems[2]) != `{"three": [3]}` {
		t.Fatalf("Array = %q, %v", elems, err)
	}
	if _, err := Array([]byte(`[1,]`), nil); err == nil {
		t.Error("Array accepted a trailing comma")
	}
}

// Object agrees with encoding/json on every valid object (last key wins is
// the caller's business: Object keeps every member in order).
func FuzzObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"b":{"c":[1,2]}}`, `{"\u00e9":"x","a":1,"a":2}`, `{"a":"\ud800"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ms, err := Object(raw, nil)
		var want map[string]json.RawMessage
		jerr := json.Unmarshal(raw, &want)
		if jerr != nil {
			return // invalid input: Object may or may not notice; it must only not panic
		}
		if err != nil {
			t.Fatalf("Object failed on valid %q: %v", raw, err)
		}
		got := map[string]string{}
		for _, m := range ms {
			got[string(m.Key)] = string(m.Value)
		}
		if len(got) != len(want) {
			t.Fatalf("keys %v, want %v", got, want)
		}
		for k, v := range want {
			var a, b any
			_ = json.Unmarshal(v, &a)
			if err := json.Unmarshal([]byte(got[k]), &b); err != nil || !reflect.DeepEqual(a, b) {
				t.Fatalf("member %q = %q, want %q", k, got[k], v)
			}
		}
	})
}

// Strings as the query API and export write them: they read back as
// given, and U+2028/U+2029 are escaped as encoding/json does.
func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "iPhone", "Ana\u2019s Apple\u00a0Watch", "a|b", `quote " and \ backslash`, "tab\tnew\nline\r", "\x00\x01\x1f",
		"line\u2028sep\u2029", "<tag> & amp", "emoji 🫀", "ends with \\"} {
		got := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil || back != s {
			t.Errorf("AppendString(%q) = %s: reads back %q, %v", s, got, back, err)
		}
	}
	if got := string(AppendString(nil, "a\u2028b\u2029")); got != `"a\u2028b\u2029"` {
		t.Errorf("line separators: %s, want them escaped", got)
	}
	// Invalid UTF-8 becomes U+FFFD, still valid JSON.
	got := AppendString(nil, "a\xffb")
	if string(got) != `"a\ufffdb"` || !json.Valid(got) {
		t.Errorf("invalid UTF-8: %s", got)
	}
}
