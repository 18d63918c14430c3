// Package synth generates realistic Health Auto Export upload bodies for
// load and end-to-end tests: minute-level heart rate, steps and active
// energy from several devices, nights of sleep (aggregated sessions and
// their stage segments) and v2 workouts with per-second routes, laid out as
// the iOS app sends them (docs/data-rules.md describes the format).
//
// Generation is deterministic: the same Spec (Seed included) always gives
// the same bytes. Nothing reads the clock. Bodies are streamed to an
// io.Writer in small pieces, so a 30 MB body is never held twice.
package synth

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"
)

// Spec describes a body.
type Spec struct {
	// Start is the first minute of the minute-level data. Its offset is the
	// one written into every timestamp (use a fixed zone such as -0800; a
	// zone with DST changes the offset mid-body, as real phones do). The
	// zero value means DefaultStart.
	Start time.Time
	// Days of minute-level data: for every minute and every source, one
	// heart_rate, one step_count and one active_energy point.
	Days int
	// Sources are the devices; empty means DefaultSources. The first one is
	// the wearer's watch: sleep and workouts come from it.
	Sources []string
	// SleepNights adds, for every night that starts within Days, one
	// aggregated sleep_analysis session and its unaggregated segments (one
	// InBed segment overlapping the Core/Deep/REM/Awake stage segments).
	SleepNights bool
	// Workouts is the number of v2 workouts (with an "id"), spread over the
	// days, each with heartRateData, activeEnergy and stepCount series (one
	// sample a minute) and, when RoutePoints > 0, a route.
	Workouts int
	// RoutePoints per workout, one a second: a workout lasts at least
	// RoutePoints seconds (45 minutes without a route).
	RoutePoints int
	// Seed of the pseudo-random values.
	Seed uint64
}

// Counts is what a body holds: every count is one row of its table once
// the kind is written (minute points have unique (date, source) per metric,
// route points unique timestamps per workout, samples unique (series,
// date) per workout).
type Counts struct {
	HeartRate     int // heart_rate points (heart_rate_metrics)
	Steps         int // step_count points (quantity_metrics)
	Energy        int // active_energy points (quantity_metrics)
	SleepSessions int // aggregated sleep_analysis items (sleep_sessions)
	SleepSegments int // unaggregated sleep_analysis items (sleep_segments)
	Workouts      int // workouts (workouts)
	RoutePoints   int // route points of all workouts (workout_route_points)
	Samples       int // series samples of all workouts (workout_samples)
	Bytes         int64
}

// Points is the number of rows the body makes once every kind is written.
func (c Counts) Points() int {
	return c.HeartRate + c.Steps + c.Energy + c.SleepSessions + c.SleepSegments + c.Workouts + c.RoutePoints + c.Samples
}

// DefaultStart is 2025-03-01 00:00 at -0800.
var DefaultStart = time.Date(2025, 3, 1, 0, 0, 0, 0, time.FixedZone("", -8*3600))

// DefaultSources are a watch (with the app's U+2019) and a phone.
var DefaultSources = []string{"Ana’s Apple Watch", "iPhone"}

// Random streams, one per section, so each section's values do not depend
// on how much the others drew.
const (
	streamNights   = 0x6e696768747300
	streamWorkouts = 0x776f726b6f7574
	streamMinutes  = 0x6d696e75746573
)

// Write streams the body described by s to w and returns what it holds.
func Write(w io.Writer, s Spec) (Counts, error) {
	if s.Days < 0 || s.Workouts < 0 || s.RoutePoints < 0 {
		return Counts{}, fmt.Errorf("synth: negative Days, Workouts or RoutePoints")
	}
	if s.Start.IsZero() {
		s.Start = DefaultStart
	}
	if len(s.Sources) == 0 {
		s.Sources = DefaultSources
	}
	g := &gen{s: s, e: newEmitter(w)}
	g.plan()
	g.body()
	g.e.flush()
	g.c.Bytes = g.e.n
	if g.e.err != nil {
		return g.c, fmt.Errorf("synth: %w", g.e.err)
	}
	return g.c, nil
}

type gen struct {
	s      Spec
	e      *emitter
	c      Counts
	nights []night
	works  []workout
}

// interval is [from, to).
type interval struct{ from, to time.Time }

type segment struct {
	stage    string
	from, to time.Time
}

type night struct {
	inBed, sleep interval
	segs         []segment // stage segments, contiguous over sleep
}

type workout struct {
	id, name   string
	speed      float64 // typical m/s
	cadence    float64 // steps a minute
	start, end time.Time
	route      int
	lat, lon   float64
}

func (g *gen) day(d int) time.Time {
	// AddDate keeps the wall clock across a DST change in Start's zone.
	return g.s.Start.AddDate(0, 0, d)
}

// plan places nights and workouts first: minute values follow them (lower
// heart rate asleep, higher during a workout).
func (g *gen) plan() {
	r := rand.New(rand.NewPCG(g.s.Seed, streamNights))
	if g.s.SleepNights {
		for d := 0; d < g.s.Days; d++ {
			base := g.day(d)
			inBedStart := base.Add(22*time.Hour + time.Duration(r.IntN(75*60))*time.Second)
			sleepStart := inBedStart.Add(time.Duration(5*60+r.IntN(20*60)) * time.Second)
			target := sleepStart.Add(time.Duration(6*3600+1800+r.IntN(105*60)) * time.Second)
			n := night{}
			at := sleepStart
			for cycle := 0; at.Before(target); cycle++ {
				stages := []string{"Core", "Deep", "Core", "REM"}
				if cycle >= 2 {
					stages = []string{"Core", "REM"} // later cycles: little deep sleep
				}
				if r.IntN(3) == 0 {
					stages = append(stages, "Awake")
				}
				for _, st := range stages {
					var secs int
					switch st {
					case "Core":
						secs = 10*60 + r.IntN(35*60)
					case "Deep":
						secs = 8*60 + r.IntN(30*60)
					case "REM":
						secs = 6*60 + r.IntN(28*60)
					case "Awake":
						secs = 30 + r.IntN(8*60)
					}
					to := at.Add(time.Duration(secs) * time.Second)
					n.segs = append(n.segs, segment{stage: st, from: at, to: to})
					at = to
				}
			}
			n.sleep = interval{sleepStart, at}
			n.inBed = interval{inBedStart, at.Add(time.Duration(60+r.IntN(20*60)) * time.Second)}
			g.nights = append(g.nights, n)
		}
	}

	r = rand.New(rand.NewPCG(g.s.Seed, streamWorkouts))
	kinds := []struct {
		name           string
		speed, cadence float64
	}{{"Hiking", 1.25, 95}, {"Outdoor Run", 2.9, 165}, {"Outdoor Walk", 1.45, 110}}
	days := max(g.s.Days, 1)
	sameDay := map[int]time.Time{} // day -> end of the day's previous workout
	for i := 0; i < g.s.Workouts; i++ {
		k := kinds[i%len(kinds)]
		d := i * days / g.s.Workouts
		start := g.day(d).Add(9*time.Hour + time.Duration(r.IntN(30*60))*time.Second)
		if prev, ok := sameDay[d]; ok && start.Before(prev) {
			start = prev.Add(30 * time.Minute)
		}
		secs := 45 * 60
		if g.s.RoutePoints > 0 {
			secs = g.s.RoutePoints + r.IntN(30) // the last fix may precede the end
		}
		w := workout{
			id:      uuid(r),
			name:    k.name,
			speed:   k.speed,
			cadence: k.cadence,
			start:   start,
			end:     start.Add(time.Duration(secs) * time.Second),
			route:   g.s.RoutePoints,
			lat:     47.6 + r.Float64()*0.1,
			lon:     -122.4 + r.Float64()*0.1,
		}
		sameDay[d] = w.end
		g.works = append(g.works, w)
	}
}

// uuid is a version-4 UUID from r, upper-case like the app's.
func uuid(r *rand.Rand) string {
	const hex = "0123456789ABCDEF"
	var u [16]byte
	for i := range u {
		u[i] = byte(r.UintN(256))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	b := make([]byte, 0, 36)
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hex[c>>4], hex[c&0xf])
	}
	return string(b)
}

func (g *gen) body() {
	e := g.e
	e.beginObject()
	e.key("data")
	e.beginObject()
	e.key("metrics")
	e.beginArray()
	g.minuteMetrics()
	if g.s.SleepNights {
		g.sleep()
	}
	e.endArray()
	e.key("workouts")
	e.beginArray()
	for i := range g.works {
		g.workout(&g.works[i])
	}
	e.endArray()
	e.endObject()
	e.endObject()
	e.buf = append(e.buf, '\n')
}

// state is what the wearer does in a minute.
type state uint8

const (
	awake state = iota
	asleep
	exercising
)

// minute values, per source, drawn once for all three metrics so they agree.
type minuteValue struct {
	min, max int
	avg      float64
	steps    float64
	energy   float64
}

// minuteMetrics writes heart_rate, step_count and active_energy: three
// metric elements, each with every minute of every source. Each element is
// one pass over the minutes with the values drawn afresh from the same
// seed, so the three agree (a walking minute has steps, energy and a higher
// heart rate) without holding the days in memory.
func (g *gen) minuteMetrics() {
	minutes := g.s.Days * 24 * 60
	metrics := []struct{ name, units string }{{"heart_rate", "count/min"}, {"step_count", "count"}, {"active_energy", "kcal"}}
	for mi, m := range metrics {
		e := g.e
		e.elem()
		e.beginObject()
		e.kstr("name", m.name)
		e.kstr("units", m.units)
		e.key("data")
		e.beginArray()
		mv := newMinuteModel(g)
		for i := 0; i < minutes; i++ {
			at := g.s.Start.Add(time.Duration(i) * time.Minute)
			st := g.stateAt(at)
			for si, src := range g.s.Sources {
				v := mv.next(at, st, si)
				e.elem()
				e.beginObject()
				e.ktime("date", at)
				switch mi {
				case 0:
					e.knum("Min", float64(v.min))
					e.knum("Avg", v.avg)
					e.knum("Max", float64(v.max))
					g.c.HeartRate++
				case 1:
					e.knum("qty", v.steps)
					g.c.Steps++
				case 2:
					e.knum("qty", v.energy)
					g.c.Energy++
				}
				e.kstr("source", src)
				e.endObject()
			}
		}
		e.endArray()
		e.endObject()
	}
}

// stateAt is asleep inside a night's sleep, exercising inside a workout.
// A body has a few workouts and one night a day: a scan is cheap enough.
func (g *gen) stateAt(at time.Time) state {
	for _, w := range g.works {
		if !at.Before(w.start) && at.Before(w.end) {
			return exercising
		}
	}
	for i := range g.nights {
		n := &g.nights[i]
		if at.Before(n.sleep.from) {
			break
		}
		if at.Before(n.sleep.to) {
			return asleep
		}
	}
	return awake
}

// minuteModel draws a minute's values; it is reset per metric so every
// metric gets the same values for the same minute and source.
type minuteModel struct {
	r     *rand.Rand
	level []float64 // per source: slowly wandering resting level
}

func newMinuteModel(g *gen) *minuteModel {
	m := &minuteModel{r: rand.New(rand.NewPCG(g.s.Seed, streamMinutes)), level: make([]float64, len(g.s.Sources))}
	for i := range m.level {
		m.level[i] = 66 + float64(i)
	}
	return m
}

func (m *minuteModel) next(at time.Time, st state, src int) minuteValue {
	r := m.r
	// the resting level drifts, pulled back towards 68 bpm
	m.level[src] += (68-m.level[src])*0.02 + r.NormFloat64()*0.8
	hour := float64(at.Hour()) + float64(at.Minute())/60
	var v minuteValue
	var hr float64
	switch st {
	case asleep:
		hr = m.level[src] - 14 + r.NormFloat64()*2
		if r.IntN(40) == 0 {
			v.energy = float64(r.IntN(3)) * 0.1
		}
	case exercising:
		hr = 128 + r.NormFloat64()*12
		v.steps = float64(140 + r.IntN(40))
		v.energy = 8 + float64(r.IntN(700))*0.01
	default:
		hr = m.level[src] + 6*math.Sin((hour-9)/24*2*math.Pi) + r.NormFloat64()*4
		switch {
		case r.IntN(3) == 0: // walking about
			v.steps = float64(20 + r.IntN(100))
			v.energy = 0.5 + float64(r.IntN(400))*0.01
		case r.IntN(2) == 0:
			v.steps = float64(r.IntN(20))
			v.energy = float64(r.IntN(60)) * 0.01
		default:
			v.energy = float64(r.IntN(20)) * 0.01
		}
	}
	if src > 0 && v.steps > 0 {
		// the phone, not always carried, counts fewer; its minute totals
		// are prorated from longer samples, hence fractional
		v.steps = math.Round(v.steps*(0.4+0.5*r.Float64())*1000) / 1000
	}
	hr = math.Max(35, math.Min(210, hr))
	v.min = int(hr - 2 - float64(r.IntN(6)))
	v.max = int(hr + 2 + float64(r.IntN(10)))
	v.avg = float64(v.min) + math.Round((hr-float64(v.min))*4)/4 // quarters, like 71.25
	return v
}

// sleep writes one sleep_analysis element: per night, the aggregated
// session (current app shape: date-only date, totalSleep) and then its
// segments (InBed first, then the stages in order).
func (g *gen) sleep() {
	e := g.e
	src := g.s.Sources[0]
	e.elem()
	e.beginObject()
	e.kstr("name", "sleep_analysis")
	e.kstr("units", "hr")
	e.key("data")
	e.beginArray()
	for i := range g.nights {
		n := &g.nights[i]
		var core, deep, rem, awakeH float64
		for _, s := range n.segs {
			h := s.to.Sub(s.from).Hours()
			switch s.stage {
			case "Core":
				core += h
			case "Deep":
				deep += h
			case "REM":
				rem += h
			case "Awake":
				awakeH += h
			}
		}
		e.elem()
		e.beginObject()
		e.key("date")
		e.date(n.sleep.to)
		e.knum("totalSleep", core+deep+rem)
		e.knum("asleep", 0)
		e.knum("core", core)
		e.knum("deep", deep)
		e.knum("rem", rem)
		e.ktime("sleepStart", n.sleep.from)
		e.ktime("sleepEnd", n.sleep.to)
		e.knum("inBed", n.inBed.to.Sub(n.inBed.from).Hours())
		e.ktime("inBedStart", n.inBed.from)
		e.ktime("inBedEnd", n.inBed.to)
		e.knum("awake", awakeH)
		e.kstr("source", src)
		e.endObject()
		g.c.SleepSessions++

		g.segment(segment{stage: "InBed", from: n.inBed.from, to: n.inBed.to}, src)
		for _, s := range n.segs {
			g.segment(s, src)
		}
	}
	e.endArray()
	e.endObject()
}

func (g *gen) segment(s segment, src string) {
	e := g.e
	e.elem()
	e.beginObject()
	e.ktime("startDate", s.from)
	e.ktime("endDate", s.to)
	e.knum("qty", s.to.Sub(s.from).Hours())
	e.kstr("value", s.stage)
	e.kstr("source", src)
	e.endObject()
	g.c.SleepSegments++
}
