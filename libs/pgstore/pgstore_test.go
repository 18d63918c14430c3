package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/settle"
	"github.com/healthexport/libs/testenv"
	"github.com/healthexport/migrations"
)

func hrTable(t *testing.T) *pgstore.Table {
	t.Helper()
	tb, err := pgstore.NewTable(pgstore.Table{
		Name:        "heart_rate_metrics",
		Columns:     []string{"user_id", "recorded_at", "source", "min_bpm", "avg_bpm", "max_bpm", "recorded_offset_min", "stream_seq"},
		Key:         []string{"user_id", "recorded_at", "source"},
		PartitionBy: "recorded_at",
	})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func write(t *testing.T, db *testenv.Database, parts *pgstore.Partitions, tb *pgstore.Table, rows [][]any) int64 {
	t.Helper()
	ctx := context.Background()
	if err := parts.EnsureRows(ctx, tb, rows); err != nil {
		t.Fatal(err)
	}
	var n int64
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		var err error
		n, err = pgstore.Upsert(ctx, tx, tb, rows)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestUpsertRules(t *testing.T) {
	db := testenv.NewDatabase(t)
	parts := pgstore.NewPartitions(db.Pool)
	tb := hrTable(t)
	user := uuid.New()
	at := time.Date(2025, 3, 1, 16, 0, 0, 0, time.UTC)
	row := func(avg float64, seq int64, ord int) []any {
		return []any{user, at, "", 60.0, avg, 90.0, int16(-480), seq, int64(ord)}
	}
	avg := func() (float64, int64) {
		var a float64
		var s int64
		if err := db.Pool.QueryRow(context.Background(), "SELECT avg_bpm, stream_seq FROM heart_rate_metrics WHERE user_id=$1", user).Scan(&a, &s); err != nil {
			t.Fatal(err)
		}
		return a, s
	}
	steps := []struct {
		name     string
		rows     [][]any
		affected int64
		wantAvg  float64
		wantSeq  int64
	}{
		{"first write", [][]any{row(70, 10, 0)}, 1, 70, 10},
		{"within a message the later item wins", [][]any{row(71, 11, 1), row(72, 11, 0)}, 1, 71, 11},
		{"a later message wins", [][]any{row(73, 12, 0)}, 1, 73, 12},
		{"a replay of an older message changes nothing", [][]any{row(50, 11, 0)}, 0, 73, 12},
		{"the same values again change nothing", [][]any{row(73, 13, 0)}, 0, 73, 12},
		{"later message in the same batch wins", [][]any{row(80, 20, 5), row(81, 21, 0)}, 1, 81, 21},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if n := write(t, db, parts, tb, s.rows); n != s.affected {
				t.Errorf("affected %d, want %d", n, s.affected)
			}
			if a, seq := avg(); a != s.wantAvg || seq != s.wantSeq {
				t.Errorf("stored avg %v seq %d, want %v seq %d", a, seq, s.wantAvg, s.wantSeq)
			}
		})
	}
}

func TestPartitionsConcurrentMakers(t *testing.T) {
	db := testenv.NewDatabase(t)
	m := time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Separate makers, as separate writer processes would be.
			errs <- pgstore.NewPartitions(db.Pool).Ensure(context.Background(), "quantity_metrics", m)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestLargeBatchBeyondBindLimit(t *testing.T) {
	db := testenv.NewDatabase(t)
	parts := pgstore.NewPartitions(db.Pool)
	tb := hrTable(t)
	user := uuid.New()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 20000 // × 9 columns = 180,000 values: far past 65,535 bind parameters
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{user, start.Add(time.Duration(i) * time.Minute), "w", 50.0, 60.0, 70.0, int16(0), int64(1), int64(i)}
	}
	if got := write(t, db, parts, tb, rows); got != n {
		t.Fatalf("wrote %d, want %d", got, n)
	}
	var count int
	if err := db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM heart_rate_metrics WHERE user_id=$1", user).Scan(&count); err != nil || count != n {
		t.Fatalf("count %d err %v", count, err)
	}
}

func TestClassify(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("upsert x: %w", &pgconn.PgError{Code: code}) }
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	cases := []struct {
		name string
		err  error
		want pgstore.Class
	}{
		{"invalid text (22P02)", pg("22P02"), pgstore.Data},
		{"NUL in text (22021)", pg("22021"), pgstore.Data},
		{"check violation (23514)", pg("23514"), pgstore.Data},
		{"index row too big (54000)", pg("54000"), pgstore.Data},
		{"deadlock (40P01)", pg("40P01"), pgstore.Conflict},
		{"serialization failure (40001)", pg("40001"), pgstore.Conflict},
		{"connection failure (08006)", pg("08006"), pgstore.Unavailable},
		{"too many connections (53300)", pg("53300"), pgstore.Unavailable},
		{"disk full (53100)", pg("53100"), pgstore.Unavailable},
		{"admin shutdown (57P01)", pg("57P01"), pgstore.Unavailable},
		{"cannot connect now (57P03)", pg("57P03"), pgstore.Unavailable},
		{"statement timeout (57014)", pg("57014"), pgstore.Unavailable},
		{"I/O error (58030)", pg("58030"), pgstore.Unavailable},
		{"read-only transaction (25006)", pg("25006"), pgstore.Unavailable},
		{"lock timeout (55P03)", pg("55P03"), pgstore.Unavailable},
		{"connection refused", fmt.Errorf("ensure partitions: %w", refused), pgstore.Unavailable},
		{"net timeout", &net.DNSError{Err: "i/o timeout", IsTimeout: true}, pgstore.Unavailable},
		{"EOF", fmt.Errorf("receive message: %w", io.EOF), pgstore.Unavailable},
		{"unexpected EOF", io.ErrUnexpectedEOF, pgstore.Unavailable},
		{"deadline", fmt.Errorf("flush: %w", context.DeadlineExceeded), pgstore.Unavailable},
		{"conn closed", pgconn.ErrConnClosed, pgstore.Unavailable},
		{"lost connection beside a server error", errors.Join(pg("42P01"), io.ErrUnexpectedEOF), pgstore.Unavailable},
		{"undefined table (42P01)", pg("42P01"), pgstore.Unexpected},
		{"undefined column (42703)", pg("42703"), pgstore.Unexpected},
		{"insufficient privilege (42501)", pg("42501"), pgstore.Unexpected},
		{"raise exception (P0001)", pg("P0001"), pgstore.Unexpected},
		{"internal error (XX000)", pg("XX000"), pgstore.Unexpected},
		{"no partition for a row", &pgconn.PgError{Code: "23514", Routine: "ExecFindPartition"}, pgstore.Unexpected},
		{"plain error", errors.New("connection refused"), pgstore.Unexpected},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := pgstore.Classify(c.err); got != c.want {
				t.Errorf("Classify(%v) = %v, want %v", c.err, got, c.want)
			}
		})
	}
}

// The classes of errors as the real server and driver return them.
func TestClassifyRealErrors(t *testing.T) {
	db := testenv.NewDatabase(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, "SELECT '\\u0000'::jsonb")
	if got := pgstore.Classify(err); got != pgstore.Data {
		t.Errorf("NUL in jsonb: class %v (err %v), want data", got, err)
	}
	_, err = db.Pool.Exec(ctx, "SELECT * FROM no_such_table")
	if got := pgstore.Classify(err); got != pgstore.Unexpected {
		t.Errorf("missing table: class %v (err %v), want unexpected", got, err)
	}
	// A server that is not there: nothing listens on the proxy once cut.
	proxy := testenv.NewProxy(t, testenv.HostPort(t, db.URL))
	proxy.Cut()
	_, err = pgstore.Open(ctx, proxy.Through(db.URL), 1)
	if got := pgstore.Classify(err); got != pgstore.Unavailable {
		t.Errorf("connection cut: class %v (err %v), want unavailable", got, err)
	}
	// A connection cut under a query.
	pool, err := pgxpool.New(ctx, testenv.NewProxy(t, testenv.HostPort(t, db.URL)).Through(db.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	var pid int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, "SELECT 1")
	if got := pgstore.Classify(err); got != pgstore.Unavailable {
		t.Errorf("backend terminated: class %v (err %v), want unavailable", got, err)
	}
}

func TestListAndRetention(t *testing.T) {
	db := testenv.NewDatabase(t)
	ctx := context.Background()
	// In March 2024 its months are recent: one partition each.
	parts := pgstore.NewPartitions(db.Pool).WithClock(func() time.Time { return time.Date(2024, 3, 15, 0, 0, 0, 0, time.UTC) })
	for _, m := range []time.Time{
		time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),
	} {
		if err := parts.Ensure(ctx, "raw_ingestions", m); err != nil {
			t.Fatal(err)
		}
	}
	list, err := parts.List(ctx, "raw_ingestions")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].Name != "raw_ingestions_p2024_01" || !list[0].From.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) || !list[0].To.Equal(time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("partitions %+v", list)
	}
	// A cutoff inside February keeps February: only whole months older go.
	dropped, err := parts.DropBefore(ctx, "raw_ingestions", time.Date(2024, 2, 15, 0, 0, 0, 0, time.UTC))
	if err != nil || len(dropped) != 1 || dropped[0] != "raw_ingestions_p2024_01" {
		t.Fatalf("dropped %v, %v", dropped, err)
	}
	if list, _ := parts.List(ctx, "raw_ingestions"); len(list) != 2 {
		t.Fatalf("after retention: %+v", list)
	}
	// Dropped from the cache too: January can be made again.
	if err := parts.Ensure(ctx, "raw_ingestions", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
}

// A failover as the writers live it. DATABASE_URL names both servers with
// target_session_attrs=read-write; the primary dies (its proxy is cut)
// while the other is still a standby (read-only) until it is promoted.
// Meanwhile every write fails as Unavailable, which the consumers retry for
// as long as it lasts and never give up; once the standby is promoted the
// same pool writes again, and migrations find it too.
func TestFailoverIsAnOutage(t *testing.T) {
	db := testenv.NewDatabase(t)
	ctx := context.Background()
	target := testenv.HostPort(t, db.URL)
	primary, standby := testenv.NewProxy(t, target), testenv.NewProxy(t, target)
	u, err := url.Parse(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = primary.Addr + "," + standby.Addr
	q := u.Query()
	q.Set("target_session_attrs", "read-write")
	u.RawQuery = q.Encode()
	failoverURL := u.String()
	if _, err := db.Pool.Exec(ctx, "CREATE TABLE failover_probe (n int)"); err != nil {
		t.Fatal(err)
	}
	pool, err := pgstore.Open(ctx, failoverURL, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	write := func() error {
		_, err := pool.Exec(ctx, "INSERT INTO failover_probe VALUES (1)")
		return err
	}
	if err := write(); err != nil {
		t.Fatalf("write to the primary: %v", err)
	}
	readOnly := func(on bool) {
		t.Helper()
		stmt := fmt.Sprintf("ALTER DATABASE %s SET default_transaction_read_only = on", db.Name)
		if !on {
			stmt = fmt.Sprintf("ALTER DATABASE %s RESET default_transaction_read_only", db.Name)
		}
		if _, err := db.Pool.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}

	// The primary is gone; what is left is a standby, not yet promoted.
	readOnly(true)
	primary.Cut()
	for i := range 3 {
		err := write()
		if err == nil {
			t.Fatalf("write %d with only a standby left succeeded", i)
		}
		if c := pgstore.Classify(err); c != pgstore.Unavailable || settle.Bounded(c) {
			t.Errorf("write %d during the failover: class %v (err %v), want unavailable, retried without bound", i, c, err)
		}
	}
	// A session on the standby itself (no target_session_attrs) is refused
	// its writes with read_only_sql_transaction.
	conn, err := pgx.Connect(ctx, standby.Through(db.URL))
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, "INSERT INTO failover_probe VALUES (2)")
	_ = conn.Close(ctx)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "25006" || pgstore.Classify(err) != pgstore.Unavailable {
		t.Errorf("write on the standby: %v (class %v), want 25006, unavailable", err, pgstore.Classify(err))
	}

	// Promoted: the same pool finds it.
	readOnly(false)
	if err := write(); err != nil {
		t.Errorf("write after the promotion: %v", err)
	}
	if err := migrations.Up(failoverURL); err != nil {
		t.Errorf("migrations with the first host down: %v", err)
	}
}
