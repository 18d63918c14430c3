package kind

import (
	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/pgstore"
)

func bloodPressure() *Kind {
	t := dataTable("blood_pressure_metrics", "recorded_at",
		[]string{"recorded_at", "source"},
		[]string{"systolic", "diastolic", "recorded_offset_min"})
	return &Kind{
		Name:    "blood_pressure",
		Tables:  []*pgstore.Table{t},
		Metrics: []string{"blood_pressure"},
		Tagged:  []string{"BloodPressure"},
		decode: func(env *Env, it *hae.Item, s Sink) {
			o, err := decodeItem(env, it.Raw)
			if err == nil {
				err = decodeBloodPressure(env, it, o, s, t)
			}
			if err != nil {
				s.Reject(it.Pointer(), rejectReason(err), it.Raw)
			}
		},
	}
}

func decodeBloodPressure(env *Env, it *hae.Item, o object, s Sink, t *pgstore.Table) error {
	dateKey := "date"
	if it.Tagged {
		dateKey = "recorded_at"
	}
	sys, err := o.optNum("systolic")
	if err != nil {
		return err
	}
	dia, err := o.optNum("diastolic")
	if err != nil {
		return err
	}
	if !sys.ok || !dia.ok {
		return reasonf("blood pressure needs both systolic and diastolic")
	}
	if err := between("systolic", sys, 40, 250); err != nil {
		return err
	}
	if err := between("diastolic", dia, 30, 150); err != nil {
		return err
	}
	at, err := o.when(env, dateKey)
	if err != nil {
		return err
	}
	src, _, err := o.source(env, "source")
	if err != nil {
		return err
	}
	if !env.Validating {
		s.Row(t, int64(it.Ordinal), at.Instant, src, sys.v, dia.v, offset(at))
	}
	return nil
}
