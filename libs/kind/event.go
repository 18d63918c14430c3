package kind

import (
	"strings"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/pgstore"
)

// eventArray says how one of data's event arrays maps to health_events:
// which member is the event's key, name and value.
type eventArray struct {
	kind                  string
	keyField, name, value string // "" = none
	keyRequired           bool
}

func eventArrays() map[string]eventArray {
	return map[string]eventArray{
		"symptoms":               {kind: "symptom", keyField: "name", name: "name", value: "severity", keyRequired: true},
		"stateOfMind":            {kind: "state_of_mind", keyField: "id", name: "kind", value: "valenceClassification"},
		"medications":            {kind: "medication", keyField: "displayText", name: "displayText", value: "status", keyRequired: true},
		"cycleTracking":          {kind: "cycle_tracking", keyField: "name", name: "name", value: "value", keyRequired: true},
		"heartRateNotifications": {kind: "heart_rate_notification"},
	}
}

func event() *Kind {
	t := dataTable("health_events", "", []string{"kind", "started_at", "event_key"},
		[]string{"ended_at", "name", "value", "source", "details", "recorded_offset_min"})
	arrays := eventArrays()
	return &Kind{
		Name:   "event",
		Tables: []*pgstore.Table{t},
		Arrays: []string{"symptoms", "stateOfMind", "medications", "cycleTracking", "heartRateNotifications"},
		decode: func(env *Env, it *hae.Item, s Sink) {
			if err := decodeEvent(env, it, arrays, s, t); err != nil {
				s.Reject(it.Pointer(), rejectReason(err), it.Raw)
			}
		},
	}
}

func decodeEvent(env *Env, it *hae.Item, arrays map[string]eventArray, s Sink, t *pgstore.Table) error {
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
	start, end, src, err := o.span(env)
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
	details, err := o.rest("start", "end", "source", a.keyField, a.name, a.value)
	if err != nil {
		return err
	}
	s.Row(t, int64(it.Ordinal), a.kind, start.Instant, key, instant(end), name, value, src, details, offset(start))
	return nil
}
