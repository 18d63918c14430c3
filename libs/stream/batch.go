package stream

import (
	"time"
)

// Limits cut a batch: whichever is reached first.
type Limits struct {
	MaxMessages int
	MaxRows     int
	MaxBytes    int
	MaxAge      time.Duration // from the batch's first message
}

// Batch collects values from in and calls flush with each batch. One
// goroutine (the caller's) owns the buffer: flush runs on it, so while a
// batch is written new messages wait in the channel (backpressure). When
// in is closed, the rest is flushed and Batch returns.
func Batch[T any](in <-chan T, lim Limits, size func(T) (rows, bytes int), flush func([]T)) {
	var (
		buf         []T
		rows, bytes int
		timer       *time.Timer
		deadline    <-chan time.Time
	)
	cut := func() {
		if timer != nil {
			timer.Stop()
			timer, deadline = nil, nil
		}
		if len(buf) > 0 {
			flush(buf)
		}
		buf, rows, bytes = nil, 0, 0
	}
	for {
		select {
		case v, ok := <-in:
			if !ok {
				cut()
				return
			}
			if len(buf) == 0 {
				timer = time.NewTimer(lim.MaxAge)
				deadline = timer.C
			}
			buf = append(buf, v)
			r, b := size(v)
			rows += r
			bytes += b
			if len(buf) >= lim.MaxMessages || rows >= lim.MaxRows || bytes >= lim.MaxBytes {
				cut()
			}
		case <-deadline:
			cut()
		}
	}
}
