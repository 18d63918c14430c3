package kind

import (
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/pgstore"
)

// activitySummary is a day's Activity rings as the Health app closed them
// (its export's ActivitySummary): move, exercise and stand with their
// goals. Only imports bring them.
func activitySummary() *Kind {
	t := dataTable("activity_summaries", "", []string{"summary_date"},
		[]string{"active_energy", "active_energy_goal", "active_energy_units", "move_time_min", "move_time_goal_min",
			"exercise_time_min", "exercise_time_goal_min", "stand_hours", "stand_hours_goal", "details"})
	return &Kind{
		Name:   "activity_summary",
		Tables: []*pgstore.Table{t},
		decode: func(env *Env, it *hae.Item, s Sink) {
			if err := decodeActivitySummary(env, it, s, t); err != nil {
				s.Reject(it.Pointer(), rejectReason(err), it.Raw)
			}
		},
	}
}

// activityRings are an activity summary's members mapped to columns, in
// column order (the energy's units after its goal).
var activityRings = [...]string{"activeEnergyBurned", "activeEnergyBurnedGoal", "appleMoveTime", "appleMoveTimeGoal",
	"appleExerciseTime", "appleExerciseTimeGoal", "appleStandHours", "appleStandHoursGoal"}

func decodeActivitySummary(env *Env, it *hae.Item, s Sink, t *pgstore.Table) error {
	o, err := decodeItem(env, it.Raw)
	if err != nil {
		return err
	}
	date, ok, err := o.str("date")
	if err != nil {
		return err
	}
	if !ok {
		return reasonf("date: missing: an activity summary is one day's")
	}
	d, err := hae.ParseDateOrTime(date)
	if err != nil {
		return reasonf("date: %v", err)
	}
	day := time.Date(d.Year, time.Month(d.Month), d.Day, 0, 0, 0, 0, time.UTC)
	if err := inWindow(env, "date", day); err != nil {
		return err
	}
	values := []any{pgtype.Date{Time: day, Valid: true}}
	for i, k := range activityRings {
		v, err := o.optNum(k)
		if err != nil {
			return err
		}
		if v.ok && v.v < 0 {
			return reasonf("%s: must be ≥ 0, got %g", k, v.v)
		}
		values = append(values, v.value())
		if i == 1 {
			units, _, err := o.str("activeEnergyBurnedUnit")
			if err != nil {
				return err
			}
			values = append(values, nullable(units))
		}
	}
	details, err := o.rest(append(activityRings[:], "date", "activeEnergyBurnedUnit")...)
	if err != nil {
		return err
	}
	if !env.Validating {
		s.Row(t, int64(it.Ordinal), append(values, details)...)
	}
	return nil
}
