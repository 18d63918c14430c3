package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// TestHelp: both harnesses are commands of proving, each with its own help.
func TestHelp(t *testing.T) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	getenv := func(string) string { return "" }
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"bench", "chaos"}},
		{[]string{"bench", "--help"}, []string{"COPY ceiling", "--quick", "--out"}},
		{[]string{"chaos", "--help"}, []string{"scenario", "--only", "--keep"}},
	}
	for _, c := range cases {
		var stdout bytes.Buffer
		if err := run(context.Background(), log, c.args, getenv, &stdout, io.Discard); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		for _, w := range c.want {
			if !strings.Contains(stdout.String(), w) {
				t.Errorf("%v: %q not in\n%s", c.args, w, stdout.String())
			}
		}
	}
}
