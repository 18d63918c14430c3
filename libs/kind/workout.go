package kind

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/pgstore"
)

// workoutSeries are the sample arrays a workout may carry; they are stored
// only when they are arrays (v1's stepCount and activeEnergy are summary
// objects), with the series named as written.
func workoutSeries() []string {
	return []string{"heartRateData", "heartRateRecovery", "activeEnergy", "basalEnergy", "stepCount",
		"walkingAndRunningDistance", "cyclingCadence", "cyclingDistance", "cyclingPower", "cyclingSpeed", "swimDistance", "swimStroke"}
}

// workoutFields are the members mapped to columns (or other tables); the
// rest of a workout is kept as sent in details.
func workoutFields() []string {
	return []string{"id", "name", "start", "end", "duration", "distance", "activeEnergyBurned",
		"totalEnergy", "heartRate", "avgHeartRate", "maxHeartRate", "route",
		"type", "workout_type", "start_time", "end_time", "total_energy_kcal", "distance_meters", "avg_heart_rate"}
}

// recoveryFlag marks, in a workout's details, a heartRateData that is
// really the heart-rate recovery series (a known app bug): about 24
// samples from the workout's end on, Min = Avg = Max, and no
// heartRateRecovery beside it. The samples stay under their series name.
const recoveryFlag = "heartRateDataIsRecovery"

// Bounds of a recovery series: it starts at the workout's end (a minute
// of slack for clocks) and has a few dozen samples.
const (
	recoveryStartSlack = time.Minute
	recoveryMaxSamples = 60
)

// recoveryInDisguise tells whether heartRateData is the recovery series.
func recoveryInDisguise(o object, h header) bool {
	if raw, ok := o.get("heartRateRecovery"); ok && !isNull(raw) {
		if samples, err := hae.Array(raw, nil); err != nil || len(samples) > 0 {
			return false
		}
	}
	raw, _ := o.get("heartRateData")
	samples, err := hae.Array(raw, nil)
	if err != nil || len(samples) == 0 || len(samples) > recoveryMaxSamples {
		return false
	}
	from := h.end.Instant.Add(-recoveryStartSlack)
	for _, p := range samples {
		m, err := decodeObject(p)
		if err != nil {
			return false
		}
		at, ok := m.optTime("date")
		if !ok || at.Instant.Before(from) {
			return false
		}
		lo, _ := m.firstNum("Min", "min")
		avg, _ := m.firstNum("Avg", "avg")
		hi, _ := m.firstNum("Max", "max")
		if !lo.ok || !avg.ok || !hi.ok || lo.v != avg.v || avg.v != hi.v {
			return false
		}
	}
	return true
}

// looksLikeSeries reports an array of samples: objects with a date and a
// value (qty, or Min/Avg/Max).
func looksLikeSeries(raw []byte) bool {
	if len(raw) == 0 || raw[0] != '[' {
		return false
	}
	samples, err := hae.Array(raw, nil)
	if err != nil || len(samples) == 0 {
		return false
	}
	m, err := decodeObject(samples[0])
	if err != nil || !m.has("date") {
		return false
	}
	for _, k := range [...]string{"qty", "Avg", "avg", "Min", "min", "Max", "max"} {
		if m.has(k) {
			return true
		}
	}
	return false
}

// withFlag adds "key": true to a details object (nil: none yet).
func withFlag(details any, key string) (any, error) {
	m := map[string]json.RawMessage{}
	if s, ok := details.(string); ok {
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return nil, fmt.Errorf("details: %w", err)
		}
	}
	m[key] = json.RawMessage("true")
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("details: %w", err)
	}
	return string(b), nil
}

// routeSlack is how far outside its workout a route point or sample may be.
const routeSlack = 24 * time.Hour

type workoutTables struct{ workouts, route, samples *pgstore.Table }

func workout() *Kind {
	t := workoutTables{
		workouts: dataTable("workouts", "", []string{"workout_key"},
			[]string{"name", "started_at", "ended_at", "duration_s", "distance_m", "active_energy_kcal",
				"total_energy_kcal", "avg_heart_rate", "max_heart_rate", "details", "recorded_offset_min"}),
		route: dataTable("workout_route_points", "recorded_at", []string{"workout_key", "recorded_at"},
			[]string{"latitude", "longitude", "altitude_m", "speed_mps", "course", "course_accuracy",
				"horizontal_accuracy", "vertical_accuracy", "speed_accuracy", "recorded_offset_min"}),
		samples: dataTable("workout_samples", "recorded_at", []string{"workout_key", "series", "recorded_at"},
			[]string{"qty", "min", "avg", "max", "units", "source", "recorded_offset_min"}),
	}
	sections := map[string]string{"route": hae.SectionRoute}
	for _, s := range workoutSeries() {
		sections[s] = hae.SectionSeries
	}
	return &Kind{
		Name:   "workout",
		Tables: []*pgstore.Table{t.workouts, t.route, t.samples},
		Tagged: []string{"Workout"},
		Arrays: []string{"workouts"},
		Split:  &Split{Sections: sections, Ref: workoutRef},
		decode: func(env *Env, it *hae.Item, s Sink) {
			var err error
			switch {
			case it.Key != "":
				err = reasonf("%s: must be an array, got %s", it.Key, describeJSON(it.Raw))
			case it.Chunk != nil && it.Chunk.Section == hae.SectionRoute:
				err = t.chunkRoute(env, it, s)
			case it.Chunk != nil && it.Chunk.Section == hae.SectionSeries:
				err = t.chunkSample(env, it, s)
			default:
				err = t.decode(env, it, s)
			}
			if err != nil {
				s.Reject(it.Pointer(), rejectReason(err), it.Raw)
			}
		},
	}
}

// header is what identifies a workout and bounds its pieces.
type header struct {
	key, name  string
	start, end hae.Time
}

// headerKeys are the members holding a workout's name, start and end.
func headerKeys(tagged bool) (name, start, end string) {
	if tagged {
		return "workout_type", "start_time", "end_time"
	}
	return "name", "start", "end"
}

// readHeader reads name, start, end and the key from either format: the
// app's id when present, else one derived from (name, start, end).
func readHeader(env *Env, o object, tagged bool) (header, error) {
	nameKey, startKey, endKey := headerKeys(tagged)
	var h header
	name, ok, err := o.str(nameKey)
	if err != nil {
		return h, err
	}
	if !ok || strings.TrimSpace(name) == "" {
		return h, reasonf("%s: missing: a workout needs a name", nameKey)
	}
	if h.start, err = o.when(env, startKey); err != nil {
		return h, err
	}
	if h.end, err = o.when(env, endKey); err != nil {
		return h, err
	}
	if h.end.Instant.Before(h.start.Instant) {
		return h, reasonf("%s %s is before %s %s", endKey, h.end.Instant.Format(time.RFC3339), startKey, h.start.Instant.Format(time.RFC3339))
	}
	h.name = name
	if id, _, _ := o.str("id"); strings.TrimSpace(id) != "" {
		h.key = id
	} else {
		h.key = derivedKey(name, h.start.Instant, h.end.Instant)
	}
	return h, nil
}

// derivedKey names a workout the app gave no id: the same workout sent
// again derives the same key.
func derivedKey(name string, start, end time.Time) string {
	sum := sha256.Sum256([]byte(name + "\x00" + start.UTC().Format(time.RFC3339Nano) + "\x00" + end.UTC().Format(time.RFC3339Nano)))
	return "derived:" + hex.EncodeToString(sum[:16])
}

// workoutRef gives the edge what every piece of a split workout carries.
func workoutRef(raw []byte, tagged bool) (hae.WorkoutRef, error) {
	o, err := decodeObject(raw)
	if err != nil {
		return hae.WorkoutRef{}, err
	}
	// The window does not matter here: a rejected workout is published as
	// its summary alone, and the writer decides again.
	env := &Env{ReceivedAt: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}
	h, err := readHeader(env, o, tagged)
	if err != nil {
		return hae.WorkoutRef{}, err
	}
	_, startKey, endKey := headerKeys(tagged)
	start, _, _ := o.str(startKey)
	end, _, _ := o.str(endKey)
	return hae.WorkoutRef{Key: h.key, Name: h.name, Start: start, End: end, Tagged: tagged}, nil
}

func (t workoutTables) decode(env *Env, it *hae.Item, s Sink) error {
	o, err := decodeItem(env, it.Raw)
	if err != nil {
		return err
	}
	h, err := readHeader(env, o, it.Tagged)
	if err != nil {
		return err
	}
	var sum summary
	if it.Tagged {
		sum, err = taggedSummary(o)
	} else {
		sum, err = haeSummary(o)
	}
	if err != nil {
		return err
	}
	if !sum.duration.ok {
		sum.duration = some(h.end.Instant.Sub(h.start.Instant).Seconds())
	}
	used := workoutFields()
	var series []string
	for _, k := range workoutSeries() {
		if raw, ok := o.get(k); ok && len(raw) > 0 && raw[0] == '[' {
			used = append(used, k)
			series = append(series, k)
		}
	}
	// Series the list does not name yet (the beat-to-beat heart rate of app
	// 9.0.13, whatever comes next) are stored too, when they look like one.
	for _, m := range o {
		k := string(m.Key)
		if !slices.Contains(used, k) && !slices.Contains(series, k) && looksLikeSeries(m.Value) {
			used = append(used, k)
			series = append(series, k)
		}
	}
	if !it.Tagged && sum.activeFromV1 {
		used = append(used, "activeEnergy")
	}
	details, err := o.rest(used...)
	if err != nil {
		return err
	}
	if slices.Contains(series, "heartRateData") && recoveryInDisguise(o, h) {
		if details, err = withFlag(details, recoveryFlag); err != nil {
			return err
		}
	}
	if !env.Validating {
		s.Row(t.workouts, int64(it.Ordinal), h.key, h.name, h.start.Instant, h.end.Instant, sum.duration.value(),
			sum.distance.value(), sum.active.value(), sum.total.value(), sum.avgHR.value(), sum.maxHR.value(),
			details, offset(h.start))
	}
	// Route points and samples are judged one by one: a bad point is one
	// rejected row, the workout and the other points stay.
	base := it.Pointer()
	n := 0
	if raw, ok := o.get("route"); ok && len(raw) > 0 && raw[0] == '[' {
		points, err := hae.Array(raw, nil)
		if err != nil {
			return reasonf("route: %v", err)
		}
		for j, p := range points {
			t.routePoint(env, h, base+"/route/"+strconv.Itoa(j), subOrdinal(it, n), p, s)
			n++
		}
	}
	for _, k := range series {
		raw, _ := o.get(k)
		samples, err := hae.Array(raw, nil)
		if err != nil {
			return reasonf("%s: %v", k, err)
		}
		for j, p := range samples {
			t.sample(env, h, k, base+"/"+k+"/"+strconv.Itoa(j), subOrdinal(it, n), p, s)
			n++
		}
	}
	return nil
}

// chunkRoute stores one route point of a split workout.
func (t workoutTables) chunkRoute(env *Env, it *hae.Item, s Sink) error {
	h, err := chunkHeader(it.Chunk.Workout)
	if err != nil {
		return err
	}
	t.routePoint(env, h, it.Pointer(), subOrdinal(it, it.Index), it.Raw, s)
	return nil
}

// chunkSample stores one sample of a split workout.
func (t workoutTables) chunkSample(env *Env, it *hae.Item, s Sink) error {
	h, err := chunkHeader(it.Chunk.Workout)
	if err != nil {
		return err
	}
	// Samples count after the route in the unsplit numbering; the offset
	// keeps series rows apart from route rows of the same item.
	t.sample(env, h, it.Chunk.Series, it.Pointer(), subOrdinal(it, 1<<23+it.Index), it.Raw, s)
	return nil
}

func chunkHeader(ref hae.WorkoutRef) (header, error) {
	h := header{key: ref.Key, name: ref.Name}
	var err error
	if h.start, err = hae.ParseTime(ref.Start); err != nil {
		return h, reasonf("workout start: %v", err)
	}
	if h.end, err = hae.ParseTime(ref.End); err != nil {
		return h, reasonf("workout end: %v", err)
	}
	if h.key == "" {
		return h, reasonf("a workout piece without its workout's key")
	}
	return h, nil
}

// nearWorkout checks a point's time against its workout, ±24 h, and
// against the window every stored time keeps to.
func nearWorkout(env *Env, h header, key string, at time.Time) error {
	if at.Before(h.start.Instant.Add(-routeSlack)) || at.After(h.end.Instant.Add(routeSlack)) {
		return reasonf("%s: %s is more than 24 h outside its workout (%s to %s)", key,
			at.UTC().Format(time.RFC3339Nano), h.start.Instant.Format(time.RFC3339), h.end.Instant.Format(time.RFC3339))
	}
	return inWindow(env, key, at)
}

func (t workoutTables) routePoint(env *Env, h header, pointer string, ord int64, raw []byte, s Sink) {
	if err := t.decodeRoutePoint(env, h, ord, raw, s); err != nil {
		s.Reject(pointer, rejectReason(err), raw)
	}
}

func (t workoutTables) decodeRoutePoint(env *Env, h header, ord int64, raw []byte, s Sink) error {
	o, err := decodeObject(raw)
	if err != nil {
		return err
	}
	// v2 sends latitude/longitude, v1 lat/lon: a v1 reader sees 0,0 in v2.
	lat, err := o.firstNum("latitude", "lat")
	if err != nil {
		return err
	}
	lon, err := o.firstNum("longitude", "lon")
	if err != nil {
		return err
	}
	if !lat.ok || !lon.ok {
		return reasonf("a route point needs latitude and longitude (or lat and lon)")
	}
	if err := between("latitude", lat, -90, 90); err != nil {
		return err
	}
	if err := between("longitude", lon, -180, 180); err != nil {
		return err
	}
	at, ok, err := o.timeOf("timestamp")
	if err != nil {
		return err
	}
	if !ok {
		return reasonf("timestamp: missing")
	}
	if err := nearWorkout(env, h, "timestamp", at.Instant); err != nil {
		return err
	}
	vals := []any{h.key, at.Instant, lat.v, lon.v}
	for _, k := range []string{"altitude", "speed", "course", "courseAccuracy", "horizontalAccuracy", "verticalAccuracy", "speedAccuracy"} {
		v, err := o.optNum(k)
		if err != nil {
			return err
		}
		vals = append(vals, v.value())
	}
	if !env.Validating {
		s.Row(t.route, ord, append(vals, offset(at))...)
	}
	return nil
}

func (t workoutTables) sample(env *Env, h header, series, pointer string, ord int64, raw []byte, s Sink) {
	if err := t.decodeSample(env, h, series, ord, raw, s); err != nil {
		s.Reject(pointer, rejectReason(err), raw)
	}
}

func (t workoutTables) decodeSample(env *Env, h header, series string, ord int64, raw []byte, s Sink) error {
	o, err := decodeObject(raw)
	if err != nil {
		return err
	}
	at, ok, err := o.timeOf("date")
	if err != nil {
		return err
	}
	if !ok {
		return reasonf("date: missing")
	}
	if err := nearWorkout(env, h, "date", at.Instant); err != nil {
		return err
	}
	qty, err := o.optNum("qty")
	if err != nil {
		return err
	}
	lo, err := o.firstNum("Min", "min")
	if err != nil {
		return err
	}
	avg, err := o.firstNum("Avg", "avg")
	if err != nil {
		return err
	}
	hi, err := o.firstNum("Max", "max")
	if err != nil {
		return err
	}
	if !qty.ok && !lo.ok && !avg.ok && !hi.ok {
		return reasonf("no value: expected qty or Min/Avg/Max")
	}
	units, _, err := o.str("units")
	if err != nil {
		return err
	}
	src, _, err := o.source(env, "source")
	if err != nil {
		return err
	}
	if !env.Validating {
		s.Row(t.samples, ord, h.key, series, at.Instant, qty.value(), lo.value(), avg.value(), hi.value(), units, src, offset(at))
	}
	return nil
}

// summary holds a workout's normalised summary values.
type summary struct {
	duration, distance, active, total, avgHR, maxHR optFloat
	activeFromV1                                    bool
}

func haeSummary(o object) (summary, error) {
	var s summary
	var err error
	if s.duration, err = o.optNum("duration"); err != nil {
		return s, err
	}
	if s.distance, err = o.quantity("distance", toMetres); err != nil {
		return s, err
	}
	// v2: activeEnergyBurned; v1: activeEnergy as a summary object (in v2
	// activeEnergy is a series array).
	if s.active, err = o.quantity("activeEnergyBurned", toKcal); err != nil {
		return s, err
	}
	if raw, ok := o.get("activeEnergy"); !s.active.ok && ok && len(raw) > 0 && raw[0] == '{' {
		if s.active, err = o.quantity("activeEnergy", toKcal); err != nil {
			return s, err
		}
		s.activeFromV1 = true
	}
	if s.total, err = o.quantity("totalEnergy", toKcal); err != nil {
		return s, err
	}
	if raw, ok := o.get("heartRate"); ok && !isNull(raw) {
		hr, err := decodeObject(raw)
		if err != nil {
			return s, reasonf("heartRate: %v", err)
		}
		if s.avgHR, err = hr.quantity("avg", toBPM); err != nil {
			return s, reasonf("heartRate.%v", err)
		}
		if s.maxHR, err = hr.quantity("max", toBPM); err != nil {
			return s, reasonf("heartRate.%v", err)
		}
	}
	if !s.avgHR.ok {
		if s.avgHR, err = o.quantity("avgHeartRate", toBPM); err != nil {
			return s, err
		}
	}
	if !s.maxHR.ok {
		if s.maxHR, err = o.quantity("maxHeartRate", toBPM); err != nil {
			return s, err
		}
	}
	return s, nil
}

func taggedSummary(o object) (summary, error) {
	var s summary
	var err error
	if s.total, err = o.optNum("total_energy_kcal"); err != nil {
		return s, err
	}
	if s.distance, err = o.optNum("distance_meters"); err != nil {
		return s, err
	}
	if s.avgHR, err = o.optNum("avg_heart_rate"); err != nil {
		return s, err
	}
	return s, nil
}

// Unit conversions to the columns' units; an unknown unit is refused
// rather than stored as if it were the column's. Energy units keep their
// case: "Cal" is a kilocalorie.
func toMetres(u string) (float64, bool) {
	switch strings.ToLower(u) {
	case "m":
		return 1, true
	case "km":
		return 1000, true
	case "mi":
		return 1609.344, true
	case "ft":
		return 0.3048, true
	case "yd":
		return 0.9144, true
	}
	return 0, false
}

func toKcal(u string) (float64, bool) {
	switch u {
	case "kcal", "Cal", "Kcal":
		return 1, true
	case "kJ", "kj", "KJ":
		return 1 / 4.184, true
	}
	return 0, false
}

func toBPM(u string) (float64, bool) {
	switch strings.ToLower(u) {
	case "bpm", "count/min":
		return 1, true
	}
	return 0, false
}

// quantity reads a {qty, units} summary object and converts it. A bare
// number is taken as already in the column's unit.
func (o object) quantity(key string, convert func(string) (float64, bool)) (optFloat, error) {
	raw, ok := o.get(key)
	if !ok || isNull(raw) {
		return optFloat{}, nil
	}
	if raw[0] != '{' {
		return o.optNum(key)
	}
	q, err := decodeObject(raw)
	if err != nil {
		return optFloat{}, reasonf("%s: %v", key, err)
	}
	v, err := q.optNum("qty")
	if err != nil || !v.ok {
		return optFloat{}, prefixed(key, err)
	}
	u, _, err := q.str("units")
	if err != nil {
		return optFloat{}, prefixed(key, err)
	}
	if u == "" {
		return v, nil
	}
	f, ok := convert(strings.TrimSpace(u))
	if !ok {
		return optFloat{}, reasonf("%s: unknown unit %q", key, u)
	}
	return some(v.v * f), nil
}

func prefixed(key string, err error) error {
	if err == nil {
		return nil
	}
	return reasonf("%s.%v", key, err)
}
