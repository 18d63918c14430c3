package synth

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/klauspost/compress/zip"
)

// ExportSpec describes a synthetic export of the Health app ("Export All
// Health Data"), written as the app writes it, quirks included: the
// malformed DTD of export version 12, a control character (\x0b) in a
// source, numbers written with spaces or a decimal comma, records repeated
// within the file, blood-pressure correlations whose samples are repeated
// as top-level records, export_cda.xml beside export.xml, workout routes as
// GPX files, ECG recordings with localised (Spanish) labels, and the XML
// under a localised name when XMLName says so.
type ExportSpec struct {
	// Start is the first day (its offset is written into every time; the
	// zero value means DefaultStart).
	Start time.Time
	// Days of data: every minute a heart rate (with its motion context)
	// and active energy from the watch; steps, distance and basal energy
	// every ten minutes; a night of six sleep segments; a blood pressure;
	// an activity summary; events (symptoms, cycle, a heart-rate
	// notification, audio exposure) every few days; a workout every third
	// day (with a GPX route, or every other one inline locations); an ECG
	// every tenth day.
	Days int
	// XMLName is the records' file in the zip ("export.xml" when empty;
	// "exportar.xml" on a Spanish phone).
	XMLName string
	// RoutePoints per workout route (one a second).
	RoutePoints int
	Seed        uint64
}

// ExportCounts is what an export holds: every count is rows of its table
// once imported (duplicates and the samples a correlation repeats are not
// counted twice).
type ExportCounts struct {
	Records       int // top-level elements of export.xml
	HeartRate     int // heart_rate_metrics
	Quantity      int // quantity_metrics
	BloodPressure int // blood_pressure_metrics
	SleepSegments int // sleep_segments
	Events        int // health_events
	Workouts      int // workouts
	RoutePoints   int // workout_route_points
	Activity      int // activity_summaries
	ECG           int // ecg_recordings
	XMLBytes      int64
	ZipBytes      int64 // 0 for a bare XML
}

// Rows is every row the export makes.
func (c ExportCounts) Rows() int {
	return c.HeartRate + c.Quantity + c.BloodPressure + c.SleepSegments + c.Events + c.Workouts + c.RoutePoints + c.Activity + c.ECG
}

// exportDTD is the internal DTD of export version 12, as iOS 16 writes it:
// the ATTLIST of VisionPrescription lacks its closing ">".
const exportDTD = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!-- HealthKit Export Version: 12 -->
<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary|ClinicalRecord|Audiogram|VisionPrescription)*)>
<!ATTLIST HealthData
  locale CDATA #REQUIRED
>
<!ELEMENT ExportDate EMPTY>
<!ATTLIST ExportDate
  value CDATA #REQUIRED
>
<!ELEMENT Record ((MetadataEntry|HeartRateVariabilityMetadataList)*)>
<!ATTLIST Record
  type          CDATA #REQUIRED
  unit          CDATA #IMPLIED
  value         CDATA #IMPLIED
  sourceName    CDATA #REQUIRED
  sourceVersion CDATA #IMPLIED
  device        CDATA #IMPLIED
  creationDate  CDATA #IMPLIED
  startDate     CDATA #REQUIRED
  endDate       CDATA #REQUIRED
>
<!ELEMENT VisionPrescription ((RightEye|LeftEye|Attachment|MetadataEntry)*)>
<!ATTLIST VisionPrescription
  type             CDATA #REQUIRED
  dateIssued       CDATA #REQUIRED
  expirationDate   CDATA #IMPLIED
  brand            CDATA #IMPLIED

]>
`

// Devices as the export names them.
const (
	exportWatch   = "Apple Watch de Ana"
	exportPhone   = "iPhone de Ana"
	watchDevice   = "&lt;&lt;HKDevice: 0x283ea2e90&gt;, name:Apple Watch, manufacturer:Apple Inc., model:Watch, hardware:Watch7,3, software:11.0, creation date:2026-01-10 09:41:12 +0000&gt;"
	phoneDevice   = "&lt;&lt;HKDevice: 0x283ea3f70&gt;, name:iPhone, manufacturer:Apple Inc., model:iPhone, hardware:iPhone16,1, software:26.0, creation date:2026-01-10 09:41:12 +0000&gt;"
	exportVersion = "11.0"
)

// xmlWriter writes an export's XML, counting what it holds.
type xmlWriter struct {
	w   *bufio.Writer
	b   []byte
	c   *ExportCounts
	r   *rand.Rand
	off *time.Location
}

func (x *xmlWriter) flush() { _, _ = x.w.Write(x.b); x.b = x.b[:0] }

func (x *xmlWriter) ts(t time.Time) []byte { return t.In(x.off).AppendFormat(nil, TimeLayout) }

func (x *xmlWriter) appendTS(t time.Time) { x.b = t.In(x.off).AppendFormat(x.b, TimeLayout) }

// record writes a <Record> opening: attributes up to the value.
func (x *xmlWriter) record(typ, source, device, unit string, start, end time.Time, value string, children bool) {
	x.b = append(x.b, ` <Record type="`...)
	x.b = append(x.b, typ...)
	x.b = append(x.b, `" sourceName="`...)
	x.b = append(x.b, source...)
	x.b = append(x.b, `" sourceVersion="`...)
	x.b = append(x.b, exportVersion...)
	if device != "" {
		x.b = append(x.b, `" device="`...)
		x.b = append(x.b, device...)
	}
	if unit != "" {
		x.b = append(x.b, `" unit="`...)
		x.b = append(x.b, unit...)
	}
	x.span(end.Add(7*time.Second), start, end)
	x.b = append(x.b, `" value="`...)
	x.b = append(x.b, value...)
	if children {
		x.b = append(x.b, "\">\n"...)
	} else {
		x.b = append(x.b, "\"/>\n"...)
	}
	x.c.Records++
	if len(x.b) > 64<<10 {
		x.flush()
	}
}

// span writes the creation, start and end attributes, from the closing
// quote of the one before to the opening quote of the last.
func (x *xmlWriter) span(created, start, end time.Time) {
	x.b = append(x.b, `" creationDate="`...)
	x.appendTS(created)
	x.b = append(x.b, `" startDate="`...)
	x.appendTS(start)
	x.b = append(x.b, `" endDate="`...)
	x.appendTS(end)
}

func (x *xmlWriter) meta(key, value string) {
	x.b = append(x.b, `  <MetadataEntry key="`...)
	x.b = append(x.b, key...)
	x.b = append(x.b, `" value="`...)
	x.b = append(x.b, value...)
	x.b = append(x.b, "\"/>\n"...)
}

func (x *xmlWriter) line(s string) { x.b = append(x.b, s...) }

func num(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }

// WriteExport writes the records' XML (export.xml) of an export. routes
// receives each GPX file the workouts reference, by its path.
func WriteExport(w io.Writer, s ExportSpec, routes func(path string, gpx []byte) error) (ExportCounts, error) {
	if s.Start.IsZero() {
		s.Start = DefaultStart
	}
	if s.RoutePoints <= 0 {
		s.RoutePoints = 120
	}
	var c ExportCounts
	cw := &countWriter{w: w}
	x := &xmlWriter{w: bufio.NewWriterSize(cw, 256<<10), c: &c, r: rand.New(rand.NewPCG(s.Seed, 0x6578706f7274)), off: s.Start.Location()}
	x.line(exportDTD)
	x.line(`<HealthData locale="es_ES">` + "\n")
	x.line(` <ExportDate value="` + string(x.ts(s.Start.AddDate(0, 0, s.Days))) + `"/>` + "\n")
	x.line(` <Me HKCharacteristicTypeIdentifierDateOfBirth="1990-05-04" HKCharacteristicTypeIdentifierBiologicalSex="HKBiologicalSexFemale" HKCharacteristicTypeIdentifierBloodType="HKBloodTypeNotSet" HKCharacteristicTypeIdentifierFitzpatrickSkinType="HKFitzpatrickSkinTypeNotSet" HKCharacteristicTypeIdentifierCardioFitnessMedicationsUse="None"/>` + "\n")
	c.Records += 2
	for d := range s.Days {
		day := time.Date(s.Start.Year(), s.Start.Month(), s.Start.Day()+d, 0, 0, 0, 0, s.Start.Location())
		x.minutes(day, d)
		x.tenMinutes(day, d)
		x.night(day)
		x.dailies(day, d)
		if err := x.workout(day, d, s.RoutePoints, routes); err != nil {
			return c, err
		}
		if cw.err != nil {
			return c, cw.err
		}
	}
	x.line("</HealthData>\n")
	x.flush()
	if err := x.w.Flush(); err != nil {
		return c, err
	}
	c.XMLBytes = cw.n
	return c, cw.err
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

// minutes writes a day's minute-level heart rate (with its motion context)
// and active energy. Quirks: a heart rate written " 72 " or "72,5" now and
// then, and every 500th heart rate written twice.
func (x *xmlWriter) minutes(day time.Time, d int) {
	for m := range 1440 {
		at := day.Add(time.Duration(m) * time.Minute)
		hr := 58 + 30*math.Sin(float64(m)/229) + x.r.Float64()*12
		v := strconv.Itoa(int(hr))
		switch m % 997 {
		case 3:
			v = " " + v + " "
		case 5:
			v = strconv.Itoa(int(hr)) + ",5"
		}
		source := exportWatch
		if d == 0 && m == 7 {
			source = exportWatch + "\x0b" // a stray control character, as real exports have
		}
		x.record("HKQuantityTypeIdentifierHeartRate", source, watchDevice, "count/min", at, at, v, true)
		x.meta("HKMetadataKeyHeartRateMotionContext", strconv.Itoa(m%3))
		x.line(" </Record>\n")
		x.c.HeartRate++
		if m%500 == 250 {
			// The same sample again: one row.
			x.record("HKQuantityTypeIdentifierHeartRate", source, watchDevice, "count/min", at, at, v, true)
			x.meta("HKMetadataKeyHeartRateMotionContext", strconv.Itoa(m%3))
			x.line(" </Record>\n")
		}
		x.record("HKQuantityTypeIdentifierActiveEnergyBurned", exportWatch, watchDevice, "kcal", at, at.Add(time.Minute), num(0.5+x.r.Float64()*4, 3), false)
		x.c.Quantity++
	}
}

// tenMinutes writes steps (phone and watch), walking distance (phone) and
// basal energy (watch) every ten minutes.
func (x *xmlWriter) tenMinutes(day time.Time, d int) {
	for m := 0; m < 1440; m += 10 {
		at := day.Add(time.Duration(m) * time.Minute)
		end := at.Add(10 * time.Minute)
		steps := x.r.IntN(900)
		x.record("HKQuantityTypeIdentifierStepCount", exportPhone, phoneDevice, "count", at, end, strconv.Itoa(steps), false)
		x.record("HKQuantityTypeIdentifierStepCount", exportWatch, watchDevice, "count", at, end, strconv.Itoa(steps+x.r.IntN(50)), false)
		x.record("HKQuantityTypeIdentifierDistanceWalkingRunning", exportPhone, phoneDevice, "km", at, end, num(float64(steps)*0.00072, 5), false)
		x.record("HKQuantityTypeIdentifierBasalEnergyBurned", exportWatch, watchDevice, "kcal", at, end, num(10+x.r.Float64(), 3), false)
		x.c.Quantity += 4
	}
}

// night writes the night before day: in bed, then core, deep, REM, core
// and awake segments.
func (x *xmlWriter) night(day time.Time) {
	start := day.Add(-90 * time.Minute)
	x.sleep("InBed", start, start.Add(8*time.Hour))
	at := start.Add(10 * time.Minute)
	for _, seg := range []struct {
		stage string
		min   int
	}{{"AsleepCore", 95}, {"AsleepDeep", 60}, {"AsleepREM", 50}, {"AsleepCore", 120}, {"Awake", 8}} {
		end := at.Add(time.Duration(seg.min) * time.Minute)
		x.sleep(seg.stage, at, end)
		at = end
	}
}

func (x *xmlWriter) sleep(stage string, start, end time.Time) {
	x.record("HKCategoryTypeIdentifierSleepAnalysis", exportWatch, watchDevice, "", start, end, "HKCategoryValueSleepAnalysis"+stage, false)
	x.c.SleepSegments++
}

// dailies writes a day's blood pressure (a correlation, its two samples
// repeated at the top), body mass, activity summary and, every few days,
// events.
func (x *xmlWriter) dailies(day time.Time, d int) {
	at := day.Add(7*time.Hour + 30*time.Minute)
	sys, dia := strconv.Itoa(112+x.r.IntN(20)), strconv.Itoa(70+x.r.IntN(12))
	for _, p := range [][2]string{{"Systolic", sys}, {"Diastolic", dia}} {
		x.record("HKQuantityTypeIdentifierBloodPressure"+p[0], "Omron", "", "mmHg", at, at, p[1], false)
	}
	x.line(` <Correlation type="HKCorrelationTypeIdentifierBloodPressure" sourceName="Omron" sourceVersion="2`)
	x.span(at, at, at)
	x.line("\">\n")
	x.meta("HKWasUserEntered", "0")
	for _, p := range [][2]string{{"Diastolic", dia}, {"Systolic", sys}} {
		x.line(`  <Record type="HKQuantityTypeIdentifierBloodPressure` + p[0] + `" sourceName="Omron" unit="mmHg" startDate="`)
		x.appendTS(at)
		x.line(`" endDate="`)
		x.appendTS(at)
		x.line(`" value="` + p[1] + "\"/>\n")
	}
	x.line(" </Correlation>\n")
	x.c.Records++
	x.c.BloodPressure++

	weigh := day.Add(7 * time.Hour)
	x.record("HKQuantityTypeIdentifierBodyMass", "Báscula", "", "kg", weigh, weigh, num(61+x.r.Float64(), 1), false)
	x.record("HKQuantityTypeIdentifierOxygenSaturation", exportWatch, watchDevice, "%", day.Add(4*time.Hour), day.Add(4*time.Hour), num(0.94+x.r.Float64()*0.05, 2), false)
	x.c.Quantity += 2

	x.line(` <ActivitySummary dateComponents="` + day.Format("2006-01-02") + `" activeEnergyBurned="` + num(300+x.r.Float64()*400, 3) +
		`" activeEnergyBurnedGoal="500" activeEnergyBurnedUnit="kcal" appleMoveTime="0" appleMoveTimeGoal="0" appleExerciseTime="` +
		strconv.Itoa(x.r.IntN(90)) + `" appleExerciseTimeGoal="30" appleStandHours="` + strconv.Itoa(8+x.r.IntN(8)) + `" appleStandHoursGoal="12"/>` + "\n")
	x.c.Records++
	x.c.Activity++

	if d%4 == 1 {
		ev := day.Add(15 * time.Hour)
		x.record("HKCategoryTypeIdentifierHeadache", "Salud", "", "", ev, ev.Add(2*time.Hour), "HKCategoryValueSeverityMild", false)
		x.record("HKCategoryTypeIdentifierMenstrualFlow", "Salud", "", "", day, day, "HKCategoryValueVaginalBleedingLight", true)
		x.meta("HKMenstrualCycleStart", "1")
		x.line(" </Record>\n")
		x.record("HKCategoryTypeIdentifierHighHeartRateEvent", exportWatch, watchDevice, "", ev.Add(time.Hour), ev.Add(70*time.Minute), "HKCategoryValueNotApplicable", true)
		x.meta("HKHeartRateEventThreshold", "120 count/min")
		x.line(" </Record>\n")
		x.record("HKCategoryTypeIdentifierAudioExposureEvent", exportWatch, watchDevice, "", ev.Add(3*time.Hour), ev.Add(3*time.Hour+3*time.Minute), "HKCategoryValueAudioExposureEventLoudEnvironment", false)
		x.c.Events += 4
	}
}

// workout writes every third day's workout: a run with a GPX route
// (iOS 16 statistics), or a ride with inline locations (older exports).
func (x *xmlWriter) workout(day time.Time, d, points int, routes func(string, []byte) error) error {
	if d%3 != 2 {
		return nil
	}
	start := day.Add(18 * time.Hour)
	end := start.Add(time.Duration(points) * time.Second)
	gpx := d%6 == 2
	typ := "HKWorkoutActivityTypeCycling"
	if gpx {
		typ = "HKWorkoutActivityTypeRunning"
	}
	x.line(` <Workout workoutActivityType="` + typ + `" duration="` + num(float64(points)/60, 4) + `" durationUnit="min" sourceName="` + exportWatch +
		`" sourceVersion="` + exportVersion + `" device="` + watchDevice)
	x.span(end, start, end)
	x.line("\">\n")
	x.meta("HKIndoorWorkout", "0")
	x.line(`  <WorkoutEvent type="HKWorkoutEventTypeSegment" date="`)
	x.appendTS(start)
	x.line(`" duration="1" durationUnit="min"/>` + "\n")
	for _, st := range []string{
		`type="HKQuantityTypeIdentifierActiveEnergyBurned" sum="` + num(float64(points)*0.2, 2) + `" unit="kcal"`,
		`type="HKQuantityTypeIdentifierDistanceWalkingRunning" sum="` + num(float64(points)*0.0028, 3) + `" unit="km"`,
		`type="HKQuantityTypeIdentifierHeartRate" average="142" minimum="101" maximum="171" unit="count/min"`,
	} {
		x.line(`  <WorkoutStatistics ` + st + "/>\n")
	}
	x.line("  <WorkoutRoute sourceName=\"" + exportWatch + "\">\n")
	lat, lon := 40.4168+x.r.Float64()*0.01, -3.7038+x.r.Float64()*0.01
	if gpx {
		path := "/workout-routes/route_" + day.Format("2006-01-02") + "_6.00pm.gpx"
		x.line(`   <FileReference path="` + path + "\"/>\n")
		var g []byte
		g = append(g, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<gpx version="1.1" creator="Apple Health Export" xmlns="http://www.topografix.com/GPX/1/1"><trk><name>Ruta</name><trkseg>`+"\n"...)
		for i := range points {
			at := start.Add(time.Duration(i) * time.Second).UTC()
			g = fmt.Appendf(g, `<trkpt lon="%.6f" lat="%.6f"><ele>%.2f</ele><time>%s</time><extensions><speed>%.2f</speed><course>%.1f</course><hAcc>%.1f</hAcc><vAcc>%.1f</vAcc></extensions></trkpt>`+"\n",
				lon+float64(i)*1e-5, lat+float64(i)*1e-5, 650+float64(i%30)*0.1, at.Format(time.RFC3339), 2.5+x.r.Float64(), float64(i%360), 3+x.r.Float64(), 2+x.r.Float64())
		}
		g = append(g, "</trkseg></trk></gpx>\n"...)
		if routes != nil {
			if err := routes(path, g); err != nil {
				return err
			}
		}
	} else {
		for i := range points {
			at := start.Add(time.Duration(i) * time.Second)
			x.line(`   <Location date="`)
			x.appendTS(at)
			x.b = fmt.Appendf(x.b, `" latitude="%.6f" longitude="%.6f" altitude="%.2f" horizontalAccuracy="3.5" verticalAccuracy="2.1" course="%d" speed="%.2f"/>`+"\n",
				lat+float64(i)*1e-5, lon+float64(i)*1e-5, 650+float64(i%30)*0.1, i%360, 5+x.r.Float64())
		}
	}
	x.line("  </WorkoutRoute>\n </Workout>\n")
	x.c.Records++
	x.c.Workouts++
	x.c.RoutePoints += points
	if len(x.b) > 64<<10 {
		x.flush()
	}
	return nil
}

// ecgCSV is a recording as the Spanish Health app labels it.
func ecgCSV(at time.Time, r *rand.Rand) []byte {
	b := []byte("Nombre,Ana Ejemplo\nFecha de nacimiento,\"4 may 1990\"\nFecha de registro," + at.Format(TimeLayout) +
		"\nClasificación,Ritmo sinusal\nSíntomas,\nVersión de software,2\nDispositivo,\"Watch7,3\"\nFrecuencia de muestreo,512 hercios\n,\nDerivación,Derivación I\nUnidad,µV\n,\n")
	for i := range 512 * 30 {
		b = strconv.AppendFloat(b, 200*math.Sin(float64(i)/40)+r.Float64()*10, 'f', 3, 64)
		b = append(b, '\n')
	}
	return b
}

// WriteExportZip writes an export as the Health app zips it:
// apple_health_export/ with the records' XML, export_cda.xml, the
// workout routes and the ECG recordings.
func WriteExportZip(w io.Writer, s ExportSpec) (ExportCounts, error) {
	if s.XMLName == "" {
		s.XMLName = "export.xml"
	}
	if s.Start.IsZero() {
		s.Start = DefaultStart
	}
	cw := &countWriter{w: w}
	zw := zip.NewWriter(cw)
	const dir = "apple_health_export/"
	f, err := zw.Create(dir + s.XMLName)
	if err != nil {
		return ExportCounts{}, err
	}
	// Routes are written after the XML: a zip takes one entry at a time.
	type route struct {
		path string
		gpx  []byte
	}
	var routes []route
	c, err := WriteExport(f, s, func(path string, gpx []byte) error {
		routes = append(routes, route{path, gpx})
		return nil
	})
	if err != nil {
		return c, err
	}
	cda, err := zw.Create(dir + "export_cda.xml")
	if err != nil {
		return c, err
	}
	if _, err := io.WriteString(cda, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<ClinicalDocument xmlns="urn:hl7-org:v3"><title>Health</title></ClinicalDocument>`+"\n"); err != nil {
		return c, err
	}
	for _, r := range routes {
		rf, err := zw.Create(dir + r.path[1:])
		if err != nil {
			return c, err
		}
		if _, err := rf.Write(r.gpx); err != nil {
			return c, err
		}
	}
	rng := rand.New(rand.NewPCG(s.Seed, 0x656367))
	for d := 9; d < s.Days; d += 10 {
		at := time.Date(s.Start.Year(), s.Start.Month(), s.Start.Day()+d, 11, 0, 0, 0, s.Start.Location())
		ef, err := zw.Create(dir + "electrocardiograms/ecg_" + at.Format("2006-01-02") + ".csv")
		if err != nil {
			return c, err
		}
		if _, err := ef.Write(ecgCSV(at, rng)); err != nil {
			return c, err
		}
		c.ECG++
	}
	if err := zw.Close(); err != nil {
		return c, err
	}
	c.ZipBytes = cw.n
	return c, cw.err
}

// ExportForSize is a spec whose export.xml is about targetBytes (a day is
// about 1.6 MB of XML).
func ExportForSize(targetBytes int64) ExportSpec {
	const dayBytes = 1_620_000
	return ExportSpec{Days: max(1, int(targetBytes/dayBytes)), Seed: 1}
}
