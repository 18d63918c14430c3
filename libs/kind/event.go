package kind

import (
	"strings"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/pgstore"
)

// eventArray says how one of data's event arrays maps to health_events:
// which member is the event's key, name and value, and which vocabulary
// gives the canonical name and value of localised text.
type eventArray struct {
	kind                  string
	keyField, name, value string // "" = none
	keyRequired           bool
	nameField, valueField string // vocabulary fields; "" = none
	// keyCanonical keys the event on its canonical name when there is one,
	// so a phone whose language changes does not store a resent symptom
	// twice ("Headache" and "Dolor de cabeza").
	keyCanonical bool
}

func eventArrays() map[string]eventArray {
	return map[string]eventArray{
		"symptoms": {kind: "symptom", keyField: "name", name: "name", value: "severity", keyRequired: true,
			nameField: FieldSymptomName, valueField: FieldSymptomSeverity, keyCanonical: true},
		"stateOfMind": {kind: "state_of_mind", keyField: "id", name: "kind", value: "valenceClassification",
			valueField: FieldValence},
		"medications": {kind: "medication", keyField: "displayText", name: "displayText", value: "status", keyRequired: true,
			valueField: FieldMedicationStatus},
		"cycleTracking": {kind: "cycle_tracking", keyField: "name", name: "name", value: "value", keyRequired: true},
		// Heart-rate notifications come in two shapes (see decodeNotification).
		"heartRateNotifications": {kind: "heart_rate_notification", keyField: "heartNotification", name: "heartNotification",
			value: "threshold", nameField: FieldHeartNotification},
		// The Health app's other category samples (audio exposure events,
		// low cardio fitness, ...), keyed on their type in snake case.
		CategoryEvents: {kind: "category", keyField: "type", name: "type", value: "value", keyRequired: true},
	}
}

// CategoryEvents is the source of the importer's category samples that no
// other event array names.
const CategoryEvents = "categories"

// EventKinds are the kinds of health_events, in a fixed order.
func EventKinds() []string {
	return []string{"symptom", "state_of_mind", "medication", "cycle_tracking", "heart_rate_notification", "category"}
}

func event(v *Vocabulary) *Kind {
	t := dataTable("health_events", "", []string{"kind", "started_at", "event_key"},
		[]string{"ended_at", "name", "value", "name_canonical", "value_canonical", "source", "details", "recorded_offset_min"})
	arrays := eventArrays()
	return &Kind{
		Name:   "event",
		Tables: []*pgstore.Table{t},
		Arrays: []string{"symptoms", "stateOfMind", "medications", "cycleTracking", "heartRateNotifications"},
		// Not CategoryEvents: an upload's data has no such array, only the
		// importer of the Health app's export makes those items.
		decode: func(env *Env, it *hae.Item, s Sink) {
			if err := decodeEvent(env, it, arrays, v, s, t); err != nil {
				s.Reject(it.Pointer(), rejectReason(err), it.Raw)
			}
		},
	}
}

func decodeEvent(env *Env, it *hae.Item, arrays map[string]eventArray, v *Vocabulary, s Sink, t *pgstore.Table) error {
	if it.Key != "" {
		return reasonf("%s: must be an array, got %s", it.Key, describeJSON(it.Raw))
	}
	a, ok := arrays[it.Source]
	if !ok {
		return reasonf("%s is not an event array", it.Source)
	}
	o, err := decodeItem(env, it.Raw)
	if err != nil {
		return err
	}
	var (
		start     hae.Time
		end       *hae.Time
		src       string
		srcObject bool
	)
	if a.kind == "heart_rate_notification" && !o.has("start") {
		start, end, src, srcObject, err = notificationSpan(env, o)
	} else {
		start, end, src, srcObject, err = o.span(env)
	}
	if err != nil {
		return err
	}
	key := ""
	if a.keyField != "" {
		k, ok, err := o.str(a.keyField)
		if err != nil {
			return err
		}
		if a.keyRequired && (!ok || strings.TrimSpace(k) == "") {
			return reasonf("%s: missing: a %s entry needs it", a.keyField, strings.ReplaceAll(a.kind, "_", " "))
		}
		key = k
	}
	var name, value any
	if a.name != "" {
		name = o.jsonScalar(a.name)
	}
	if a.value != "" {
		value = o.jsonScalar(a.value)
	}
	details, err := o.rest(sourceDetails([]string{"start", "end", "source", a.keyField, a.name, a.value}, srcObject)...)
	if err != nil {
		return err
	}
	nameCanon := canonical(s, v, a.nameField, name)
	if c, ok := nameCanon.(string); ok && a.keyCanonical {
		key = c
	}
	if !env.Validating {
		s.Row(t, int64(it.Ordinal), a.kind, start.Instant, key, instant(end), name, value,
			nameCanon, canonical(s, v, a.valueField, value), src, details, offset(start))
	}
	return nil
}

// notificationSpan places a heart-rate notification sent without "start":
// from its series (heartRateData dates, or the documented heartRate's
// timestamp.start), the earliest sample is the start and the latest the
// end. A notification with no dated sample is rejected as missing its
// start.
func notificationSpan(env *Env, o object) (start hae.Time, end *hae.Time, src string, srcObject bool, err error) {
	var first, last *hae.Time
	see := func(t hae.Time) {
		if first == nil || t.Instant.Before(first.Instant) {
			first = &t
		}
		if last == nil || t.Instant.After(last.Instant) {
			last = &t
		}
	}
	for _, series := range [...]struct{ key, date string }{{"heartRateData", "date"}, {"heartRate", "timestamp"}} {
		raw, ok := o.get(series.key)
		if !ok || len(raw) == 0 || raw[0] != '[' {
			continue
		}
		samples, aerr := hae.Array(raw, nil)
		if aerr != nil {
			continue
		}
		for _, sample := range samples {
			m, derr := decodeObject(sample)
			if derr != nil {
				continue
			}
			if series.date == "timestamp" {
				// {timestamp: {start, end}}
				if tsRaw, ok := m.get("timestamp"); ok && len(tsRaw) > 0 && tsRaw[0] == '{' {
					if ts, derr := decodeObject(tsRaw); derr == nil {
						if t, ok := ts.optTime("start"); ok {
							see(t)
						}
						if t, ok := ts.optTime("end"); ok {
							see(t)
						}
					}
				}
				continue
			}
			if t, ok := m.optTime(series.date); ok {
				see(t)
			}
		}
	}
	if first == nil {
		return start, nil, "", false, reasonf("start: missing (and no dated sample to take it from)")
	}
	if err = inWindow(env, "start", first.Instant); err != nil {
		return
	}
	if end, err = o.strictOptTime("end"); err != nil {
		return
	}
	if end == nil && last.Instant.After(first.Instant) {
		end = last
	}
	src, srcObject, err = o.source(env, "source")
	return *first, end, src, srcObject, err
}

// canonical is the canonical value of a localised text in field (nil when
// there is no text, no vocabulary, or the vocabulary does not know it;
// the last is counted).
func canonical(s Sink, v *Vocabulary, field string, text any) any {
	str, ok := text.(string)
	if field == "" || !ok || strings.TrimSpace(str) == "" {
		return nil
	}
	if c := v.Canonical(field, str); c != "" {
		return c
	}
	if u, ok := s.(UnknownTermSink); ok {
		u.UnknownTerm(field)
	}
	return nil
}
