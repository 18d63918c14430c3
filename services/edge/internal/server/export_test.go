package server_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/healthexport/libs/apikey"
	"github.com/healthexport/libs/users"
	"github.com/healthexport/services/edge/internal/server"
)

// Exports are fair: one at a time per user, and a client that stops
// reading is cut (its slot and snapshot freed) once it falls behind the
// minimum rate, instead of holding them as long as it keeps the connection.
func TestExportsAreFair(t *testing.T) {
	e := newEdge(t, 512<<10, 1<<20, func(c *server.Config) {
		c.ExportMaxDuration, c.ExportMinRate, c.ExportGrace = time.Minute, 16<<20, 500*time.Millisecond
	})
	ctx := context.Background()
	// About 12 MB of export for ana: more than the sockets buffer.
	if _, err := e.db.Pool.Exec(ctx, `INSERT INTO ecg_recordings (user_id, started_at, source, voltages, voltage_offsets_ms, stream_seq)
		SELECT $1, '2025-04-01T00:00:00Z'::timestamptz + r * interval '1 hour', 'Watch',
		  (SELECT array_agg(-0.000123456 * v) FROM generate_series(1, 200000) v), (SELECT array_agg(v * 1.953125) FROM generate_series(1, 200000) v), 1
		FROM generate_series(1, 3) r`, e.user); err != nil {
		t.Fatal(err)
	}
	ana, _, err := e.keys.Create(ctx, e.user, apikey.NewKey{Name: "laptop", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	bobID, _, err := users.NewStore(e.db.Pool).Ensure(ctx, "bob@example.org")
	if err != nil {
		t.Fatal(err)
	}
	bob, _, err := e.keys.Create(ctx, bobID, apikey.NewKey{Name: "laptop", Scopes: []string{"read"}})
	if err != nil {
		t.Fatal(err)
	}
	addr := e.listen(t)

	// A client that reads the answer's head, then nothing.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /v1/export HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", ana)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stalled export: %v %v", resp, err)
	}
	started := time.Now()

	if status, _, b := e.get(t, "/v1/export", ana); status != 429 {
		t.Errorf("a second export for the same user: %d %s", status, b)
	}
	if status, _, b := e.get(t, "/v1/export", bob); status != 200 {
		t.Errorf("another user's export beside it: %d %s", status, b)
	}
	for {
		status, _, _ := e.get(t, "/v1/export", ana)
		if status == 200 {
			break
		}
		if time.Since(started) > 20*time.Second {
			t.Fatalf("the stalled export still holds its user's slot after %s (%d)", time.Since(started), status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the stalled export was cut after about %s", time.Since(started).Round(100*time.Millisecond))
}
