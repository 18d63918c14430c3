package importer

import (
	"bytes"
	"io"
	"strings"
	"time"

	"github.com/healthexport/libs/applehealth"
	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/kind"
)

// Sources of the items the converter makes: the data keys an upload would
// carry them under, which the kinds' decoders read.
const (
	srcMetrics    = "metrics"
	srcWorkouts   = "workouts"
	srcECG        = "ecg"
	srcSymptoms   = "symptoms"
	srcCycle      = "cycleTracking"
	srcHRNotify   = "heartRateNotifications"
	srcActivity   = "activitySummaries"
	srcImports    = "imports"
	kindImport    = "import"
	kindActivity  = "activity_summary"
	metricSleep   = "sleep_analysis"
	metricBP      = "blood_pressure"
	elemRecord    = "Record"
	elemWorkout   = "Workout"
	elemCorr      = "Correlation"
	elemActivity  = "ActivitySummary"
	elemMetadata  = "MetadataEntry"
	elemExport    = "ExportDate"
	elemMe        = "Me"
	exportTimeFmt = "2006-01-02 15:04:05 -0700"
)

// Stats counts what a conversion read and made.
type Stats struct {
	Records int64            `json:"records"` // top-level elements read
	Items   map[string]int64 `json:"items"`   // items made, by kind
	// Skipped counts what is deliberately not stored, by reason (the
	// records a blood-pressure correlation repeats, <Me>, clinical
	// records, ...): nothing is dropped without being counted.
	Skipped    map[string]int64 `json:"skipped,omitempty"`
	ExportDate string           `json:"export_date,omitempty"`
}

func newStats() *Stats { return &Stats{Items: map[string]int64{}, Skipped: map[string]int64{}} }

// Reasons things are skipped, as the status shows them.
const (
	skipBPRecord      = "blood-pressure sample (stored once, from its correlation)"
	skipFood          = "food correlation (its nutrients are stored from their own records)"
	skipMe            = "Me (characteristics, not samples)"
	skipRouteMissing  = "workout route file not in the export"
	skipRouteNoFile   = "workout route without a file or locations"
	skipRouteCut      = "workout route file unreadable past some point (the points before it are kept)"
	skipOtherElement  = "element not imported: "
	skipCorrelation   = "correlation not imported: "
	skipNotRecords    = "ECG file that is not a recording"
	rejectedByImport  = kind.ImportRejected
	importElementsKey = "element"
)

// converter turns the export's elements into items of the registry's
// kinds, in the shapes Health Auto Export sends (docs/import.md says what
// maps where), and hands them on.
type converter struct {
	reg   *kind.Registry
	vocab *kind.Vocabulary
	files fileSource
	// base prefixes every item's pointer: the records' file
	// ("/apple_health_export/export.xml"). An item's pointer is
	// <base>/<element>/line/<line>, where its element starts.
	base  string
	emit  func(*hae.Item) error
	stats *Stats

	o    obj
	item hae.Item
	side obj // a second buffer, for what is built beside an item (a route)
}

// fileSource opens the export's other files (workout routes).
type fileSource interface {
	File(rel string) (io.ReadCloser, bool, error)
}

func newConverter(reg *kind.Registry, files fileSource, xmlName string, emit func(*hae.Item) error, stats *Stats) *converter {
	return &converter{reg: reg, vocab: reg.Vocabulary(), files: files, base: "/" + strings.TrimPrefix(xmlName, "/"), emit: emit, stats: stats}
}

// element converts one top-level element of export.xml.
func (c *converter) element(el applehealth.Element) error {
	c.stats.Records++
	if bad := el.Malformed(); bad != "" {
		return c.reject(el, "<"+el.Name()+">: "+bad)
	}
	switch el.Name() {
	case elemRecord:
		return c.record(el)
	case elemWorkout:
		return c.workout(el)
	case elemCorr:
		return c.correlation(el)
	case elemActivity:
		return c.activity(el)
	case elemExport:
		c.stats.ExportDate = el.Str("value")
		return nil
	case elemMe:
		c.stats.Skipped[skipMe]++
		return nil
	}
	c.stats.Skipped[skipOtherElement+el.Name()]++
	return nil
}

// send hands on the item built in c.o, made of el.
func (c *converter) send(el applehealth.Element, kindName, source, name, units string) error {
	return c.sendAt(c.base+"/"+el.Name()+"/line", el.Line(), kindName, source, name, units)
}

// sendAt hands on the item built in c.o; its pointer is array/index.
func (c *converter) sendAt(array string, index int, kindName, source, name, units string) error {
	c.item = hae.Item{
		Kind:    kindName,
		Source:  source,
		Name:    name,
		HasName: name != "",
		Units:   units,
		Array:   array,
		Index:   index,
		Raw:     c.o.b,
	}
	c.stats.Items[kindName]++
	return c.emit(&c.item)
}

// reject publishes an element the converter cannot make an item of as an
// import record the import kind rejects with reason: it lands in
// rejected_points with its pointer, like any rejected item.
func (c *converter) reject(el applehealth.Element, reason string) error {
	c.o.reset()
	c.o.open('{')
	c.o.strString(rejectedByImport, reason)
	c.o.strString(importElementsKey, el.Name())
	c.o.key("attributes")
	c.attrs(el)
	c.o.close('}')
	return c.send(el, kindImport, srcImports, "", "")
}

// attrs writes an element's attributes as an object of strings.
func (c *converter) attrs(el applehealth.Element) {
	c.o.open('{')
	for k, v := range el.Attrs() {
		c.o.keyBytes(k)
		c.o.b = appendText(c.o.b, v)
	}
	c.o.close('}')
}

// metadata writes "metadata": {key: value} of the element's MetadataEntry
// children, when it has any.
func (c *converter) metadata(el applehealth.Element) {
	n := 0
	for ch := range el.Children() {
		if ch.Name() != elemMetadata {
			continue
		}
		if n == 0 {
			c.o.key("metadata")
			c.o.open('{')
		}
		n++
		k, _ := ch.Attr("key")
		v, _ := ch.Attr("value")
		c.o.keyBytes(k)
		c.o.b = appendText(c.o.b, v)
	}
	if n > 0 {
		c.o.close('}')
	}
}

func metadataValue(el applehealth.Element, key string) ([]byte, bool) {
	for ch := range el.Children() {
		if ch.Name() == elemMetadata && ch.Str("key") == key {
			return ch.Attr("value")
		}
	}
	return nil, false
}

func (c *converter) record(el applehealth.Element) error {
	typ := el.Str("type")
	switch {
	case strings.HasPrefix(typ, categoryPrefix):
		return c.category(el, strings.TrimPrefix(typ, categoryPrefix))
	case strings.HasPrefix(typ, quantityPrefix):
		if _, ok := bloodPressureParts[strings.TrimPrefix(typ, quantityPrefix)]; ok {
			c.stats.Skipped[skipBPRecord]++
			return nil
		}
		return c.quantity(el, metricName(typ))
	case strings.HasPrefix(typ, dataTypePrefix):
		return c.quantity(el, metricName(typ))
	case typ == "":
		return c.reject(el, "a Record without a type")
	}
	// A type of a family this build does not know: a number is a quantity
	// under its own name, anything else an event.
	if _, ok := number(mustAttr(el, "value")); ok {
		return c.quantity(el, metricName(typ))
	}
	return c.categoryEvent(el, snake(typ), mustAttr(el, "value"))
}

func mustAttr(el applehealth.Element, key string) []byte {
	v, _ := el.Attr(key)
	return v
}

// quantity is a Record of a quantity type: a heart_rate point (min = avg =
// max, the sample's value) or a quantity point.
func (c *converter) quantity(el applehealth.Element, metric string) error {
	value, hasValue := el.Attr("value")
	start, hasStart := el.Attr("startDate")
	units := el.Str("unit")
	k := c.reg.MetricKind(metric)
	c.o.reset()
	c.o.open('{')
	if hasStart {
		c.o.str("date", start)
	}
	if k == "heart_rate" {
		if hasValue {
			c.o.num("Min", value)
			c.o.num("Avg", value)
			c.o.num("Max", value)
		}
		c.o.str("source", mustAttr(el, "sourceName"))
		c.o.close('}')
		return c.send(el, k, srcMetrics, metric, units)
	}
	if hasValue {
		if v, ok := number(value); ok && units == "%" {
			// HealthKit writes a percentage as a fraction (0.97 %); Health
			// Auto Export sends it as a percentage (97 %), as it is stored.
			c.o.float("qty", roundTo(v*100, 9))
		} else {
			c.o.num("qty", value)
		}
	}
	c.o.str("source", mustAttr(el, "sourceName"))
	if end, ok := el.Attr("endDate"); ok && !bytes.Equal(end, start) {
		c.o.str("endDate", end)
	}
	c.metadata(el)
	c.beats(el)
	c.o.close('}')
	return c.send(el, k, srcMetrics, metric, units)
}

// beats writes the instantaneous beats of a heart-rate variability sample.
func (c *converter) beats(el applehealth.Element) {
	for ch := range el.Children() {
		if ch.Name() != "HeartRateVariabilityMetadataList" {
			continue
		}
		c.o.key("beats")
		c.o.open('[')
		for b := range ch.Children() {
			c.o.sep()
			c.o.open('{')
			c.o.num("bpm", mustAttr(b, "bpm"))
			c.o.str("time", mustAttr(b, "time"))
			c.o.close('}')
		}
		c.o.close(']')
	}
}

func (c *converter) correlation(el applehealth.Element) error {
	typ := strings.TrimPrefix(el.Str("type"), correlationPrefix)
	switch typ {
	case "BloodPressure":
	case "Food":
		c.stats.Skipped[skipFood]++
		return nil
	default:
		c.stats.Skipped[skipCorrelation+typ]++
		return nil
	}
	c.o.reset()
	c.o.open('{')
	c.o.str("date", mustAttr(el, "startDate"))
	for ch := range el.Children() {
		if ch.Name() != elemRecord {
			continue
		}
		if part, ok := bloodPressureParts[strings.TrimPrefix(ch.Str("type"), quantityPrefix)]; ok {
			c.o.num(part, mustAttr(ch, "value"))
		}
	}
	c.o.str("source", mustAttr(el, "sourceName"))
	c.o.close('}')
	return c.send(el, metricBP, srcMetrics, metricBP, "mmHg")
}

// activity is a day's ActivitySummary.
func (c *converter) activity(el applehealth.Element) error {
	c.o.reset()
	c.o.open('{')
	for k, v := range el.Attrs() {
		switch {
		case string(k) == "dateComponents":
			c.o.str("date", v)
		case bytes.HasSuffix(k, []byte("Unit")):
			c.o.keyBytes(k)
			c.o.b = appendText(c.o.b, v)
		default:
			c.o.keyBytes(k)
			c.o.b = appendNumber(c.o.b, v)
		}
	}
	c.o.close('}')
	return c.send(el, kindActivity, srcActivity, "", "")
}

// startEnd writes "start" and "end" and the source, as events carry them.
func (c *converter) startEnd(el applehealth.Element) {
	c.o.str("start", mustAttr(el, "startDate"))
	if end, ok := el.Attr("endDate"); ok {
		c.o.str("end", end)
	}
	c.o.str("source", mustAttr(el, "sourceName"))
}

// duration is end - start of an element, or false.
func duration(el applehealth.Element) (time.Duration, bool) {
	s, err1 := hae.ParseTime(el.Str("startDate"))
	e, err2 := hae.ParseTime(el.Str("endDate"))
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return e.Instant.Sub(s.Instant), true
}
