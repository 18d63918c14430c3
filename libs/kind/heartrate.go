package kind

import (
	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/pgstore"
)

func heartRate() *Kind {
	t := dataTable("heart_rate_metrics", "recorded_at",
		[]string{"recorded_at", "source"},
		[]string{"min_bpm", "avg_bpm", "max_bpm", "recorded_offset_min"})
	return &Kind{
		Name:    "heart_rate",
		Tables:  []*pgstore.Table{t},
		Metrics: []string{"heart_rate"},
		Tagged:  []string{"HeartRate"},
		Summary: newSamples(Samples{Table: t, Metric: "heart_rate", Time: "recorded_at", Offset: "recorded_offset_min",
			Value: "avg_bpm", Min: "min_bpm", Max: "max_bpm", FixedUnits: "count/min"}),
		decode: func(env *Env, it *hae.Item, s Sink) {
			o, err := decodeItem(env, it.Raw)
			if err == nil {
				err = decodeHeartRate(env, it, o, s, t)
			}
			if err != nil {
				s.Reject(it.Pointer(), rejectReason(err), it.Raw)
			}
		},
	}
}

func decodeHeartRate(env *Env, it *hae.Item, o object, s Sink, t *pgstore.Table) error {
	var (
		dateKey, sourceKey = "date", "source"
		lo, avg, hi        optFloat
		err                error
	)
	if it.Tagged {
		dateKey = "recorded_at"
		if lo, err = o.optNum("min_bpm"); err != nil {
			return err
		}
		if avg, err = o.optNum("avg_bpm"); err != nil {
			return err
		}
		if hi, err = o.optNum("max_bpm"); err != nil {
			return err
		}
	} else {
		// Health Auto Export sends Min/Avg/Max (also for raw samples, where
		// all three are equal); some versions lower-case them; qty stands
		// for all three only when none of them is there.
		if lo, err = o.firstNum("Min", "min"); err != nil {
			return err
		}
		if avg, err = o.firstNum("Avg", "avg"); err != nil {
			return err
		}
		if hi, err = o.firstNum("Max", "max"); err != nil {
			return err
		}
		if !lo.ok && !avg.ok && !hi.ok {
			if lo, err = o.optNum("qty"); err != nil {
				return err
			}
			avg, hi = lo, lo
		}
	}
	if !lo.ok && !avg.ok && !hi.ok {
		if it.Tagged {
			return reasonf("no heart rate value: expected min_bpm, avg_bpm or max_bpm")
		}
		return reasonf("no heart rate value: expected Min, Avg, Max or qty")
	}
	if err := between("min_bpm", lo, 20, 300); err != nil {
		return err
	}
	if err := between("avg_bpm", avg, 20, 300); err != nil {
		return err
	}
	if err := between("max_bpm", hi, 20, 300); err != nil {
		return err
	}
	at, err := o.when(env, dateKey)
	if err != nil {
		return err
	}
	src, _, err := o.source(env, sourceKey)
	if err != nil {
		return err
	}
	if !env.Validating {
		s.Row(t, int64(it.Ordinal), at.Instant, src, lo.value(), avg.value(), hi.value(), offset(at))
	}
	return nil
}
