package settle_test

import (
	"slices"
	"testing"

	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/settle"
)

func TestSplit(t *testing.T) {
	cfg := settle.Config{MaxAttempts: 3}
	delivered := []uint64{1, 2, 3, 7}
	id := func(n uint64) uint64 { return n }
	cases := []struct {
		class       pgstore.Class
		retry, last []uint64
	}{
		// Outages and conflicts are retried however often they were.
		{pgstore.Unavailable, []uint64{1, 2, 3, 7}, nil},
		{pgstore.Conflict, []uint64{1, 2, 3, 7}, nil},
		// Anything else: each message by its own count.
		{pgstore.Unexpected, []uint64{1, 2}, []uint64{3, 7}},
		{pgstore.Data, []uint64{1, 2}, []uint64{3, 7}},
	}
	for _, c := range cases {
		t.Run(c.class.String(), func(t *testing.T) {
			retry, last := settle.Split(cfg, c.class, delivered, id)
			if !slices.Equal(retry, c.retry) || !slices.Equal(last, c.last) {
				t.Errorf("Split = %v, %v; want %v, %v", retry, last, c.retry, c.last)
			}
		})
	}
}

func TestCrashAfter(t *testing.T) {
	crashed := 0
	hook := settle.CrashAfter(3, func() { crashed++ })
	for i := 1; i <= 5; i++ {
		hook()
		if want := map[bool]int{true: 1, false: 0}[i >= 3]; crashed != want {
			t.Fatalf("after %d commits: crashed %d times, want %d", i, crashed, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		cfg settle.Config
		ok  bool
	}{
		{settle.Config{MaxAttempts: 10}, true},
		{settle.Config{MaxAttempts: 1, CrashAfterCommit: 2}, true},
		{settle.Config{MaxAttempts: 0}, false},
		{settle.Config{MaxAttempts: -1}, false},
		{settle.Config{MaxAttempts: 10, CrashAfterCommit: -1}, false},
	}
	for _, c := range cases {
		if err := c.cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: Validate() = %v, want ok=%v", c.cfg, err, c.ok)
		}
	}
}
