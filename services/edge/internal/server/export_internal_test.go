package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"testing/synctest"
	"time"
)

// An export's writes may wait for the client only as long as its reading
// keeps up with the minimum rate (after a grace), and never past the
// export's end; a slow producer costs the client nothing. On a synchronous
// pipe in fake time.
func TestExportWriterLimits(t *testing.T) {
	const (
		chunk   = 1 << 10
		minRate = 10 << 10 // 10 KiB/s
		grace   = 30 * time.Second
	)
	tests := []struct {
		name      string
		readEvery time.Duration // the client reads a chunk this often (0: at once)
		makeEvery time.Duration // the export makes a chunk this often
		maxTime   time.Duration
		chunks    int           // to send; 0: until cut
		cutAfter  time.Duration // 0: never cut
	}{
		{"a fast reader gets everything", 0, 0, time.Hour, 10000, 0},
		{"a reader at 1 KiB/s is cut after about the grace", time.Second, 0, time.Hour, 0, 34 * time.Second},
		{"a reader at half the rate is cut after about twice the grace", 200 * time.Millisecond, 0, time.Hour, 0, 61 * time.Second},
		{"a slow export with a fast reader is not cut", 0, time.Second, time.Hour, 300, 0},
		{"nothing is sent past the time limit", 0, time.Second, 2 * time.Minute, 0, 2 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				server, client := net.Pipe()
				read := make(chan struct{})
				defer func() { server.Close(); <-read }()
				go func() {
					defer close(read)
					defer client.Close()
					buf := make([]byte, chunk)
					for {
						if _, err := io.ReadFull(client, buf); err != nil {
							return
						}
						time.Sleep(tc.readEvery)
					}
				}()
				start := time.Now()
				w := &exportWriter{w: bufio.NewWriterSize(server, chunk), conn: server, end: start.Add(tc.maxTime), minRate: minRate, grace: grace}
				data := make([]byte, chunk)
				sent := 0
				var err error
				for tc.chunks == 0 || sent < tc.chunks {
					time.Sleep(tc.makeEvery)
					if _, err = w.Write(data); err != nil {
						break
					}
					sent++
				}
				if err == nil {
					err = w.flush()
				}
				took := time.Since(start)
				switch {
				case tc.cutAfter == 0 && err != nil:
					t.Fatalf("cut after %s, %d chunks: %v", took, sent, err)
				case tc.cutAfter != 0 && !errors.Is(err, os.ErrDeadlineExceeded):
					t.Fatalf("after %s, %d chunks: %v, want a deadline", took, sent, err)
				case tc.cutAfter != 0 && (took > tc.cutAfter+time.Second || took < tc.cutAfter-5*time.Second):
					t.Fatalf("cut after %s, want about %s", took, tc.cutAfter)
				}
			})
		})
	}
}
