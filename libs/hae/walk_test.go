package hae

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestWalkConformance(t *testing.T) {
	tests := []struct {
		file     string
		counts   map[string]int
		pointers map[string]string // pointer -> "kind name units tagged"
		err      error
	}{
		{file: "01-heart-rate.json", counts: map[string]int{"heart_rate": 5}, pointers: map[string]string{
			"/data/metrics/0/data/0": "heart_rate heart_rate count/min false",
			"/data/metrics/0/data/4": "heart_rate heart_rate count/min false",
		}},
		{file: "02-sources-and-units.json", counts: map[string]int{"quantity": 9}, pointers: map[string]string{
			"/data/metrics/0/data/4": "quantity step_count count false",
			"/data/metrics/3/data/0": "quantity vo2max ml/(kg·min) false",
			"/data/metrics/4/data/0": "quantity vo2_max ml/(kg·min) false",
		}},
		{file: "03-timestamps.json", counts: map[string]int{"quantity": 7}},
		{file: "04-sleep-aggregated.json", counts: map[string]int{"sleep": 4}},
		{file: "05-sleep-segments.json", counts: map[string]int{"sleep": 8}},
		{file: "06-workout-v1.json", counts: map[string]int{"workout": 1}, pointers: map[string]string{
			"/data/workouts/0": "workout   false",
		}},
		{file: "07-workout-v2.json", counts: map[string]int{"workout": 1}},
		{file: "08-other-arrays.json", counts: map[string]int{"event": 6, "ecg": 1}, pointers: map[string]string{
			"/data/symptoms/1":               "event   false",
			"/data/stateOfMind/0":            "event   false",
			"/data/heartRateNotifications/0": "event   false",
			"/data/ecg/0":                    "ecg   false",
		}},
		{file: "09-special-metrics.json", counts: map[string]int{"blood_pressure": 2, "quantity": 11}, pointers: map[string]string{
			"/data/metrics/0/data/1": "blood_pressure blood_pressure mmHg false",
			"/data/metrics/7/data/0": "quantity stair_speed:_down ft/s false",
		}},
		{file: "10-invalid-points.json", counts: map[string]int{"heart_rate": 5, "blood_pressure": 3, "quantity": 6, "workout": 1}},
		{file: "11-old-and-new-dates.json", counts: map[string]int{"quantity": 3}},
		{file: "12-resend-overlap.json", counts: map[string]int{"quantity": 2, "heart_rate": 1}},
		{file: "13-seed-format.json", counts: map[string]int{"heart_rate": 2, "blood_pressure": 1, "workout": 1}, pointers: map[string]string{
			"/data/metrics/0":  "heart_rate   true",
			"/data/metrics/1":  "heart_rate   true",
			"/data/metrics/2":  "blood_pressure   true",
			"/data/workouts/0": "workout   true",
		}},
		{file: "14-exact-resend.json", counts: map[string]int{"heart_rate": 5}},
		{file: "15-malformed.json", err: ErrMalformed},
		{file: "16-no-data-object.json", err: ErrNoData},
		{file: "17-empty.json", counts: map[string]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := readConformance(t, tt.file)
			if tt.err != nil {
				_, err := walkItems(nil, body)
				if !errors.Is(err, tt.err) {
					t.Fatalf("Walk error = %v, want %v", err, tt.err)
				}
				return
			}
			items := checkWalk(t, body)
			counts := map[string]int{}
			byPointer := map[string]Item{}
			for _, it := range items {
				counts[it.Kind]++
				byPointer[it.Pointer()] = it
			}
			if fmt.Sprint(counts) != fmt.Sprint(tt.counts) {
				t.Errorf("counts = %v, want %v", counts, tt.counts)
			}
			for p, want := range tt.pointers {
				it, ok := byPointer[p]
				if !ok {
					t.Errorf("no item at %s", p)
					continue
				}
				if got := fmt.Sprintf("%s %s %s %v", it.Kind, it.Name, it.Units, it.Tagged); got != want {
					t.Errorf("%s: %q, want %q", p, got, want)
				}
			}
		})
	}
}

// routerWith adds array keys to testRouter.
type routerWith map[string]string

func (r routerWith) MetricKind(n string) string { return testRouter{}.MetricKind(n) }
func (r routerWith) TaggedKind(t string) string { return testRouter{}.TaggedKind(t) }
func (r routerWith) ArrayKind(k string) string {
	if kind, ok := r[k]; ok {
		return kind
	}
	return testRouter{}.ArrayKind(k)
}

func TestWalkEdges(t *testing.T) {
	deep := strings.Repeat("[", 200000) + strings.Repeat("]", 200000)
	deepObj := strings.Repeat(`{"a":`, 200000) + "1" + strings.Repeat("}", 200000)
	tests := []struct {
		name string
		body string
		want []string // "kind pointer name/hasName units tagged raw"
	}{
		{"data before name", `{"data":{"metrics":[{"data":[{"a":1},{"a":2}],"units":"u","name":"heart_rate"}]}}`,
			[]string{`heart_rate /data/metrics/0/data/0 heart_rate/true u false {"a":1}`, `heart_rate /data/metrics/0/data/1 heart_rate/true u false {"a":2}`}},
		{"no name", `{"data":{"metrics":[{"units":"u","data":[{"a":1}]}]}}`,
			[]string{`quantity /data/metrics/0/data/0 /false u false {"a":1}`}},
		{"name not a string", `{"data":{"metrics":[{"name":5,"units":7,"data":[1]}]}}`,
			[]string{`quantity /data/metrics/0/data/0 /false  false 1`}},
		{"empty name", `{"data":{"metrics":[{"name":"","data":[1]}]}}`,
			[]string{`quantity /data/metrics/0/data/0 /true  false 1`}},
		{"empty, null and missing data", `{"data":{"metrics":[{"name":"heart_rate","data":[]},{"name":"heart_rate","data":null},{"name":"heart_rate"},{"name":"heart_rate","data":[ ]}]}}`,
			nil},
		{"non-object elements", `{"data":{"metrics":[1,"x",null,[],{"name":"heart_rate","data":[{}]},true]}}`,
			[]string{"quantity /data/metrics/0 /false  false 1", `quantity /data/metrics/1 /false  false "x"`,
				"quantity /data/metrics/2 /false  false null", "quantity /data/metrics/3 /false  false []",
				"heart_rate /data/metrics/4/data/0 heart_rate/true  false {}", "quantity /data/metrics/5 /false  false true"}},
		{"data not an array", `{"data":{"metrics":[{"name":"heart_rate","units":"bpm","data":{"a":1}},{"data":"x"}]}}`,
			[]string{`quantity /data/metrics/0/data heart_rate/true bpm false {"a":1}`, `quantity /data/metrics/1/data /false  false "x"`}},
		{"metrics not an array", `{"data":{"metrics":{"a":1}}}`, []string{`quantity /data/metrics /false  false {"a":1}`}},
		{"metrics null", `{"data":{"metrics":null,"workouts":null}}`, nil},
		{"metrics a number", `{"data":{"metrics":5}}`, []string{`quantity /data/metrics /false  false 5`}},
		{"workouts not an array", `{"data":{"workouts":{"x":1},"ecg":"no"}}`,
			[]string{`workout /data/workouts /false  false {"x":1}`, `ecg /data/ecg /false  false "no"`}},
		{"escaped keys", `{"d\u0061ta":{"m\u0065trics":[{"n\u0061me":"heart\u005frate","d\u0061ta":[{"x":1}],"\u0074ype\u0000":1}],"work\u006futs":[{"workout_typ\u0065":"Run"}]}}`,
			[]string{`heart_rate /data/metrics/0/data/0 heart_rate/true  false {"x":1}`, `workout /data/workouts/0 /false  true {"workout_typ\u0065":"Run"}`}},
		{"escaped name value", `{"data":{"metrics":[{"name":"caf\u00e9 \"x\"","units":"a\/b","data":[1]}]}}`,
			[]string{`quantity /data/metrics/0/data/0 café "x"/true a/b false 1`}},
		{"duplicate data: last wins", `{"data":{"metrics":[{"name":"heart_rate","data":[1]}]},"data":{"workouts":[{}]}}`,
			[]string{`workout /data/workouts/0 /false  false {}`}},
		{"duplicate metrics: last wins, in its place", `{"data":{"metrics":[{"name":"x","data":[1]}],"workouts":[{}],"metrics":[{"name":"heart_rate","data":[2,3]}]}}`,
			[]string{`workout /data/workouts/0 /false  false {}`, `heart_rate /data/metrics/0/data/0 heart_rate/true  false 2`, `heart_rate /data/metrics/0/data/1 heart_rate/true  false 3`}},
		{"escaped duplicate key", `{"data":{"workouts":[1,2],"w\u006frkouts":[3]}}`,
			[]string{`workout /data/workouts/0 /false  false 3`}},
		{"duplicate element keys", `{"data":{"metrics":[{"name":"x","data":[1,2,3],"name":"heart_rate","data":[4],"units":"a","units":"b"}]}}`,
			[]string{`heart_rate /data/metrics/0/data/0 heart_rate/true b false 4`}},
		{"duplicate data then null", `{"data":{"metrics":[{"name":"x","data":[1,2,3],"data":null}]}}`, nil},
		{"duplicate type", `{"data":{"metrics":[{"type":"HeartRate","type":"Workout"}]}}`,
			[]string{`workout /data/metrics/0 /false  true {"type":"HeartRate","type":"Workout"}`}},
		{"tagged element with data", `{"data":{"metrics":[{"data":[1,2],"type":5,"name":"heart_rate"}]}}`,
			[]string{`quantity /data/metrics/0 /false  true {"data":[1,2],"type":5,"name":"heart_rate"}`}},
		{"unknown keys ignored", `{"foo":[1,2],"data":{"bar":[1,2],"metrics":[],"baz":{"metrics":[1]}},"x":null}`, nil},
		{"workouts tagged or not", `{"data":{"workouts":[{"workout_type":"Run"},{"name":"Run","x":{"workout_type":1}},5,[]]}}`,
			[]string{`workout /data/workouts/0 /false  true {"workout_type":"Run"}`, `workout /data/workouts/1 /false  false {"name":"Run","x":{"workout_type":1}}`,
				"workout /data/workouts/2 /false  false 5", "workout /data/workouts/3 /false  false []"}},
		{"white space everywhere", " \n {  \"data\" : { \"metrics\" : [ { \"name\" : \"heart_rate\" , \"data\" : [ {\"a\": 1} , 2 ] } ] } } \r\n",
			[]string{`heart_rate /data/metrics/0/data/0 heart_rate/true  false {"a": 1}`, `heart_rate /data/metrics/0/data/1 heart_rate/true  false 2`}},
		{"strings with brackets and escapes", `{"data":{"metrics":[{"name":"a]}\"","data":["]}\\",{"k":"}\"]"}]}]}}`,
			[]string{`quantity /data/metrics/0/data/0 a]}"/true  false "]}\\"`, `quantity /data/metrics/0/data/1 a]}"/true  false {"k":"}\"]"}`}},
		{"pointer escaping", `{"data":{"a/b~c":[1]}}`, []string{`event /data/a~1b~0c/0 /false  false 1`}},
		{"deep array in a point", `{"data":{"metrics":[{"name":"heart_rate","data":[` + deep + `,1]}]}}`,
			[]string{`heart_rate /data/metrics/0/data/0 heart_rate/true  false ` + deep, `heart_rate /data/metrics/0/data/1 heart_rate/true  false 1`}},
		{"deep object in a workout", `{"data":{"workouts":[` + deepObj + `]}}`,
			[]string{`workout /data/workouts/0 /false  false ` + deepObj}},
		{"deep in ignored keys", `{"x":` + deep + `,"data":{"y":` + deepObj + `,"metrics":[` + deep + `]}}`,
			[]string{`quantity /data/metrics/0 /false  false ` + deep}},
	}
	r := routerWith{"a/b~c": "event"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			var items []Item
			err := Walk(body, r, func(it *Item) error {
				items = append(items, *it)
				return nil
			})
			if err != nil {
				t.Fatalf("Walk: %v", err)
			}
			var got []string
			for _, it := range items {
				got = append(got, fmt.Sprintf("%s %s %s/%v %s %v %s", it.Kind, it.Pointer(), it.Name, it.HasName, it.Units, it.Tagged, it.Raw))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("items:\n%.300s\nwant:\n%.300s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if tt.name != "pointer escaping" {
				checkWalk(t, body)
			}
			roundTrip(t, body, 64)
		})
	}
}

func TestWalkNoData(t *testing.T) {
	tests := []struct{ body, detail string }{
		{`{"data": 5}`, `"data" is a number`},
		{`[]`, "the body is an array"},
		{`{}`, `no "data" member`},
		{`null`, "the body is null"},
		{`"data"`, "the body is a string"},
		{``, "the body is empty"},
		{`{"data":null}`, `"data" is null`},
		{`{"data":[]}`, `"data" is an array`},
		{`{"data":"x"}`, `"data" is a string`},
		{`{"data":true}`, `"data" is a boolean`},
		{`{"Data":{}}`, `no "data" member`},
		{`{"metrics":[]}`, `no "data" member`},
		{`{"data":{"workouts":[{}]},"data":5}`, `"data" is a number`},
		{`{"x":{"data":{}}}`, `no "data" member`},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			called := false
			err := Walk([]byte(tt.body), testRouter{}, func(*Item) error { called = true; return nil })
			if !errors.Is(err, ErrNoData) || called {
				t.Fatalf("Walk = %v (emitted %v), want ErrNoData and no items", err, called)
			}
			if !strings.Contains(err.Error(), `body has no "data" object`) || !strings.Contains(err.Error(), tt.detail) {
				t.Errorf("error %q does not say %q", err, tt.detail)
			}
		})
	}
}

func TestWalkMalformed(t *testing.T) {
	// The edge validates first; Walk must still stop cleanly on junk.
	for _, body := range []string{
		`{"data":{"metrics":[{"name":"heart_rate","data":[}`,
		`{"data":{"metrics":[1,]}}`,
		`{"data":{"metrics":[1 2]}}`,
		`{"data":{"metrics":[{"name" "x"}]}}`,
		`{"data":{"metrics":[{"name":"x",}]}}`,
		`{"data":{"workouts":[{"a":1}`,
		`{"data":{}} x`,
		`{"data":{"metrics":"abc`,
		`{"data" 1}`,
		`{"data":{"metrics":[{"data":[1,2,3`,
		`{"data":{"metrics":[{"data":[1,,3]}]}}`,
	} {
		t.Run(body, func(t *testing.T) {
			_, err := walkItems(nil, []byte(body))
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("Walk = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestWalkEmitError(t *testing.T) {
	stop := errors.New("stop")
	body := readConformance(t, "08-other-arrays.json")
	for _, lim := range tapeLimitCases {
		n := 0
		w := &Walker{tapeLimits: &lim}
		err := w.Walk(body, testRouter{}, func(*Item) error {
			if n++; n == 3 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 3 {
			t.Errorf("limits %v: Walk = %v after %d items, want stop after 3", lim, err, n)
		}
	}
}

func TestWalkerReuse(t *testing.T) {
	var w Walker
	for range 3 {
		for _, name := range conformanceFiles(t) {
			body := readConformance(t, name)
			got, err := walkItems(&w, body)
			want, werr := walkItems(nil, body)
			if (err == nil) != (werr == nil) || !sameItems(got, want) {
				t.Fatalf("%s: a reused Walker gives %s, a new one %s", name, describeItems(got), describeItems(want))
			}
		}
	}
}

func TestPointer(t *testing.T) {
	tests := []struct {
		it   Item
		want string
	}{
		{Item{Array: "/data/metrics/3/data", Index: 17}, "/data/metrics/3/data/17"},
		{Item{Array: "/data/metrics/3", Key: "data"}, "/data/metrics/3/data"},
		{Item{Array: "/data", Key: "a/b~c"}, "/data/a~1b~0c"},
		{Item{Array: "/data/workouts", Index: 0}, "/data/workouts/0"},
	}
	for _, tt := range tests {
		if got := tt.it.Pointer(); got != tt.want {
			t.Errorf("Pointer() = %q, want %q", got, tt.want)
		}
	}
}

// benchBody builds a body of minute-level metrics (about 30 MB for days=17,
// the size that broke other receivers).
func benchBody(days int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"data":{"metrics":[`)
	names := []string{"heart_rate", "step_count", "active_energy", "basal_energy_burned", "walking_running_distance",
		"flights_climbed", "apple_exercise_time", "apple_stand_time", "respiratory_rate", "heart_rate_variability",
		"blood_oxygen_saturation", "environmental_audio_exposure", "physical_effort", "apple_stand_hour"}
	for m, name := range names {
		if m > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"name":%q,"units":"count/min","data":[`, name)
		for i := range days * 1440 {
			if i > 0 {
				sb.WriteByte(',')
			}
			d, h, mi := 1+i/1440, i/60%24, i%60
			if name == "heart_rate" {
				fmt.Fprintf(&sb, `{"date":"2025-03-%02d %02d:%02d:00 -0800","Min":%d,"Avg":%d.25,"Max":%d,"source":"Ana’s Apple Watch"}`, d, h, mi, 50+i%40, 60+i%30, 90+i%50)
			} else {
				fmt.Fprintf(&sb, `{"date":"2025-03-%02d %02d:%02d:00 -0800","qty":%d.%d,"source":"Ana’s Apple Watch|iPhone"}`, d, h, mi, i%97, i%7)
			}
		}
		sb.WriteString(`]}`)
	}
	sb.WriteString(`],"workouts":[]}}`)
	return []byte(sb.String())
}

func BenchmarkWalk(b *testing.B) {
	body := benchBody(17)
	var w Walker
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := w.Walk(body, testRouter{}, func(*Item) error { n++; return nil }); err != nil || n != 14*17*1440 {
			b.Fatal(err, n)
		}
	}
	b.ReportMetric(float64(14*17*1440)*float64(b.N)/b.Elapsed().Seconds(), "items/s")
}

func BenchmarkWalkAndCut(b *testing.B) {
	body := benchBody(17)
	var w Walker
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		parts := 0
		c := NewCutter(512<<10, func(*Part) error { parts++; return nil })
		err := w.Walk(body, testRouter{}, func(it *Item) error {
			_, err := c.Add(it)
			return err
		})
		if err != nil || c.Flush() != nil || parts == 0 {
			b.Fatal(err)
		}
	}
}

func TestWalkTapeBounded(t *testing.T) {
	// Tiny items would make the tape bigger than the body: past its budget
	// the walker rescans instead of recording.
	const n = 200000
	body := []byte(`{"data":{"metrics":[{"name":"step_count","data":[0` + strings.Repeat(",0", n-1) + `]}]` +
		`,"workouts":[` + strings.Repeat("{},", n-1) + `{"workout_type":"x"}]}}`)
	var w Walker
	items, err := walkItems(&w, body)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2*n || items[n-1].Pointer() != fmt.Sprintf("/data/metrics/0/data/%d", n-1) ||
		items[2*n-1].Pointer() != fmt.Sprintf("/data/workouts/%d", n-1) || !items[2*n-1].Tagged || items[2*n-2].Tagged {
		t.Fatalf("%d items, last %s", len(items), describeItems(items[len(items)-2:]))
	}
	if len(w.spans) > w.maxSpans || w.maxSpans >= n {
		t.Errorf("tape holds %d spans, budget %d", len(w.spans), w.maxSpans)
	}
}
