package hae

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// cutAll walks body and cuts it into parts of at most maxBytes.
func cutAll(t testing.TB, body []byte, maxBytes int) (items []Item, parts []*Part, err error) {
	t.Helper()
	c := NewCutter(maxBytes, func(p *Part) error {
		parts = append(parts, p)
		return nil
	})
	err = Walk(body, testRouter{}, func(it *Item) error {
		ord, err := c.Add(it)
		if err != nil {
			return err
		}
		if ord != it.Ordinal {
			t.Fatalf("Add returned ordinal %d, set %d", ord, it.Ordinal)
		}
		items = append(items, *it)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, it := range items {
		counts[it.Kind]++
	}
	if fmt.Sprint(c.Counts()) != fmt.Sprint(counts) {
		t.Fatalf("Counts() = %v, want %v", c.Counts(), counts)
	}
	return items, parts, nil
}

// roundTrip asserts the part invariants: decoding every part gives back
// exactly the walked items, ordinals per kind run 0..n-1 without a gap, every
// payload is JSON, no part is over maxBytes unless it holds a single item,
// and cutting again gives the same parts.
func roundTrip(t testing.TB, body []byte, maxBytes int) {
	t.Helper()
	items, parts, err := cutAll(t, body, maxBytes)
	if err != nil {
		if !errors.Is(err, ErrNoData) && json.Valid(body) {
			t.Fatalf("Walk: %v", err)
		}
		return
	}
	want := map[string][]Item{}
	for _, it := range items {
		if it.Ordinal != len(want[it.Kind]) {
			t.Fatalf("%s item %s has ordinal %d, want %d", it.Kind, it.Pointer(), it.Ordinal, len(want[it.Kind]))
		}
		want[it.Kind] = append(want[it.Kind], it)
	}
	got := map[string][]Item{}
	validJSON := json.Valid(body)
	for _, p := range parts {
		if len(p.Payload) > maxBytes && p.Items != 1 {
			t.Fatalf("part %s is %d bytes > %d with %d items", p.Key(), len(p.Payload), maxBytes, p.Items)
		}
		if validJSON && !json.Valid(p.Payload) {
			t.Fatalf("part %s is not valid JSON: %.200s", p.Key(), p.Payload)
		}
		kind, decoded, err := DecodePart(p.Payload)
		if err != nil {
			t.Fatalf("DecodePart(%s): %v", p.Key(), err)
		}
		if kind != p.Kind || len(decoded) != p.Items || p.Last-p.First+1 != p.Items || p.Items == 0 {
			t.Fatalf("part %s: kind %q, %d items decoded; Part says %+v", p.Key(), kind, len(decoded), p)
		}
		if p.First != len(got[kind]) {
			t.Fatalf("part %s starts at %d, want %d", p.Key(), p.First, len(got[kind]))
		}
		if p.Pointer != decoded[0].Pointer() {
			t.Fatalf("part %s: Pointer %q, first item at %q", p.Key(), p.Pointer, decoded[0].Pointer())
		}
		if p.Key() != fmt.Sprintf("%s:%d-%d", p.Kind, p.First, p.Last) {
			t.Fatalf("Key() = %q", p.Key())
		}
		got[kind] = append(got[kind], decoded...)
	}
	if len(got) != len(want) {
		t.Fatalf("parts hold kinds %d, items have %d", len(got), len(want))
	}
	for kind, w := range want {
		if !sameItems(got[kind], w) {
			t.Fatalf("kind %s: decoded %s\nwant %s", kind, describeItems(got[kind]), describeItems(w))
		}
	}
	_, again, _ := cutAll(t, body, maxBytes)
	if len(again) != len(parts) {
		t.Fatalf("a second cut made %d parts, the first %d", len(again), len(parts))
	}
	for i := range parts {
		if parts[i].Key() != again[i].Key() || !bytes.Equal(parts[i].Payload, again[i].Payload) {
			t.Fatalf("a second cut differs at part %d", i)
		}
	}
}

func TestRoundTripConformance(t *testing.T) {
	for _, name := range conformanceFiles(t) {
		body := readConformance(t, name)
		for _, max := range []int{1, 100, 300, 1000, 4096, 512 << 10} {
			t.Run(fmt.Sprintf("%s/%d", name, max), func(t *testing.T) {
				roundTrip(t, body, max)
			})
		}
	}
}

func TestCutterEncoding(t *testing.T) {
	hr := func(i int, raw string) *Item {
		return &Item{Kind: "heart_rate", Source: "metrics", Name: "heart_rate", HasName: true, Units: "count/min",
			Array: "/data/metrics/0/data", Index: i, Raw: []byte(raw)}
	}
	items := []*Item{
		hr(0, `{"a":1}`),
		hr(1, `{"a":2}`),
		{Kind: "heart_rate", Source: "metrics", Tagged: true, Array: "/data/metrics", Index: 1, Raw: []byte(`{"type":"HeartRate"}`)},
		{Kind: "quantity", Source: "metrics", Array: "/data/metrics/2", Key: "data", Name: "x\"y", HasName: true, Raw: []byte(`5`)},
		hr(3, `{"a":4}`), // a gap in the index: a new group
		{Kind: "quantity", Source: "metrics", Array: "/data/metrics/3", Key: "data", HasName: true, Raw: []byte(`6`)}, // keyed items never merge
		{Kind: "event", Source: "symptoms", Array: "/data/symptoms", Index: 0, Raw: []byte(`{}`)},
		{Kind: "event", Source: "stateOfMind", Array: "/data/stateOfMind", Index: 0, Raw: []byte(`[]`)},
	}
	var parts []*Part
	c := NewCutter(1<<20, func(p *Part) error { parts = append(parts, p); return nil })
	var ords []int
	for _, it := range items {
		ord, err := c.Add(it)
		if err != nil {
			t.Fatal(err)
		}
		ords = append(ords, ord)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ords) != "[0 1 2 0 3 1 0 1]" {
		t.Errorf("ordinals %v", ords)
	}
	want := []string{
		`{"kind":"heart_rate","groups":[` +
			`{"source":"metrics","array":"/data/metrics/0/data","index":0,"ordinal":0,"name":"heart_rate","has_name":true,"units":"count/min","items":[{"a":1},{"a":2}]},` +
			`{"source":"metrics","array":"/data/metrics","index":1,"ordinal":2,"tagged":true,"items":[{"type":"HeartRate"}]},` +
			`{"source":"metrics","array":"/data/metrics/0/data","index":3,"ordinal":3,"name":"heart_rate","has_name":true,"units":"count/min","items":[{"a":4}]}]}`,
		`{"kind":"quantity","groups":[` +
			`{"source":"metrics","array":"/data/metrics/2","key":"data","ordinal":0,"name":"x\"y","has_name":true,"items":[5]},` +
			`{"source":"metrics","array":"/data/metrics/3","key":"data","ordinal":1,"has_name":true,"items":[6]}]}`,
		`{"kind":"event","groups":[` +
			`{"source":"symptoms","array":"/data/symptoms","index":0,"ordinal":0,"items":[{}]},` +
			`{"source":"stateOfMind","array":"/data/stateOfMind","index":0,"ordinal":1,"items":[[]]}]}`,
	}
	if len(parts) != len(want) {
		t.Fatalf("%d parts, want %d", len(parts), len(want))
	}
	for i, p := range parts {
		if string(p.Payload) != want[i] {
			t.Errorf("part %d:\n%s\nwant\n%s", i, p.Payload, want[i])
		}
	}
	if parts[0].Key() != "heart_rate:0-3" || parts[0].Pointer != "/data/metrics/0/data/0" || parts[1].Pointer != "/data/metrics/2/data" {
		t.Errorf("parts: %+v %+v", parts[0], parts[1])
	}
	if fmt.Sprint(c.Counts()) != "map[event:2 heart_rate:4 quantity:2]" {
		t.Errorf("Counts() = %v", c.Counts())
	}
}

func TestCutterSizes(t *testing.T) {
	item := func(i, size int) *Item {
		return &Item{Kind: "k", Source: "s", Array: "/a", Index: i, Raw: []byte(`"` + strings.Repeat("x", size-2) + `"`)}
	}
	header := len(`{"kind":"k","groups":[{"source":"s","array":"/a","index":0,"ordinal":0,"items":[`) + len(closing)
	tests := []struct {
		name  string
		max   int
		sizes []int
		want  []string // part keys
	}{
		{"all fit", 1000, []int{10, 10, 10}, []string{"k:0-2"}},
		{"exactly full", header + 10 + 1 + 10, []int{10, 10, 10}, []string{"k:0-1", "k:2-2"}},
		{"one byte short", header + 10 + 1 + 10 - 1, []int{10, 10, 10}, []string{"k:0-0", "k:1-1", "k:2-2"}},
		{"oversize item alone", 200, []int{10, 500, 10, 10}, []string{"k:0-0", "k:1-1", "k:2-3"}},
		{"oversize first", 200, []int{500, 10}, []string{"k:0-0", "k:1-1"}},
		{"tiny max", 1, []int{10, 10}, []string{"k:0-0", "k:1-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var keys []string
			c := NewCutter(tt.max, func(p *Part) error {
				if len(p.Payload) > tt.max && p.Items > 1 {
					t.Errorf("part %s is %d bytes", p.Key(), len(p.Payload))
				}
				keys = append(keys, p.Key())
				return nil
			})
			for i, s := range tt.sizes {
				if _, err := c.Add(item(i, s)); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
			if strings.Join(keys, " ") != strings.Join(tt.want, " ") {
				t.Errorf("parts %v, want %v", keys, tt.want)
			}
		})
	}
}

func TestCutterManyParts(t *testing.T) {
	body := benchBody(1)
	for _, max := range []int{300, 4096, 64 << 10} {
		_, parts, err := cutAll(t, body, max)
		if err != nil {
			t.Fatal(err)
		}
		full := 0
		for _, p := range parts {
			if len(p.Payload) > max {
				t.Fatalf("part %s: %d bytes > %d", p.Key(), len(p.Payload), max)
			}
			if len(p.Payload) > max*3/4 {
				full++
			}
		}
		// Parts are filled: all but the last of each kind are well used.
		if full < len(parts)-4 {
			t.Errorf("max %d: only %d of %d parts are more than 3/4 full", max, full, len(parts))
		}
		roundTrip(t, body, max)
	}
}

func TestCutterInterleavedKinds(t *testing.T) {
	// Kinds alternate item by item; each kind's parts still hold consecutive
	// ordinals, and Flush emits kinds in the order first seen.
	var items []*Item
	for i := range 40 {
		kind := []string{"b", "a", "c"}[i%3]
		items = append(items, &Item{Kind: kind, Source: "s", Array: "/" + kind, Index: i / 3, Raw: []byte(fmt.Sprintf(`{"i":%d}`, i))})
	}
	var keys []string
	c := NewCutter(150, func(p *Part) error {
		if len(p.Payload) > 150 {
			t.Errorf("part %s: %d bytes", p.Key(), len(p.Payload))
		}
		keys = append(keys, p.Key())
		_, got, err := DecodePart(p.Payload)
		if err != nil {
			return err
		}
		for j, it := range got {
			if it.Ordinal != p.First+j || it.Kind != p.Kind {
				t.Errorf("part %s item %d: %+v", p.Key(), j, it)
			}
		}
		return nil
	})
	for _, it := range items {
		if _, err := c.Add(it); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "b:0-6 a:0-6 c:0-6 b:7-13 a:7-12 c:7-12"
	if strings.Join(keys, " ") != want {
		t.Errorf("parts:\n%s\nwant\n%s", strings.Join(keys, " "), want)
	}
}

func TestCutterEmitError(t *testing.T) {
	stop := errors.New("stop")
	c := NewCutter(10, func(*Part) error { return stop })
	it := &Item{Kind: "k", Array: "/a", Raw: []byte("1")}
	var err error
	for i := 0; i < 3 && err == nil; i++ {
		it.Index = i
		_, err = c.Add(it)
	}
	if !errors.Is(err, stop) {
		t.Errorf("Add = %v, want stop", err)
	}
	c = NewCutter(1000, func(*Part) error { return stop })
	if _, err := c.Add(it); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); !errors.Is(err, stop) {
		t.Errorf("Flush = %v, want stop", err)
	}
}

func TestDecodePart(t *testing.T) {
	good := `{"kind":"k","groups":[{"source":"s","array":"/a","index":3,"ordinal":7,"items":[1, {"x":[2]} ,"3"]},` +
		`{"array":"/b","key":"data","ordinal":10,"tagged":true,"name":"n","has_name":true,"units":"u","future":{"x":1},"items":[null]}]}`
	kind, items, err := DecodePart([]byte(" " + good + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		got = append(got, fmt.Sprintf("%s %s %s %d %s %v %s/%v %s %s", it.Kind, it.Source, it.Pointer(), it.Ordinal, it.Key, it.Tagged, it.Name, it.HasName, it.Units, it.Raw))
	}
	want := []string{
		"k s /a/3 7  false /false  1",
		`k s /a/4 8  false /false  {"x":[2]}`,
		`k s /a/5 9  false /false  "3"`,
		`k  /b/data 10 data true n/true u null`,
	}
	if kind != "k" || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("DecodePart = %q\n%s\nwant\n%s", kind, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if k, items, err := DecodePart([]byte(`{"groups":[],"kind":"k"}`)); err != nil || k != "k" || len(items) != 0 {
		t.Errorf("empty part: %q %v %v", k, items, err)
	}

	for _, bad := range []string{
		``, `[]`, `{}`, `"part"`, `{"kind":"k"}`, `{"groups":[]}`, `{"kind":"","groups":[]}`, `{"kind":5,"groups":[]}`,
		`{"kind":"k","groups":{}}`, `{"kind":"k","groups":[1]}`, `{"kind":"k","groups":[]} x`,
		`{"kind":"k","groups":[{"array":"/a","ordinal":0,"items":[]}]}`,
		`{"kind":"k","groups":[{"array":"/a","index":0,"key":"d","ordinal":0,"items":[]}]}`,
		`{"kind":"k","groups":[{"array":"/a","index":-1,"ordinal":0,"items":[]}]}`,
		`{"kind":"k","groups":[{"array":"/a","index":1.5,"ordinal":0,"items":[]}]}`,
		`{"kind":"k","groups":[{"array":"/a","index":0,"items":[]}]}`,
		`{"kind":"k","groups":[{"array":"/a","index":0,"ordinal":0}]}`,
		`{"kind":"k","groups":[{"array":"/a","index":0,"ordinal":0,"items":{}}]}`,
		`{"kind":"k","groups":[{"array":"/a","index":0,"ordinal":0,"tagged":1,"items":[]}]}`,
		`{"kind":"k","groups":[{"array":"/a","index":0,"ordinal":0,"items":[1,]}]}`,
		`{"kind":"k","groups":[{"array":"/a","index":0,"ordinal":0,"items":[1}]}`,
		`{"kind":"k","groups":[{"array":5,"index":0,"ordinal":0,"items":[]}]}`,
	} {
		if _, _, err := DecodePart([]byte(bad)); !errors.Is(err, ErrNotPart) {
			t.Errorf("DecodePart(%s) = %v, want ErrNotPart", bad, err)
		}
	}
}

func FuzzWalk(f *testing.F) {
	for _, name := range conformanceFiles(f) {
		f.Add(readConformance(f, name))
	}
	f.Add([]byte(`{"data":{"metrics":[{"data":[1,{"a":[2]}],"name":"heart_rate","units":"u"},{"type":"X"},5],"workouts":[{"workout_type":1},{}],"ecg":{"a":1}}}`))
	f.Add([]byte(`{"data":{"metrics":[{"name":"a","data":[1]}],"symptoms":[1],"metrics":[{"name":"heart_rate","data":[2]}]},"data":{"workouts":[1]}}`))
	f.Add([]byte(`{"d\u0061ta":{"metr\u0069cs":[{"n\u0061me":"x\ud800","data":[1,2,3],"data":{"a":"\u0000"}}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return
		}
		checkWalk(t, body)
		for _, max := range []int{1, 64, 300, 1 << 20} {
			roundTrip(t, body, max)
		}
	})
}

func FuzzDecodePart(f *testing.F) {
	f.Add([]byte(`{"kind":"k","groups":[{"source":"s","array":"/a","index":3,"ordinal":7,"items":[1,2]}]}`))
	f.Add([]byte(`{"kind":"k","groups":[{"array":"/b","key":"data","ordinal":10,"items":[null]}]}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		kind, items, err := DecodePart(payload)
		if err != nil {
			return
		}
		if kind == "" {
			t.Fatal("a part without a kind")
		}
		for _, it := range items {
			if it.Kind != kind || it.Index < 0 || it.Ordinal < 0 || len(it.Raw) == 0 {
				t.Fatalf("bad item %+v", it)
			}
		}
	})
}

func BenchmarkDecodePart(b *testing.B) {
	_, parts, err := cutAll(b, benchBody(1), 512<<10)
	if err != nil {
		b.Fatal(err)
	}
	p := parts[0]
	b.SetBytes(int64(len(p.Payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DecodePart(p.Payload); err != nil {
			b.Fatal(err)
		}
	}
}
