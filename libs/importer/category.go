package importer

import (
	"strconv"
	"strings"

	"github.com/healthexport/libs/applehealth"
	"github.com/healthexport/libs/kind"
)

// sleepStages maps HKCategoryValueSleepAnalysis* to the stages Health Auto
// Export names (sleep_segments.stage).
var sleepStages = map[string]string{
	"InBed":             "InBed",
	"Asleep":            "Asleep",
	"AsleepUnspecified": "Asleep",
	"AsleepCore":        "Core",
	"AsleepDeep":        "Deep",
	"AsleepREM":         "REM",
	"Awake":             "Awake",
}

// cycleTypes are the category types Health Auto Export sends as
// cycleTracking.
var cycleTypes = map[string]bool{
	"MenstrualFlow": true, "IntermenstrualBleeding": true, "OvulationTestResult": true, "CervicalMucusQuality": true,
	"Contraceptive": true, "Pregnancy": true, "Lactation": true, "PregnancyTestResult": true, "ProgesteroneTestResult": true,
	"InfrequentMenstrualCycles": true, "IrregularMenstrualCycles": true, "PersistentIntermenstrualBleeding": true,
	"ProlongedMenstrualPeriods": true, "BleedingAfterPregnancy": true, "BleedingDuringPregnancy": true,
}

// heartNotifications maps the heart-rate event types to the
// heartNotification Health Auto Export names them by.
var heartNotifications = map[string]string{
	"HighHeartRateEvent":        "high_heart_rate_notification",
	"LowHeartRateEvent":         "low_heart_rate_notification",
	"IrregularHeartRhythmEvent": "irregular_rhythm_notification",
}

// valueFamilies are the middles of HKCategoryValue names: the value of
// HKCategoryValueSeverityMild is Mild.
var valueFamilies = []string{
	"SleepAnalysis", "Severity", "Presence", "AppetiteChanges", "VaginalBleeding", "MenstrualFlow", "OvulationTestResult",
	"CervicalMucusQuality", "ContraceptiveType", "Contraceptive", "PregnancyTestResult", "ProgesteroneTestResult",
	"AppleStandHour", "LowCardioFitnessEvent", "AppleWalkingSteadinessEvent", "EnvironmentalAudioExposureEvent",
	"HeadphoneAudioExposureEvent", "AudioExposureEvent",
}

// categoryValueText is a category value as the Health app words it:
// HKCategoryValueSeverityMild is "Mild", HKCategoryValueNotApplicable
// "Not Applicable"; a number stays as written.
func categoryValueText(v, typ string) string {
	s, ok := strings.CutPrefix(v, categoryValue)
	if !ok {
		return v
	}
	if rest, ok := strings.CutPrefix(s, typ); ok && rest != "" {
		return words(rest)
	}
	for _, f := range valueFamilies {
		if rest, ok := strings.CutPrefix(s, f); ok && rest != "" {
			return words(rest)
		}
	}
	return words(s)
}

// category is a Record of a category type.
func (c *converter) category(el applehealth.Element, typ string) error {
	value := el.Str("value")
	switch typ {
	case "SleepAnalysis":
		return c.sleep(el, value)
	case "MindfulSession":
		return c.minutes(el, "mindful_minutes")
	case "AppleStandHour":
		return c.standHour(el, value)
	case "HandwashingEvent":
		return c.seconds(el, "handwashing", value, typ)
	case "ToothbrushingEvent":
		return c.seconds(el, "toothbrushing", value, typ)
	case "SexualActivity":
		return c.sexualActivity(el)
	}
	if n, ok := heartNotifications[typ]; ok {
		return c.notification(el, n)
	}
	if cycleTypes[typ] {
		c.o.reset()
		c.o.open('{')
		c.startEnd(el)
		c.o.strString("name", words(typ))
		c.o.strString("value", categoryValueText(value, typ))
		if v, ok := metadataValue(el, "HKMenstrualCycleStart"); ok {
			c.o.bool("isCycleStart", string(v) == "1")
		}
		c.metadata(el)
		c.o.close('}')
		return c.send(el, "event", srcCycle, "", "")
	}
	canon := snake(typ)
	if c.vocab.Canonical(kind.FieldSymptomName, canon) == canon {
		name := c.vocab.English(kind.FieldSymptomName, canon)
		if name == "" {
			name = words(typ)
		}
		c.o.reset()
		c.o.open('{')
		c.startEnd(el)
		c.o.strString("name", name)
		c.o.strString("severity", categoryValueText(value, typ))
		c.metadata(el)
		c.o.close('}')
		return c.send(el, "event", srcSymptoms, "", "")
	}
	return c.categoryEvent(el, canon, []byte(categoryValueText(value, typ)))
}

// categoryEvent is any other category sample: an event of kind
// "category", keyed on its type.
func (c *converter) categoryEvent(el applehealth.Element, typ string, value []byte) error {
	c.o.reset()
	c.o.open('{')
	c.startEnd(el)
	c.o.strString("type", typ)
	c.o.str("value", value)
	c.metadata(el)
	c.o.close('}')
	return c.send(el, "event", kind.CategoryEvents, "", "")
}

// sleep is a sleep segment: its stage, and its length in hours as qty.
func (c *converter) sleep(el applehealth.Element, value string) error {
	v := strings.TrimPrefix(value, categoryValue+"SleepAnalysis")
	stage, ok := sleepStages[v]
	if !ok {
		stage = v
	}
	c.o.reset()
	c.o.open('{')
	c.o.str("startDate", mustAttr(el, "startDate"))
	c.o.str("endDate", mustAttr(el, "endDate"))
	if d, ok := duration(el); ok {
		c.o.float("qty", roundTo(d.Hours(), 4))
	}
	c.o.strString("value", stage)
	c.o.str("source", mustAttr(el, "sourceName"))
	c.o.close('}')
	return c.send(el, "sleep", srcMetrics, metricSleep, "hr")
}

// minutes is a quantity point whose qty is the sample's length in minutes.
func (c *converter) minutes(el applehealth.Element, metric string) error {
	c.o.reset()
	c.o.open('{')
	c.o.str("date", mustAttr(el, "startDate"))
	if d, ok := duration(el); ok {
		c.o.float("qty", roundTo(d.Minutes(), 4))
	}
	c.o.str("source", mustAttr(el, "sourceName"))
	c.o.str("endDate", mustAttr(el, "endDate"))
	c.metadata(el)
	c.o.close('}')
	return c.send(el, "quantity", srcMetrics, metric, "min")
}

// seconds is a quantity point whose qty is the sample's length in seconds
// (handwashing, toothbrushing), with the category value beside it.
func (c *converter) seconds(el applehealth.Element, metric, value, typ string) error {
	c.o.reset()
	c.o.open('{')
	c.o.str("date", mustAttr(el, "startDate"))
	if d, ok := duration(el); ok {
		c.o.float("qty", roundTo(d.Seconds(), 3))
	}
	c.o.strString("value", categoryValueText(value, typ))
	c.o.str("source", mustAttr(el, "sourceName"))
	c.metadata(el)
	c.o.close('}')
	return c.send(el, "quantity", srcMetrics, metric, "s")
}

// standHour is 1 for an hour stood in, 0 for one idle.
func (c *converter) standHour(el applehealth.Element, value string) error {
	qty := "0"
	if strings.HasSuffix(value, "Stood") {
		qty = "1"
	}
	c.o.reset()
	c.o.open('{')
	c.o.str("date", mustAttr(el, "startDate"))
	c.o.num("qty", []byte(qty))
	c.o.strString("value", categoryValueText(value, "AppleStandHour"))
	c.o.str("source", mustAttr(el, "sourceName"))
	c.o.close('}')
	return c.send(el, "quantity", srcMetrics, "apple_stand_hour", "count")
}

// sexualActivity is counted under the key Health Auto Export uses for
// whether protection was used.
func (c *converter) sexualActivity(el applehealth.Element) error {
	key := "Unspecified"
	if v, ok := metadataValue(el, "HKSexualActivityProtectionUsed"); ok {
		key = "Protection Not Used"
		if string(v) == "1" {
			key = "Protection Used"
		}
	}
	c.o.reset()
	c.o.open('{')
	c.o.str("date", mustAttr(el, "startDate"))
	c.o.int(key, 1)
	c.o.str("source", mustAttr(el, "sourceName"))
	c.o.close('}')
	return c.send(el, "quantity", srcMetrics, "sexual_activity", "count")
}

// notification is a heart-rate event, its threshold from its metadata
// ("120 count/min").
func (c *converter) notification(el applehealth.Element, name string) error {
	c.o.reset()
	c.o.open('{')
	c.startEnd(el)
	c.o.strString("heartNotification", name)
	if v, ok := metadataValue(el, "HKHeartRateEventThreshold"); ok {
		if f, ok := number(leadingNumberText(v)); ok {
			c.o.float("threshold", f)
		}
	}
	c.metadata(el)
	c.o.close('}')
	return c.send(el, "event", srcHRNotify, "", "")
}

// leadingNumberText is the number at the start of "120 count/min".
func leadingNumberText(v []byte) []byte {
	for i, b := range v {
		if !(b >= '0' && b <= '9' || b == '.' || b == '-' || b == ',') {
			return v[:i]
		}
	}
	return v
}

// roundTo rounds to n decimals: durations derived from two timestamps get
// no binary noise.
func roundTo(v float64, n int) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', n, 64), 64)
	return f
}
