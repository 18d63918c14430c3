package stream_test

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/healthexport/libs/stream"
)

func TestBatchCuts(t *testing.T) {
	lim := stream.Limits{MaxMessages: 4, MaxRows: 100, MaxBytes: 1000, MaxAge: 250 * time.Millisecond}
	type in struct {
		rows, bytes int
		wait        time.Duration // before sending
	}
	tests := []struct {
		name  string
		input []in
		want  [][]int // indexes of inputs per flushed batch
	}{
		{name: "count", input: []in{{1, 1, 0}, {1, 1, 0}, {1, 1, 0}, {1, 1, 0}, {1, 1, 0}}, want: [][]int{{0, 1, 2, 3}, {4}}},
		{name: "rows", input: []in{{60, 1, 0}, {60, 1, 0}, {1, 1, 0}}, want: [][]int{{0, 1}, {2}}},
		{name: "bytes", input: []in{{1, 999, 0}, {1, 1, 0}, {1, 1, 0}}, want: [][]int{{0, 1}, {2}}},
		{name: "age", input: []in{{1, 1, 0}, {1, 1, 100 * time.Millisecond}, {1, 1, 200 * time.Millisecond}}, want: [][]int{{0, 1}, {2}}},
		{name: "close flushes rest", input: []in{{1, 1, 0}}, want: [][]int{{0}}},
		{name: "nothing", input: nil, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ch := make(chan int)
				var got [][]int
				done := make(chan struct{})
				go func() {
					stream.Batch(ch, lim, func(i int) (int, int) { return tc.input[i].rows, tc.input[i].bytes },
						func(b []int) { got = append(got, slices.Clone(b)) })
					close(done)
				}()
				for i, v := range tc.input {
					time.Sleep(v.wait)
					ch <- i
				}
				close(ch)
				<-done
				if !slices.EqualFunc(got, tc.want, slices.Equal) {
					t.Fatalf("batches %v, want %v", got, tc.want)
				}
			})
		})
	}
}

func TestBatchAgeFlushesWithoutMoreInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ch := make(chan int)
		flushed := make(chan time.Duration, 1)
		start := time.Now()
		go stream.Batch(ch, stream.Limits{MaxMessages: 10, MaxRows: 10, MaxBytes: 10, MaxAge: time.Second},
			func(int) (int, int) { return 1, 1 }, func([]int) { flushed <- time.Since(start) })
		ch <- 1
		if d := <-flushed; d != time.Second {
			t.Fatalf("flushed after %v, want exactly the max age", d)
		}
		close(ch)
	})
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		delivered uint64
		want      time.Duration
	}{{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {4, 8 * time.Second}, {7, time.Minute}, {100, time.Minute}} {
		if got := stream.Backoff(tc.delivered); got != tc.want {
			t.Errorf("stream.Backoff(%d) = %v, want %v", tc.delivered, got, tc.want)
		}
	}
}
