package chaos

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthexport/tools/proving/internal/fleet"
)

// tally is what the checker found in PostgreSQL against the ledger.
type tally struct {
	points        int // acknowledged points (distinct keys)
	lost          int // acknowledged points without their row
	unexpected    int // rows no device sent (or sent to be rejected), rejections of valid uploads
	wrongValue    int // a row with a value other than the last one sent
	archivedTwice int // a part in raw_ingestions more than once
	rejectedTwice int // an item in rejected_points more than once
	unknownLanded int // points of uploads never acknowledged that are stored
	archiveLost   int // parts or manifests of acknowledged uploads not archived
	rejectLost    int // poison items of acknowledged uploads not recorded as rejected
	idMismatch    int // 202s whose ingestion_id is not hex(sha256(user ‖ 0 ‖ body))
	rejections    int // distinct rejected items found, for the report
}

func (t tally) duplicates() int { return t.wrongValue + t.archivedTwice + t.rejectedTwice }

// sendRecord is one send of a key: its value and how its upload ended.
type sendRecord struct {
	value float64
	out   outcome
}

// expectations are, per key, the sends in the order the device made them.
func expectations(l *ledger) map[pointKey][]sendRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	ups := append([]*upload(nil), l.uploads...)
	sort.Slice(ups, func(i, j int) bool {
		if ups[i].device != ups[j].device {
			return ups[i].device < ups[j].device
		}
		return ups[i].seq < ups[j].seq
	})
	exp := map[pointKey][]sendRecord{}
	for _, u := range ups {
		for k, v := range u.points {
			exp[k] = append(exp[k], sendRecord{v, u.outcome})
		}
	}
	return exp
}

// allowed are the values a stored row may hold: the last acknowledged
// send's, or one of a later send whose outcome the device never learned.
func allowed(sends []sendRecord) (values []float64, wasAcked bool) {
	last := -1
	for i, s := range sends {
		if s.out == acked {
			last = i
		}
	}
	start := max(last, 0)
	for _, s := range sends[start:] {
		if s.out == acked || s.out == unknown {
			values = append(values, s.value)
		}
	}
	return values, last >= 0
}

type storedRow struct {
	key    pointKey
	source string
	value  float64
}

// check compares the database with the ledger. It runs once the
// pipeline has drained.
func check(ctx context.Context, pool *pgxpool.Pool, l *ledger, devs []fleet.Device) (tally, error) {
	var t tally
	byUser := map[uuid.UUID]fleet.Device{}
	for _, d := range devs {
		byUser[d.UserID] = d
	}
	rows, err := storedRows(ctx, pool, byUser)
	if err != nil {
		return t, err
	}
	exp := expectations(l)
	seen := map[pointKey]bool{}
	for _, r := range rows {
		sends, ok := exp[r.key]
		if !ok || r.source != devs[r.key.device].Source {
			t.unexpected++
			continue
		}
		seen[r.key] = true
		values, wasAcked := allowed(sends)
		if !contains(values, r.value) {
			t.wrongValue++
		}
		if !wasAcked {
			t.unknownLanded++
		}
	}
	for k, sends := range exp {
		if _, wasAcked := allowed(sends); wasAcked {
			t.points++
			if !seen[k] {
				t.lost++
			}
		}
	}
	if err := checkArchive(ctx, pool, l, &t); err != nil {
		return t, err
	}
	return t, checkRejections(ctx, pool, l, &t)
}

func contains(vs []float64, v float64) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// storedRows are the harness's rows in both tables, as natural keys.
func storedRows(ctx context.Context, pool *pgxpool.Pool, byUser map[uuid.UUID]fleet.Device) ([]storedRow, error) {
	var out []storedRow
	queries := []struct{ metric, sql string }{
		{"heart_rate", `SELECT user_id, recorded_at, source, avg_bpm FROM heart_rate_metrics`},
		{"step_count", `SELECT user_id, recorded_at, source, qty FROM quantity_metrics WHERE metric = 'step_count'`},
		{"other", `SELECT user_id, recorded_at, source, qty FROM quantity_metrics WHERE metric <> 'step_count'`},
	}
	for _, q := range queries {
		rows, err := pool.Query(ctx, q.sql)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.sql, err)
		}
		for rows.Next() {
			var (
				user   uuid.UUID
				at     time.Time
				source string
				v      *float64
			)
			if err := rows.Scan(&user, &at, &source, &v); err != nil {
				rows.Close()
				return nil, err
			}
			d, ok := byUser[user]
			minutes := at.Sub(epoch)
			r := storedRow{key: pointKey{device: d.N, metric: q.metric, minute: int(minutes / time.Minute)}, source: source}
			if v != nil {
				r.value = *v
			}
			if !ok || minutes%time.Minute != 0 {
				r.key.metric = "not sent" // a row under a user or time no device used
			}
			out = append(out, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkArchive: every part of an acknowledged upload archived once, and
// its manifest stored.
func checkArchive(ctx context.Context, pool *pgxpool.Pool, l *ledger, t *tally) error {
	parts := map[string]int{}
	rows, err := pool.Query(ctx, `SELECT ingestion_id, count(*), count(DISTINCT part_id) FROM raw_ingestions GROUP BY ingestion_id`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var (
			id              string
			total, distinct int
		)
		if err := rows.Scan(&id, &total, &distinct); err != nil {
			rows.Close()
			return err
		}
		parts[id] = distinct
		t.archivedTwice += total - distinct
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	manifests := map[string]bool{}
	rows, err = pool.Query(ctx, `SELECT ingestion_id FROM ingestions`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		manifests[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, u := range l.uploads {
		if u.outcome != acked {
			continue
		}
		if u.answeredID != u.ingestionID {
			t.idMismatch++
		}
		t.archiveLost += max(0, u.parts-parts[u.ingestionID])
		if !manifests[u.ingestionID] {
			t.archiveLost++
		}
	}
	return nil
}

// checkRejections: each poison item of an acknowledged upload is recorded
// once; nothing else is rejected.
func checkRejections(ctx context.Context, pool *pgxpool.Pool, l *ledger, t *tally) error {
	type rej struct{ total, distinct int }
	got := map[string]rej{}
	rows, err := pool.Query(ctx, `SELECT ingestion_id, count(*), count(DISTINCT pointer) FROM rejected_points GROUP BY ingestion_id`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var (
			id string
			r  rej
		)
		if err := rows.Scan(&id, &r.total, &r.distinct); err != nil {
			rows.Close()
			return err
		}
		got[id] = r
		t.rejectedTwice += r.total - r.distinct
		t.rejections += r.distinct
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	poisoned := map[string]bool{}
	for _, u := range l.uploads {
		if !u.poison {
			continue
		}
		poisoned[u.ingestionID] = true
		if u.outcome == acked {
			t.rejectLost += max(0, 2-got[u.ingestionID].distinct)
		}
	}
	for id, r := range got {
		switch {
		case !poisoned[id]:
			// A valid upload with rejections, or one never acknowledged.
			t.unexpected += r.distinct
		case r.distinct > 2:
			t.unexpected += r.distinct - 2
		}
	}
	return nil
}
