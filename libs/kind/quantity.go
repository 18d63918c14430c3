package kind

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/pgstore"
)

// quantity is the catch-all: every metric no other kind claims, stored by
// canonical name when it has a numeric qty, rejected otherwise.
func quantity(aliases map[string]string) *Kind {
	t := dataTable("quantity_metrics", "recorded_at",
		[]string{"metric", "recorded_at", "source"},
		[]string{"qty", "units", "extra", "recorded_offset_min"})
	return &Kind{
		Name:     "quantity",
		Tables:   []*pgstore.Table{t},
		CatchAll: true,
		Summary: newSamples(Samples{Table: t, MetricColumn: "metric", Time: "recorded_at", Offset: "recorded_offset_min",
			Value: "qty", Units: "units", Extra: "extra", EndKey: "endDate"}),
		decode: func(env *Env, it *hae.Item, s Sink) {
			if err := decodeQuantity(env, it, aliases, s, t); err != nil {
				s.Reject(it.Pointer(), rejectReason(err), it.Raw)
			}
		},
	}
}

// quantityRanges are the metrics with bounds tighter than "finite and ≥ 0".
func quantityRange(metric string) (lo, hi float64, ok bool) {
	switch metric {
	case "resting_heart_rate", "walking_heart_rate_average":
		return 20, 300, true
	case "blood_oxygen_saturation":
		return 0, 100, true
	}
	return 0, 0, false
}

// sexualActivityCounts are summed into qty: the metric has no qty of its own.
var sexualActivityCounts = [...]string{"Unspecified", "Protection Used", "Protection Not Used"}

func decodeQuantity(env *Env, it *hae.Item, aliases map[string]string, s Sink, t *pgstore.Table) error {
	switch {
	case it.Key != "":
		// data.metrics, or a metric element's data, is not an array (the
		// pointer says which).
		return reasonf("%s: must be an array, got %s", it.Key, describeJSON(bytes.TrimSpace(it.Raw)))
	case it.Tagged:
		var head struct {
			Type any `json:"type"`
		}
		_ = json.Unmarshal(it.Raw, &head)
		return reasonf("unknown type %v: expected HeartRate, BloodPressure or Workout", jsonText(head.Type))
	case it.Array == "/data/metrics":
		// A metrics[] element that is not an object (an object's items
		// are its data points, in <element>/data).
		return reasonf("expected a metric object with a name and data, got %s", describeJSON(bytes.TrimSpace(it.Raw)))
	case !it.HasName || strings.TrimSpace(it.Name) == "":
		return reasonf("the metric at %s has no name", strings.TrimSuffix(it.Array, "/data"))
	}
	metric := canonicalMetric(aliases, it.Name)
	o, err := decodeItem(env, it.Raw)
	if err != nil {
		return err
	}
	at, err := o.when(env, "date")
	if err != nil {
		return err
	}
	src, srcObject, err := o.source(env, "source")
	if err != nil {
		return err
	}
	extraSkip := sourceDetails([]string{"date", "source"}, srcObject)
	var qty float64
	if metric == "sexual_activity" {
		var n int
		for _, k := range sexualActivityCounts {
			// Only numeric counts are summed (docs/data-rules.md); another
			// value is left out (and kept in extra).
			if raw, _ := o.get(k); !isNull(raw) && describeJSON(bytes.TrimSpace(raw)) != "a number" {
				continue
			}
			v, ok, err := o.num(k)
			if err != nil {
				return err
			}
			if ok {
				qty += v
				n++
			}
		}
		if n == 0 {
			return reasonf("sexual_activity needs a numeric Unspecified, Protection Used or Protection Not Used count")
		}
	} else {
		v, ok, err := o.num("qty")
		if err != nil {
			return err
		}
		if ok {
			extraSkip = append(extraSkip, "qty")
		} else {
			// A per-sample metric the app sends as Min/Avg/Max (new ones
			// arrive with app and iOS versions) is stored without a code
			// change: qty is its average, the three stay in extra.
			avg, aerr := o.firstNum("Avg", "avg")
			if aerr != nil {
				return aerr
			}
			if !avg.ok {
				return reasonf("qty: missing: a %s point needs a numeric qty", metric)
			}
			v = avg.v
		}
		qty = v
	}
	if lo, hi, ok := quantityRange(metric); ok {
		if err := between("qty", some(qty), lo, hi); err != nil {
			return err
		}
	} else if qty < 0 {
		return reasonf("qty: must be ≥ 0, got %g", qty)
	}
	extraJSON, err := o.rest(extraSkip...)
	if err != nil {
		return err
	}
	if !env.Validating {
		s.Row(t, int64(it.Ordinal), metric, at.Instant, src, qty, it.Units, extraJSON, offset(at))
	}
	return nil
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
