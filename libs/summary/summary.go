// Package summary keeps the daily summaries (daily_summaries): per user,
// metric and local day a total (cumulative metrics, each moment counted
// once across sources), min/avg/max/count (discrete metrics) or, for sleep,
// a night's hours per stage from one source. The metric-writer refreshes
// the days a batch touched in the batch's own transaction; refreshes of
// whole users (a priority change, the first start after the migration, a
// rebuild) run in the background. Every refresh locks the summary rows it
// recomputes before the statement that recomputes them, so concurrent
// writers of the same day serialise and the last one sees every committed
// row. The rules are in docs/summaries.md.
package summary

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/pgstore"
)

// DefaultPriority is the source priority of a user who has not set one:
// fragments of source names, best first. "Apple Watch de Ana", "Ana’s
// Apple Watch" and "Ana’s Apple Watch|Oura" are Watches; "iPhone de Ana"
// an iPhone; every other source comes after both.
var DefaultPriority = []string{"watch", "iphone"}

// Key is one summary: a user's metric on a local day.
type Key struct {
	User   [16]byte
	Metric string
	Day    kind.Day
}

// Keys is a set of summaries to refresh.
type Keys map[Key]struct{}

// Add puts a key in the set.
func (ks Keys) Add(user [16]byte, metric string, day kind.Day) {
	ks[Key{User: user, Metric: metric, Day: day}] = struct{}{}
}

// sorted lists the keys by user, metric and day.
func (ks Keys) sorted() []Key {
	out := slices.Collect(maps.Keys(ks))
	slices.SortFunc(out, func(a, b Key) int {
		return cmp.Or(slices.Compare(a.User[:], b.User[:]), cmp.Compare(a.Metric, b.Metric), cmp.Compare(a.Day, b.Day))
	})
	return out
}

// summariser is one kind's summary and its statement.
type summariser struct {
	kind *kind.Kind
	sql  string
}

// Maintainer refreshes summaries.
type Maintainer struct {
	byMetric   map[string]*summariser // the kinds of one metric (heart rate, sleep)
	byColumn   *summariser            // the kind whose rows name their metric (quantity)
	byKind     map[string]*summariser
	cumulative []string
	priority   []string
}

// New prepares the statements of every kind with a summary.
func New(reg *kind.Registry) *Maintainer {
	m := &Maintainer{byMetric: map[string]*summariser{}, byKind: map[string]*summariser{},
		cumulative: reg.CumulativeMetrics(), priority: DefaultPriority}
	for _, k := range reg.Kinds() {
		s := k.Summary
		if s == nil {
			continue
		}
		sm := &summariser{kind: k}
		switch {
		case s.Nights != nil:
			sm.sql = nightsSQL(s.Nights)
			m.byMetric[kind.SleepMetric] = sm
		case s.Samples.Metric != "":
			sm.sql = samplesSQL(s.Samples)
			m.byMetric[s.Samples.Metric] = sm
		default:
			sm.sql = samplesSQL(s.Samples)
			m.byColumn = sm
		}
		m.byKind[k.Name] = sm
	}
	return m
}

func (m *Maintainer) of(metric string) *summariser {
	if s, ok := m.byMetric[metric]; ok {
		return s
	}
	return m.byColumn
}

// Collect adds the summary a row of table t (laid out as kind.FullRow
// lays it, user first) counts in.
func Collect(k *kind.Kind, t *pgstore.Table, row []any, into Keys) {
	if k.Summary == nil {
		return
	}
	metric, day, ok := k.Summary.RowDay(t, row)
	if !ok {
		return
	}
	if u, ok := row[0].(pgtype.UUID); ok {
		into.Add(u.Bytes, metric, day)
	}
}

// Refresh recomputes keys within tx (READ COMMITTED). It first makes the
// summary rows that do not exist yet and locks them, in key order, in
// statements of their own; with neighbours it also locks and recomputes
// the existing rows of the day before and after each key (a point sent
// again in another offset leaves the local day it was on). Only then, in a
// statement that starts after every lock is held and so sees every row
// committed by whoever held them, it recomputes.
func (m *Maintainer) Refresh(ctx context.Context, tx pgx.Tx, keys Keys, neighbours bool) error {
	locked, err := m.lock(ctx, tx, keys, neighbours)
	if err != nil {
		return err
	}
	return m.recompute(ctx, tx, locked)
}

// lock makes the keys' summary rows that do not exist yet and locks them
// (with neighbours, the existing days on either side too), in key order,
// so that writers of the same days queue rather than deadlock. It returns
// the locked keys by the statement that recomputes them.
func (m *Maintainer) lock(ctx context.Context, tx pgx.Tx, keys Keys, neighbours bool) (map[*summariser]Keys, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	users, metrics, days := arrays(keys.sorted())
	around := 0
	if neighbours {
		around = 1
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO daily_summaries (user_id, metric, day)
		SELECT DISTINCT * FROM unnest($1::uuid[], $2::text[], $3::date[]) ORDER BY 1, 2, 3
		ON CONFLICT DO NOTHING`, users, metrics, days)
	b.Queue(`SELECT d.user_id, d.metric, d.day FROM daily_summaries d
		WHERE (d.user_id, d.metric, d.day) IN (
		  SELECT k.user_id, k.metric, k.day + o FROM unnest($1::uuid[], $2::text[], $3::date[]) AS k(user_id, metric, day),
		         generate_series(-$4::int, $4::int) AS o)
		ORDER BY d.user_id, d.metric, d.day FOR UPDATE OF d`, users, metrics, days, around)
	br := tx.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, fmt.Errorf("summaries: make rows: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, fmt.Errorf("summaries: lock: %w", err)
	}
	locked := map[*summariser]Keys{}
	var (
		u      pgtype.UUID
		metric string
		day    time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&u, &metric, &day}, func() error {
		s := m.of(metric)
		if s == nil {
			return nil
		}
		if locked[s] == nil {
			locked[s] = Keys{}
		}
		locked[s].Add(u.Bytes, metric, kind.DayOf(day))
		return nil
	})
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("summaries: lock: %w", err)
	}
	return locked, nil
}

// recompute recomputes locked keys from their rows.
func (m *Maintainer) recompute(ctx context.Context, tx pgx.Tx, locked map[*summariser]Keys) error {
	b := &pgx.Batch{}
	for s, ks := range locked {
		if len(ks) == 0 {
			continue
		}
		users, metrics, days := arrays(ks.sorted())
		b.Queue(s.sql, users, metrics, days, m.cumulative, m.priority)
	}
	if b.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("summaries: recompute: %w", err)
	}
	return nil
}

func arrays(keys []Key) ([]pgtype.UUID, []string, []time.Time) {
	users := make([]pgtype.UUID, len(keys))
	metrics := make([]string, len(keys))
	days := make([]time.Time, len(keys))
	for i, k := range keys {
		users[i] = pgtype.UUID{Bytes: k.User, Valid: true}
		metrics[i] = k.Metric
		days[i] = k.Day.Time()
	}
	return users, metrics, days
}

// DB is what a background refresh needs (a pool).
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// chunk is how many summaries a background refresh recomputes per
// transaction: a year of one metric, so locks are held briefly.
const chunk = 400

// Scope is what a background refresh of a user recomputes.
type Scope struct {
	// Kinds: every summary their rows make, and every stored summary of
	// their metrics (what a rebuild or the first start needs).
	Kinds []*kind.Kind
	// Priority: the stored summaries the source priority decides
	// (cumulative metrics and sleep).
	Priority bool
}

// RefreshUser recomputes a user's summaries in scope, a chunk of keys per
// transaction (each locked as Refresh locks them, so writers may go on).
func (m *Maintainer) RefreshUser(ctx context.Context, db DB, user uuid.UUID, scope Scope) error {
	keys, err := m.userKeys(ctx, db, user, scope)
	if err != nil {
		return err
	}
	sorted := keys.sorted()
	for len(sorted) > 0 {
		n := min(chunk, len(sorted))
		part := Keys{}
		for _, k := range sorted[:n] {
			part[k] = struct{}{}
		}
		sorted = sorted[n:]
		if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return m.Refresh(ctx, tx, part, false) }); err != nil {
			return err
		}
	}
	return nil
}

// userKeys lists the summaries in scope: found in the data, and stored.
func (m *Maintainer) userKeys(ctx context.Context, db DB, user uuid.UUID, scope Scope) (Keys, error) {
	keys := Keys{}
	add := func(sql string, args ...any) error {
		rows, err := db.Query(ctx, sql, args...)
		if err != nil {
			return fmt.Errorf("summaries of %s: %w", user, err)
		}
		var (
			metric string
			day    time.Time
		)
		_, err = pgx.ForEachRow(rows, []any{&metric, &day}, func() error {
			keys.Add(user, metric, kind.DayOf(day))
			return nil
		})
		if err != nil {
			return fmt.Errorf("summaries of %s: %w", user, err)
		}
		return nil
	}
	if scope.Priority {
		if err := add(`SELECT metric, day FROM daily_summaries WHERE user_id = $1 AND (metric = ANY($2) OR metric = $3)`,
			user, m.cumulative, kind.SleepMetric); err != nil {
			return nil, err
		}
	}
	for _, k := range scope.Kinds {
		s := m.byKind[k.Name]
		if s == nil {
			continue
		}
		for _, q := range dataKeysSQL(k.Summary) {
			if err := add(q, user); err != nil {
				return nil, err
			}
		}
		stored := `SELECT metric, day FROM daily_summaries WHERE user_id = $1 AND metric = ANY($2)`
		var metrics []string
		switch sm := k.Summary.Samples; {
		case k.Summary.Nights != nil:
			metrics = []string{kind.SleepMetric}
		case sm.Metric != "":
			metrics = []string{sm.Metric}
		default:
			stored = `SELECT metric, day FROM daily_summaries WHERE user_id = $1 AND NOT metric = ANY($2)`
			metrics = slices.Collect(maps.Keys(m.byMetric))
		}
		if err := add(stored, user, metrics); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// dataKeysSQL finds the (metric, local day)s a user's rows make.
func dataKeysSQL(s *kind.Summary) []string {
	if n := s.Nights; n != nil {
		return []string{
			fmt.Sprintf(`SELECT DISTINCT '%s', ((ended_at AT TIME ZONE 'UTC') + make_interval(mins => coalesce(recorded_offset_min, 0)::int)
				+ interval '%d seconds')::date FROM %s WHERE user_id = $1`,
				kind.SleepMetric, int(24*3600-kind.NightCutoff.Seconds()), ident(n.Segments.Name)),
			fmt.Sprintf(`SELECT DISTINCT '%s', sleep_date FROM %s WHERE user_id = $1`, kind.SleepMetric, ident(n.Sessions.Name)),
		}
	}
	sm := s.Samples
	metric := "'" + sm.Metric + "'"
	if sm.MetricColumn != "" {
		metric = ident(sm.MetricColumn)
	}
	return []string{fmt.Sprintf(`SELECT DISTINCT %s, ((%s AT TIME ZONE 'UTC') + make_interval(mins => coalesce(%s, 0)::int))::date
		FROM %s WHERE user_id = $1`, metric, ident(sm.Time), ident(sm.Offset), ident(sm.Table.Name))}
}
