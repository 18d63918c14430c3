package hae

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func bigWorkout(points, samples int) string {
	var b strings.Builder
	b.WriteString(`{"id":"W1","name":"Run","start":"2025-03-08 07:00:00 -0800","end":"2025-03-08 09:00:00 -0800","distance":{"qty":6.2,"units":"km"},"stepCount":{"qty":10,"units":"steps"},"route":[`)
	for i := range points {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"latitude":51.5,"longitude":-0.12,"timestamp":"2025-03-08 07:%02d:%02d -0800"}`, i/60%60, i%60)
	}
	b.WriteString(`],"heartRateData":[`)
	for i := range samples {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"date":"2025-03-08 07:%02d:00 -0800","Avg":%d}`, i%60, 100+i%50)
	}
	b.WriteString(`],"activeEnergy":[{"date":"2025-03-08 07:00:00 -0800","qty":1}]}`)
	return b.String()
}

func TestAddSplit(t *testing.T) {
	sections := map[string]string{"route": SectionRoute, "heartRateData": SectionSeries, "activeEnergy": SectionSeries, "stepCount": SectionSeries}
	raw := bigWorkout(500, 300)
	body := `{"data":{"workouts":[{"name":"small","start":"2025-03-01 07:00:00 -0800","end":"2025-03-01 08:00:00 -0800"},` + raw + `]}}`
	ref := WorkoutRef{Key: "W1", Name: "Run", Start: "2025-03-08 07:00:00 -0800", End: "2025-03-08 09:00:00 -0800"}
	const max = 4096
	for _, summaryOnly := range []bool{false, true} {
		t.Run(fmt.Sprint("summaryOnly=", summaryOnly), func(t *testing.T) {
			var parts []*Part
			c := NewCutter(max, func(p *Part) error { parts = append(parts, p); return nil })
			err := Walk([]byte(body), testRouter{}, func(it *Item) error {
				if it.Index == 1 {
					_, err := c.AddSplit(it, ref, sections, summaryOnly)
					return err
				}
				_, err := c.Add(it)
				return err
			})
			if err == nil {
				err = c.Flush()
			}
			if err != nil {
				t.Fatal(err)
			}
			var route, samples, summaries int
			seen := map[string]bool{}
			for i, p := range parts {
				if len(p.Payload) > max {
					t.Errorf("part %s is %d bytes, over %d", p.Key(), len(p.Payload), max)
				}
				if !json.Valid(p.Payload) {
					t.Fatalf("part %s is not JSON", p.Key())
				}
				if seen[p.Key()] {
					t.Errorf("duplicate part id %s", p.Key())
				}
				seen[p.Key()] = true
				_, items, err := DecodePart(p.Payload)
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					if p.Key() != "workout:0-0" || items[0].Chunk != nil {
						t.Fatalf("first part %s: the small workout alone", p.Key())
					}
					continue
				}
				for _, it := range items {
					if it.Ordinal != 1 || it.Chunk == nil || it.Chunk.Workout != ref {
						t.Fatalf("piece %s: ordinal %d chunk %+v", it.Pointer(), it.Ordinal, it.Chunk)
					}
					switch it.Chunk.Section {
					case SectionSummary:
						summaries++
						var m map[string]any
						if err := json.Unmarshal(it.Raw, &m); err != nil {
							t.Fatal(err)
						}
						if _, has := m["route"]; has || m["stepCount"] == nil || m["heartRateData"] != nil || it.Pointer() != "/data/workouts/1" {
							t.Errorf("summary %s: %s", it.Pointer(), it.Raw)
						}
						if p.Key() != "workout:1:summary:0-0" || p.Pointer != "/data/workouts/1" {
							t.Errorf("summary part %s pointer %s", p.Key(), p.Pointer)
						}
					case SectionRoute:
						if want := fmt.Sprintf("/data/workouts/1/route/%d", route); it.Pointer() != want {
							t.Errorf("route pointer %s, want %s", it.Pointer(), want)
						}
						route++
					case SectionSeries:
						if !strings.HasPrefix(it.Pointer(), "/data/workouts/1/"+it.Chunk.Series+"/") {
							t.Errorf("sample %s in series %q", it.Pointer(), it.Chunk.Series)
						}
						samples++
					}
				}
				if !strings.HasPrefix(p.Key(), "workout:1:") {
					t.Errorf("chunk part id %s", p.Key())
				}
			}
			wantRoute, wantSamples := 500, 301
			if summaryOnly {
				wantRoute, wantSamples = 0, 0
			}
			if summaries != 1 || route != wantRoute || samples != wantSamples {
				t.Fatalf("summaries %d route %d samples %d, want 1 %d %d", summaries, route, samples, wantRoute, wantSamples)
			}
		})
	}
}
