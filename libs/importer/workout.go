package importer

import (
	"strings"

	"github.com/healthexport/libs/applehealth"
)

// workoutNames are the names Health Auto Export gives the commonest
// activities, by HKWorkoutActivityType and where they took place; any
// other activity is its type in words ("Traditional Strength Training").
var workoutNames = map[string][2]string{ // [indoor, outdoor]
	"Running":  {"Indoor Run", "Outdoor Run"},
	"Walking":  {"Indoor Walk", "Outdoor Walk"},
	"Cycling":  {"Indoor Cycling", "Outdoor Cycling"},
	"Swimming": {"Pool Swim", "Open Water Swim"},
}

// workoutName names a workout by its activity type, indoor or outdoor as
// its metadata says (HKIndoorWorkout; for swims HKSwimmingLocationType, 1
// a pool, 2 open water).
func workoutName(el applehealth.Element) string {
	typ := strings.TrimPrefix(el.Str("workoutActivityType"), workoutPrefix)
	if typ == "HighIntensityIntervalTraining" {
		return "HIIT"
	}
	names, ok := workoutNames[typ]
	if !ok {
		return words(typ)
	}
	key, indoor := "HKIndoorWorkout", "1"
	if typ == "Swimming" {
		key = "HKSwimmingLocationType"
	}
	v, ok := metadataValue(el, key)
	switch {
	case !ok:
		return words(typ)
	case string(v) == indoor:
		return names[0]
	case typ != "Swimming" || string(v) == "2":
		return names[1]
	}
	return words(typ)
}

// statistics are a workout's totals from its WorkoutStatistics (iOS 16
// on); before, its attributes held energy and distance.
type statistics struct {
	energy, energyUnit, distance, distanceUnit []byte
	hrAvg, hrMin, hrMax, hrUnit                []byte
}

func readStatistics(el applehealth.Element) statistics {
	var s statistics
	for ch := range el.Children() {
		if ch.Name() != "WorkoutStatistics" {
			continue
		}
		typ := strings.TrimPrefix(ch.Str("type"), quantityPrefix)
		switch {
		case typ == "ActiveEnergyBurned":
			s.energy, s.energyUnit = mustAttr(ch, "sum"), mustAttr(ch, "unit")
		case strings.HasPrefix(typ, "Distance"):
			s.distance, s.distanceUnit = mustAttr(ch, "sum"), mustAttr(ch, "unit")
		case typ == "HeartRate":
			s.hrAvg, s.hrMin, s.hrMax, s.hrUnit = mustAttr(ch, "average"), mustAttr(ch, "minimum"), mustAttr(ch, "maximum"), mustAttr(ch, "unit")
		}
	}
	if s.energy == nil {
		s.energy, s.energyUnit = mustAttr(el, "totalEnergyBurned"), mustAttr(el, "totalEnergyBurnedUnit")
	}
	if s.distance == nil {
		s.distance, s.distanceUnit = mustAttr(el, "totalDistance"), mustAttr(el, "totalDistanceUnit")
	}
	return s
}

// durationSeconds converts a workout's duration to seconds.
func durationSeconds(v []byte, unit string) (float64, bool) {
	f, ok := number(v)
	if !ok {
		return 0, false
	}
	switch unit {
	case "min":
		return f * 60, true
	case "s", "sec":
		return f, true
	case "hr", "h":
		return f * 3600, true
	}
	return 0, false
}

// workout is a Workout with its totals, events, statistics, metadata and
// route (inline Locations, or the GPX file its FileReference names).
func (c *converter) workout(el applehealth.Element) error {
	st := readStatistics(el)
	o := &c.o
	o.reset()
	o.open('{')
	o.strString("name", workoutName(el))
	o.str("start", mustAttr(el, "startDate"))
	o.str("end", mustAttr(el, "endDate"))
	if v, ok := el.Attr("duration"); ok {
		if secs, ok := durationSeconds(v, el.Str("durationUnit")); ok {
			o.float("duration", roundTo(secs, 3))
		}
	}
	c.summary("activeEnergyBurned", st.energy, st.energyUnit)
	c.summary("distance", st.distance, st.distanceUnit)
	if st.hrAvg != nil || st.hrMax != nil || st.hrMin != nil {
		o.key("heartRate")
		o.open('{')
		c.summary("avg", st.hrAvg, st.hrUnit)
		c.summary("min", st.hrMin, st.hrUnit)
		c.summary("max", st.hrMax, st.hrUnit)
		o.close('}')
	}
	o.str("source", mustAttr(el, "sourceName"))
	o.str("workoutActivityType", mustAttr(el, "workoutActivityType"))
	c.metadata(el)
	c.children(el, "WorkoutEvent", "workoutEvents")
	c.children(el, "WorkoutStatistics", "statistics")
	if err := c.route(el); err != nil {
		return err
	}
	o.close('}')
	return c.send(el, "workout", srcWorkouts, "", "")
}

// summary writes "key": {"qty": v, "units": unit} when v is there.
func (c *converter) summary(key string, v, unit []byte) {
	if len(v) == 0 {
		return
	}
	c.o.key(key)
	c.o.open('{')
	c.o.num("qty", v)
	if len(unit) > 0 {
		c.o.str("units", unit)
	}
	c.o.close('}')
}

// children writes the named children's attributes as a list under key.
func (c *converter) children(el applehealth.Element, name, key string) {
	n := 0
	for ch := range el.Children() {
		if ch.Name() != name {
			continue
		}
		if n == 0 {
			c.o.key(key)
			c.o.open('[')
		}
		n++
		c.o.sep()
		c.attrs(ch)
	}
	if n > 0 {
		c.o.close(']')
	}
}

// route writes "route" from the workout's WorkoutRoutes: the points of
// the GPX file each references ("routeFiles" keeps the paths), or its
// inline Locations (older exports). A route whose file the export lacks
// (a bare export.xml) is counted as skipped.
func (c *converter) route(el applehealth.Element) error {
	var files []string
	open := false
	point := func() {
		if !open {
			c.o.key("route")
			c.o.open('[')
			open = true
		}
		c.o.sep()
	}
	for r := range el.Children() {
		if r.Name() != "WorkoutRoute" {
			continue
		}
		file := ""
		for ch := range r.Children() {
			if ch.Name() == "FileReference" {
				file = ch.Str("path")
			}
		}
		if file != "" {
			files = append(files, file)
			found, err := c.gpx(file, point)
			if err != nil {
				return err
			}
			if found {
				continue
			}
		}
		n := 0
		for loc := range r.Children() {
			if loc.Name() == "Location" {
				point()
				c.location(loc)
				n++
			}
		}
		switch {
		case n > 0:
		case file != "":
			c.stats.Skipped[skipRouteMissing]++
		default:
			c.stats.Skipped[skipRouteNoFile]++
		}
	}
	if open {
		c.o.close(']')
	}
	if len(files) > 0 {
		c.o.key("routeFiles")
		c.o.open('[')
		for _, f := range files {
			c.o.sep()
			c.o.b = appendText(c.o.b, []byte(f))
		}
		c.o.close(']')
	}
	return nil
}

// location writes an inline route point.
func (c *converter) location(loc applehealth.Element) {
	c.o.open('{')
	c.o.str("timestamp", mustAttr(loc, "date"))
	for _, k := range [...][2]string{{"latitude", "latitude"}, {"longitude", "longitude"}, {"altitude", "altitude"},
		{"speed", "speed"}, {"course", "course"}, {"horizontalAccuracy", "horizontalAccuracy"},
		{"verticalAccuracy", "verticalAccuracy"}, {"speedAccuracy", "speedAccuracy"}, {"courseAccuracy", "courseAccuracy"}} {
		if v, ok := loc.Attr(k[0]); ok {
			c.o.num(k[1], v)
		}
	}
	c.o.close('}')
}

// gpx writes the route points of a workout-routes/ file, each after
// point() (which opens the list and separates its elements); found is
// false when the export does not hold the file. A file cut short keeps the
// points before the cut: the route is as long as the file is.
func (c *converter) gpx(path string, point func()) (found bool, err error) {
	rc, ok, err := c.files.File(path)
	if err != nil || !ok {
		return false, nil //nolint:nilerr // an unreadable route file is a missing route, counted by the caller
	}
	defer rc.Close()
	rerr := applehealth.ReadGPX(rc, func(p *applehealth.RoutePoint) error {
		point()
		c.o.open('{')
		c.o.str("timestamp", p.Time)
		c.o.num("latitude", p.Lat)
		c.o.num("longitude", p.Lon)
		for _, f := range [...]struct {
			k string
			v []byte
		}{{"altitude", p.Ele}, {"speed", p.Speed}, {"course", p.Course}, {"horizontalAccuracy", p.HAcc},
			{"verticalAccuracy", p.VAcc}, {"speedAccuracy", p.SpeedAcc}, {"courseAccuracy", p.CourseAcc}} {
			if len(f.v) > 0 {
				c.o.num(f.k, f.v)
			}
		}
		c.o.close('}')
		return nil
	})
	if rerr != nil {
		c.stats.Skipped[skipRouteCut]++
	}
	return true, nil
}
