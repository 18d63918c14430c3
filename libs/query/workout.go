package query

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/healthexport/libs/hae"
)

// routePoint is a row of workout_route_points.
type routePoint struct {
	at                                                time.Time
	lat, lon                                          float64
	alt, speed, course, courseAcc, hAcc, vAcc, spdAcc *float64
	off                                               *int16
}

// The workout's own lists: its samples (by series, then time) and its
// route (by time), each read a page at a time.
var (
	sampleList = newList("samples", "workout_samples", []string{"series", "recorded_at", "qty", "min", "avg", "max", "units", "source"},
		textKey("series"), timeKey("recorded_at"))
	routeList = newList("route", "workout_route_points", []string{"recorded_at", "latitude", "longitude", "altitude_m", "speed_mps",
		"course", "course_accuracy", "horizontal_accuracy", "vertical_accuracy", "speed_accuracy"}, timeKey("recorded_at"))
)

// MaxGPXPoints bounds a GPX route (about 12 MB of XML): a day at one point
// a second fits; a longer one is read in pages from Workout.
const MaxGPXPoints = 100_000

// ErrRouteTooLong is a route over MaxGPXPoints asked for as GPX.
var ErrRouteTooLong = fmt.Errorf("the route has more than %d points: read it in pages from /v1/workouts/{key}", MaxGPXPoints)

// Workout reads one workout: its summary (the columns of the workout list),
// "samples" (every series, by name, each a list of points in time order) and
// "route" (a GeoJSON Feature: a LineString of [lon, lat, alt], a Point for a
// single point, null for none; the times and the other measurements of
// each position are properties in the same order), and "next". Samples and
// route points come p.Limit of each at a time: a next page (p.Cursor = the
// previous page's next) has the same summary and the following samples and
// points, to be appended by series and in order; next is "" after the last.
// One snapshot per page.
func (s *Store) Workout(ctx context.Context, uid uuid.UUID, key string, p Page) ([]byte, error) {
	cur, err := decodeCursor(p.Cursor, sampleList, routeList)
	if err != nil {
		return nil, err
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("read workout: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	sum, _, err := page(ctx, tx, workoutList, uid, []cond{{col: "workout_key", val: key}}, Range{}, 1, nil)
	if err != nil {
		return nil, err
	}
	if sum.Count == 0 {
		return nil, ErrNotFound
	}
	obj := sum.Items[1 : len(sum.Items)-2] // {...} without its closing brace
	b := append([]byte(nil), obj...)
	b = append(b, `,"samples":`...)
	b, samplesNext, err := appendSamples(ctx, tx, b, uid, key, p.Limit, cur["samples"])
	if err != nil {
		return nil, err
	}
	pts, routeNext, err := readRoute(ctx, tx, uid, key, p.Limit, cur["route"])
	if err != nil {
		return nil, err
	}
	b = append(b, `,"route":`...)
	b = appendGeoJSON(b, key, pts)
	b = append(b, `,"next":`...)
	if samplesNext.Done && routeNext.Done {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendQuote(b, cursor{"samples": samplesNext, "route": routeNext}.encode()) // base64url
	}
	return append(b, '}'), tx.Commit(ctx)
}

// appendSamples writes {"series": [{recorded_at, qty, ...}], ...}, at most
// limit samples after pos.
func appendSamples(ctx context.Context, q querier, b []byte, uid uuid.UUID, key string, limit int, pos *position) ([]byte, *position, error) {
	b = append(b, '{')
	current, n := "", 0
	next, err := scan(ctx, q, sampleList, uid, []cond{{col: "workout_key", val: key}}, Range{}, limit, pos, func(vals []any, off *int16) bool {
		series, _ := vals[0].(string)
		switch {
		case n == 0:
			b = hae.AppendString(b, series)
			b = append(b, ":["...)
		case series != current:
			b = append(b, "],"...)
			b = hae.AppendString(b, series)
			b = append(b, ":["...)
		default:
			b = append(b, ',')
		}
		current = series
		n++
		b = appendObject(b, sampleList.cols[1:], vals[1:], off)
		return false
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read workout samples: %w", err)
	}
	if n > 0 {
		b = append(b, ']')
	}
	return append(b, '}'), next, nil
}

// readRoute reads at most limit route points after pos.
func readRoute(ctx context.Context, q querier, uid uuid.UUID, key string, limit int, pos *position) ([]routePoint, *position, error) {
	var pts []routePoint
	next, err := scan(ctx, q, routeList, uid, []cond{{col: "workout_key", val: key}}, Range{}, limit, pos, func(vals []any, off *int16) bool {
		p := routePoint{off: off}
		p.at, _ = vals[0].(time.Time)
		p.lat, _ = vals[1].(float64)
		p.lon, _ = vals[2].(float64)
		for i, dst := range []**float64{&p.alt, &p.speed, &p.course, &p.courseAcc, &p.hAcc, &p.vAcc, &p.spdAcc} {
			if f, ok := vals[3+i].(float64); ok {
				*dst = &f
			}
		}
		pts = append(pts, p)
		return false
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read route: %w", err)
	}
	return pts, next, nil
}

func appendOptFloat(b []byte, f *float64) []byte {
	if f == nil {
		return append(b, "null"...)
	}
	return appendFloat(b, *f)
}

// appendGeoJSON writes the route as a GeoJSON Feature (RFC 7946).
func appendGeoJSON(b []byte, key string, pts []routePoint) []byte {
	if len(pts) == 0 {
		return append(b, "null"...)
	}
	b = append(b, `{"type":"Feature","geometry":{"type":`...)
	if len(pts) == 1 {
		b = append(b, `"Point","coordinates":`...)
		b = appendPosition(b, pts[0])
	} else {
		b = append(b, `"LineString","coordinates":[`...)
		for i, p := range pts {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendPosition(b, p)
		}
		b = append(b, ']')
	}
	b = append(b, `},"properties":{"workout_key":`...)
	b = hae.AppendString(b, key)
	b = append(b, `,"coordTimes":[`...)
	for i, p := range pts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = appendTime(b, p.at, p.off)
		b = append(b, '"')
	}
	b = append(b, ']')
	for _, prop := range []struct {
		name string
		get  func(routePoint) *float64
	}{
		{"speed_mps", func(p routePoint) *float64 { return p.speed }},
		{"course", func(p routePoint) *float64 { return p.course }},
		{"course_accuracy", func(p routePoint) *float64 { return p.courseAcc }},
		{"horizontal_accuracy", func(p routePoint) *float64 { return p.hAcc }},
		{"vertical_accuracy", func(p routePoint) *float64 { return p.vAcc }},
		{"speed_accuracy", func(p routePoint) *float64 { return p.spdAcc }},
	} {
		b = append(b, ',')
		b = hae.AppendString(b, prop.name)
		b = append(b, ":["...)
		for i, p := range pts {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendOptFloat(b, prop.get(p))
		}
		b = append(b, ']')
	}
	return append(b, "}}"...)
}

// appendPosition writes [lon, lat] or [lon, lat, altitude].
func appendPosition(b []byte, p routePoint) []byte {
	b = append(b, '[')
	b = appendFloat(b, p.lon)
	b = append(b, ',')
	b = appendFloat(b, p.lat)
	if p.alt != nil {
		b = append(b, ',')
		b = appendFloat(b, *p.alt)
	}
	return append(b, ']')
}

// RouteGPX renders a workout's route as GPX 1.1: one track, one segment,
// a trkpt per point with its elevation and time (in its recorded offset).
// A workout without route points is ErrNoRoute.
func (s *Store) RouteGPX(ctx context.Context, uid uuid.UUID, key string) ([]byte, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("read workout: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	var (
		name  string
		start time.Time
		off   *int16
	)
	err = tx.QueryRow(ctx, `SELECT name, started_at, recorded_offset_min FROM workouts WHERE user_id = $1 AND workout_key = $2`,
		uid, key).Scan(&name, &start, &off)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read workout: %w", err)
	}
	pts, next, err := readRoute(ctx, tx, uid, key, MaxGPXPoints, nil)
	if err != nil {
		return nil, err
	}
	if len(pts) == 0 {
		return nil, ErrNoRoute
	}
	if !next.Done {
		return nil, ErrRouteTooLong
	}
	return appendGPX(nil, name, start, off, pts), tx.Commit(ctx)
}

func appendGPX(b []byte, name string, start time.Time, off *int16, pts []routePoint) []byte {
	var esc bytes.Buffer
	_ = xml.EscapeText(&esc, []byte(name)) // writes to a buffer: cannot fail
	b = append(b, `<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="Health Export" xmlns="http://www.topografix.com/GPX/1/1" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://www.topografix.com/GPX/1/1 http://www.topografix.com/GPX/1/1/gpx.xsd">
<metadata><name>`...)
	b = append(b, esc.Bytes()...)
	b = append(b, "</name><time>"...)
	b = appendTime(b, start, off)
	b = append(b, "</time></metadata>\n<trk><name>"...)
	b = append(b, esc.Bytes()...)
	b = append(b, "</name><trkseg>\n"...)
	for _, p := range pts {
		b = append(b, `<trkpt lat="`...)
		b = strconv.AppendFloat(b, p.lat, 'f', -1, 64)
		b = append(b, `" lon="`...)
		b = strconv.AppendFloat(b, p.lon, 'f', -1, 64)
		b = append(b, `">`...)
		if p.alt != nil {
			b = append(b, "<ele>"...)
			b = strconv.AppendFloat(b, *p.alt, 'f', -1, 64)
			b = append(b, "</ele>"...)
		}
		b = append(b, "<time>"...)
		b = appendTime(b, p.at, p.off)
		b = append(b, "</time></trkpt>\n"...)
	}
	return append(b, "</trkseg></trk>\n</gpx>\n"...)
}
