package apikey

import (
	"context"
	"sync/atomic"
	"time"
)

// Hashing bounds a process's Argon2id runs (each takes about 20 ms of a core
// and 19 MiB): at most maxRuns at once, queue more waiting at most wait for a
// turn, and past that ErrBusy at once rather than a pile-up. One Hashing
// serves verifications, new keys and stronger hashes alike, so minting keys
// cannot take more of the machine than checking them.
type Hashing struct {
	sem     chan struct{}
	queue   int64
	wait    time.Duration
	waiting atomic.Int64
}

// NewHashing returns a bound of maxRuns concurrent runs (at least 1).
func NewHashing(maxRuns, queue int, wait time.Duration) *Hashing {
	return &Hashing{sem: make(chan struct{}, max(maxRuns, 1)), queue: int64(queue), wait: wait}
}

// run calls fn once a slot is free. A nil Hashing runs fn at once (the
// operator's CLI, which hashes one key at a time).
func (h *Hashing) run(ctx context.Context, fn func()) error {
	if h == nil {
		fn()
		return nil
	}
	if err := h.acquire(ctx); err != nil {
		return err
	}
	defer func() { <-h.sem }()
	fn()
	return nil
}

// acquire takes a slot, waiting in the short queue when all are busy.
func (h *Hashing) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	default:
	}
	if h.waiting.Add(1) > h.queue {
		h.waiting.Add(-1)
		return ErrBusy
	}
	defer h.waiting.Add(-1)
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-t.C:
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}
