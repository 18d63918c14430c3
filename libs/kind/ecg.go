package kind

import (
	"bytes"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/pgstore"
)

// ecg keeps a recording with its voltage samples (about 15k for 30 s) as
// arrays: the voltages and each sample's offset from the start.
func ecg(v *Vocabulary) *Kind {
	t := dataTable("ecg_recordings", "", []string{"started_at", "source"},
		[]string{"ended_at", "classification", "classification_canonical", "severity", "average_heart_rate", "sampling_hz",
			"voltage_units", "voltages", "voltage_offsets_ms", "details", "recorded_offset_min"})
	return &Kind{
		Name:   "ecg",
		Tables: []*pgstore.Table{t},
		Arrays: []string{"ecg"},
		decode: func(env *Env, it *hae.Item, s Sink) {
			if err := decodeECG(env, it, v, s, t); err != nil {
				s.Reject(it.Pointer(), rejectReason(err), it.Raw)
			}
		},
	}
}

func ecgFields() []string {
	return []string{"start", "end", "source", "classification", "severity", "averageHeartRate", "samplingFrequency", "voltageMeasurements"}
}

func decodeECG(env *Env, it *hae.Item, v *Vocabulary, s Sink, t *pgstore.Table) error {
	if it.Key != "" {
		return reasonf("%s: must be an array, got %s", it.Key, describeJSON(it.Raw))
	}
	o, err := decodeItem(env, it.Raw)
	if err != nil {
		return err
	}
	start, end, src, srcObject, err := o.span(env)
	if err != nil {
		return err
	}
	// Text as sent; a number (HealthKit's raw classification) is kept as
	// written rather than refusing the recording.
	class, severity := o.jsonScalar("classification"), o.jsonScalar("severity")
	avgHR, err := o.optNum("averageHeartRate")
	if err != nil {
		return err
	}
	hz, err := o.optNum("samplingFrequency")
	if err != nil {
		return err
	}
	var samples [][]byte
	if raw, ok := o.get("voltageMeasurements"); ok && !isNull(raw) {
		if samples, err = hae.Array(raw, nil); err != nil {
			return reasonf("voltageMeasurements: must be an array of samples")
		}
	}
	volts := make([]float64, len(samples))
	offsets := make([]*float64, len(samples))
	var units string
	for i, raw := range samples {
		m, err := decodeObject(raw)
		if err != nil {
			return reasonf("voltageMeasurements/%d: %v", i, err)
		}
		v, ok, err := m.num("voltage")
		if err != nil || !ok {
			return reasonf("voltageMeasurements/%d: a sample needs a numeric voltage", i)
		}
		volts[i] = v
		if i == 0 {
			units, _, _ = m.str("units")
		}
		// A sample time that does not parse leaves its offset NULL; the
		// voltage and the sampling frequency still place it. App 9.x sends
		// epoch numbers here while the recording's start is a string: both
		// are instants, so the offset is their difference either way.
		if at, ok := m.optTime("date"); ok {
			ms := float64(at.Instant.Sub(start.Instant).Microseconds()) / 1000
			offsets[i] = &ms
		}
	}
	details, err := o.rest(sourceDetails(ecgFields(), srcObject)...)
	if err != nil {
		return err
	}
	if !env.Validating {
		s.Row(t, int64(it.Ordinal), start.Instant, src, instant(end), class,
			canonical(s, v, FieldECGClassification, class), severity,
			avgHR.value(), hz.value(), nullable(units), volts, offsets, details, offset(start))
	}
	return nil
}

// nullable stores "" as NULL for descriptive columns.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// jsonScalar renders a member as text: strings as themselves, numbers and
// booleans as written, null and absent as NULL.
func (o object) jsonScalar(key string) any {
	raw, ok := o.get(key)
	if !ok || isNull(raw) {
		return nil
	}
	if s, ok, err := o.str(key); err == nil && ok {
		return s
	}
	return string(bytes.TrimSpace(raw))
}
