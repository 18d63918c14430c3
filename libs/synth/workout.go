package synth

import (
	"math"
	"math/rand/v2"
	"time"
)

// routeGen walks a route one second at a time. It is a plain value: a copy
// replays the same points, which is how the summary (distance, elevation)
// is known before the route is written without holding the route.
type routeGen struct {
	pcg       rand.PCG
	base      float64 // typical speed, m/s
	lat, lon  float64
	alt       float64
	heading   float64 // degrees
	speed     float64
	at        time.Time
	stopUntil int // a pause (traffic light, photo) lasts until this second
	i         int
}

type routePoint struct {
	lat, lon, alt, course, courseAcc, hAcc, vAcc, speed, speedAcc float64
	at                                                            time.Time
}

const metresPerDegree = 111_320.0

func (g *routeGen) next(r *rand.Rand) routePoint {
	if g.i >= g.stopUntil && r.IntN(1800) == 0 {
		g.stopUntil = g.i + 10 + r.IntN(90)
	}
	target := g.base
	if g.i < g.stopUntil {
		target = 0
	}
	g.speed += (target-g.speed)*0.15 + r.NormFloat64()*0.08
	g.speed = math.Max(0, g.speed)
	g.heading = math.Mod(g.heading+r.NormFloat64()*2.5+360, 360)
	rad := g.heading * math.Pi / 180
	g.lat += g.speed * math.Cos(rad) / metresPerDegree
	g.lon += g.speed * math.Sin(rad) / (metresPerDegree * math.Cos(g.lat*math.Pi/180))
	g.alt += r.NormFloat64()*0.15 + math.Sin(float64(g.i)/600)*0.05
	p := routePoint{
		lat:       g.lat,
		lon:       g.lon,
		alt:       g.alt,
		course:    math.Round(g.heading*100) / 100,
		courseAcc: math.Round((3+r.Float64()*15)*10) / 10,
		hAcc:      math.Round((2+r.Float64()*6)*100) / 100,
		vAcc:      math.Round((1.5+r.Float64()*4)*100) / 100,
		speed:     g.speed,
		speedAcc:  math.Round((0.2+r.Float64()*0.8)*10) / 10,
		at:        g.at.Add(time.Duration(g.i) * time.Second),
	}
	g.i++
	return p
}

// sample is one minute of a workout's series.
type sample struct {
	at            time.Time
	min, max      int
	avg           float64
	energy, steps float64
}

// workout writes one v2 workout: summaries first (as the app orders them),
// then heartRateData, activeEnergy, stepCount, route and metadata.
func (g *gen) workout(w *workout) {
	r := rand.New(rand.NewPCG(g.s.Seed^uint64(w.start.Unix()), streamWorkouts))
	src := g.s.Sources[0]
	secs := int(w.end.Sub(w.start) / time.Second)

	// Series: one sample a minute, all within start..end.
	n := max(1, secs/60)
	samples := make([]sample, n)
	hr := 95.0
	var activeKcal, steps float64
	hrMin, hrMax, hrSum := math.MaxInt, 0, 0.0
	for m := range samples {
		hr += (135+w.speed*5-hr)*0.2 + r.NormFloat64()*3
		s := sample{at: w.start.Add(time.Duration(m) * time.Minute)}
		s.min = int(hr) - 3 - r.IntN(5)
		s.max = int(hr) + 3 + r.IntN(8)
		s.avg = float64(s.min) + math.Round((hr-float64(s.min))*4)/4
		s.energy = (3 + w.speed*3.5) * (0.85 + r.Float64()*0.3)
		s.steps = math.Round(w.cadence * (0.9 + r.Float64()*0.2))
		activeKcal += s.energy
		steps += s.steps
		hrMin, hrMax, hrSum = min(hrMin, s.min), max(hrMax, s.max), hrSum+s.avg
		samples[m] = s
	}

	// Route: a first pass on a copy for the summary.
	rg := routeGen{base: w.speed, lat: w.lat, lon: w.lon, alt: 40 + r.Float64()*60, heading: r.Float64() * 360, at: w.start}
	rg.pcg.Seed(g.s.Seed^uint64(w.start.Unix()), streamWorkouts+1)
	var dist, up, down float64
	{
		pass := rg
		pr := rand.New(&pass.pcg)
		prevAlt := pass.alt
		for range w.route {
			p := pass.next(pr)
			dist += p.speed
			if d := p.alt - prevAlt; d > 0 {
				up += d
			} else {
				down -= d
			}
			prevAlt = p.alt
		}
	}
	if w.route == 0 {
		dist = w.speed * float64(secs)
	}

	e := g.e
	e.elem()
	e.beginObject()
	e.kstr("id", w.id)
	e.kstr("name", w.name)
	e.kstr("location", "Outdoor")
	e.key("isIndoor")
	e.buf = append(e.buf, "false"...)
	e.ktime("start", w.start)
	e.ktime("end", w.end)
	e.knum("duration", float64(secs))
	e.kqty("activeEnergyBurned", activeKcal, "kcal")
	e.kqty("totalEnergy", activeKcal+1.3*float64(secs)/60, "kcal")
	e.kqty("distance", dist/1000, "km")
	e.kqty("speed", dist/float64(secs)*3.6, "km/hr")
	e.kqty("intensity", activeKcal/(float64(secs)/3600)/70, "kcal/hr·kg")
	e.kqty("elevationUp", up, "m")
	e.kqty("elevationDown", down, "m")
	e.kqty("stepCadence", steps/float64(n), "spm")
	e.key("heartRate")
	e.beginObject()
	e.kqty("min", float64(hrMin), "bpm")
	e.kqty("avg", hrSum/float64(n), "bpm")
	e.kqty("max", float64(hrMax), "bpm")
	e.endObject()

	e.key("heartRateData")
	e.beginArray()
	for _, s := range samples {
		e.elem()
		e.beginObject()
		e.ktime("date", s.at)
		e.knum("Min", float64(s.min))
		e.knum("Avg", s.avg)
		e.knum("Max", float64(s.max))
		e.kstr("units", "bpm")
		e.kstr("source", src)
		e.endObject()
	}
	e.endArray()
	for _, series := range []struct{ key, units string }{{"activeEnergy", "kcal"}, {"stepCount", "count"}} {
		e.key(series.key)
		e.beginArray()
		for _, s := range samples {
			e.elem()
			e.beginObject()
			e.ktime("date", s.at)
			if series.key == "activeEnergy" {
				e.knum("qty", s.energy)
			} else {
				e.knum("qty", s.steps)
			}
			e.kstr("units", series.units)
			e.kstr("source", src)
			e.endObject()
		}
		e.endArray()
	}
	g.c.Samples += 3 * n

	if w.route > 0 {
		e.key("route")
		e.beginArray()
		rr := rand.New(&rg.pcg)
		for range w.route {
			p := rg.next(rr)
			e.elem()
			e.beginObject()
			e.knum("latitude", p.lat)
			e.knum("longitude", p.lon)
			e.knum("altitude", p.alt)
			e.knum("course", p.course)
			e.knum("courseAccuracy", p.courseAcc)
			e.knum("horizontalAccuracy", p.hAcc)
			e.knum("verticalAccuracy", p.vAcc)
			e.ktime("timestamp", p.at)
			e.knum("speed", p.speed)
			e.knum("speedAccuracy", p.speedAcc)
			e.endObject()
		}
		e.endArray()
		g.c.RoutePoints += w.route
	}
	e.key("metadata")
	e.beginObject()
	e.endObject()
	e.endObject()
	g.c.Workouts++
}
