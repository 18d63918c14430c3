package kind

import (
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/pgstore"
)

// sleep takes sleep_analysis points in their four shapes: unaggregated
// segments (with startDate) and the three aggregated session shapes.
func sleep() *Kind {
	segments := dataTable("sleep_segments", "started_at",
		[]string{"started_at", "ended_at", "stage", "source"},
		[]string{"qty_hours", "recorded_offset_min"})
	sessions := dataTable("sleep_sessions", "",
		[]string{"source", "started_at"},
		[]string{"sleep_date", "total_sleep_hours", "asleep_hours", "core_hours", "deep_hours", "rem_hours",
			"awake_hours", "in_bed_hours", "sleep_start", "sleep_end", "in_bed_start", "in_bed_end", "details", "recorded_offset_min"})
	return &Kind{
		Name:    "sleep",
		Tables:  []*pgstore.Table{segments, sessions},
		Metrics: []string{"sleep_analysis"},
		Summary: newNights(segments, sessions),
		decode: func(env *Env, it *hae.Item, s Sink) {
			o, err := decodeItem(env, it.Raw)
			if err == nil {
				if o.has("startDate") {
					err = decodeSleepSegment(env, it, o, s, segments)
				} else {
					err = decodeSleepSession(env, it, o, s, sessions)
				}
			}
			if err != nil {
				s.Reject(it.Pointer(), rejectReason(err), it.Raw)
			}
		},
	}
}

func decodeSleepSegment(env *Env, it *hae.Item, o object, s Sink, t *pgstore.Table) error {
	start, err := o.when(env, "startDate")
	if err != nil {
		return err
	}
	end, err := o.when(env, "endDate")
	if err != nil {
		return err
	}
	if end.Instant.Before(start.Instant) {
		return reasonf("endDate is before startDate")
	}
	value, ok, err := o.str("value")
	if err != nil {
		return err
	}
	stage := strings.ReplaceAll(value, " ", "")
	if !ok || stage == "" {
		return reasonf("value: missing: a sleep segment needs its stage (Core, Deep, REM, Awake, Asleep, InBed)")
	}
	hours, err := o.optNum("qty")
	if err != nil {
		return err
	}
	src, _, err := o.source(env, "source")
	if err != nil {
		return err
	}
	if !env.Validating {
		s.Row(t, int64(it.Ordinal), start.Instant, end.Instant, stage, src, hours.value(), offset(start))
	}
	return nil
}

// sleepSessionFields are the members mapped to columns; the rest is kept
// in details.
func sleepSessionFields() []string {
	return []string{"date", "source", "totalSleep", "asleep", "core", "deep", "rem", "awake", "inBed",
		"sleepStart", "sleepEnd", "inBedStart", "inBedEnd"}
}

func decodeSleepSession(env *Env, it *hae.Item, o object, s Sink, t *pgstore.Table) error {
	// sleep_date is the calendar date written in "date" (in its own offset),
	// else that of sleepEnd; naps make several sessions a day.
	var (
		day      time.Time
		dateTime *hae.Time
	)
	dateStr, _, _ := o.str("date")
	sleepEnd, hasEnd := o.optTime("sleepEnd")
	if d, err := hae.ParseDateOrTime(dateStr); err == nil {
		day = time.Date(d.Year, time.Month(d.Month), d.Day, 0, 0, 0, 0, time.UTC)
		if !d.DateOnly {
			dateTime = &d
		}
	} else if hasEnd {
		day = time.Date(sleepEnd.Year, time.Month(sleepEnd.Month), sleepEnd.Day, 0, 0, 0, 0, time.UTC)
	} else {
		return reasonf("a sleep session needs a date or a sleepEnd")
	}
	// started_at: sleepStart, else inBedStart, else date as a timestamp,
	// else midnight UTC of the sleep date.
	start, ok := o.optTime("sleepStart")
	if !ok {
		start, ok = o.optTime("inBedStart")
	}
	if !ok && dateTime != nil {
		start, ok = *dateTime, true
	}
	if !ok {
		start = hae.Time{Instant: day}
	}
	if err := inWindow(env, "started_at", start.Instant); err != nil {
		return err
	}
	src, srcObject, err := o.source(env, "source")
	if err != nil {
		return err
	}
	if src == "" {
		if src, _, err = o.source(env, "sleepSource"); err != nil {
			return err
		}
	}
	hours := make([]any, 0, 7)
	for _, k := range []string{"totalSleep", "asleep", "core", "deep", "rem", "awake", "inBed"} {
		v, err := o.optNum(k)
		if err != nil {
			return err
		}
		hours = append(hours, v.value())
	}
	times := make([]any, 0, 4)
	for _, k := range []string{"sleepStart", "sleepEnd", "inBedStart", "inBedEnd"} {
		if v, ok := o.optTime(k); ok {
			times = append(times, v.Instant)
		} else {
			times = append(times, nil)
		}
	}
	details, err := o.rest(sourceDetails(sleepSessionFields(), srcObject)...)
	if err != nil {
		return err
	}
	values := []any{src, start.Instant, pgtype.Date{Time: day, Valid: true}}
	values = append(values, hours...)
	values = append(values, times...)
	values = append(values, details, offset(start))
	if !env.Validating {
		s.Row(t, int64(it.Ordinal), values...)
	}
	return nil
}
