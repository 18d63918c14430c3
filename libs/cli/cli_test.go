package cli_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/healthexport/libs/cli"
)

type greetCmd struct {
	Name string `arg:"" help:"Whom to greet."`
}

func (g *greetCmd) Run(out *bytes.Buffer) error {
	out.WriteString("hello " + g.Name)
	return nil
}

type grammar struct {
	Greet greetCmd `cmd:"" help:"Say hello."`
}

func TestParse(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		wantErr error
		stdout  string // a substring; "" for none
		stderr  string
		ran     string
	}{
		{name: "command", args: []string{"greet", "ana"}, ran: "hello ana"},
		{name: "help", args: []string{"--help"}, stdout: "Say hello."},
		{name: "command help", args: []string{"greet", "--help"}, stdout: "Whom to greet."},
		{name: "unknown command", args: []string{"wave"}, wantErr: cli.ErrArguments, stderr: "unexpected argument wave"},
		{name: "missing argument", args: []string{"greet"}, wantErr: cli.ErrArguments, stderr: "expected \"<name>\""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr, ran bytes.Buffer
			var g grammar
			kctx, err := cli.Parse("tool", "A tool.", &g, c.args, &stdout, &stderr)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if !strings.Contains(stdout.String(), c.stdout) || !strings.Contains(stderr.String(), c.stderr) {
				t.Errorf("stdout %q, stderr %q; want %q and %q in them", stdout.String(), stderr.String(), c.stdout, c.stderr)
			}
			if kctx != nil {
				if err := kctx.Run(&ran); err != nil {
					t.Fatal(err)
				}
			}
			if ran.String() != c.ran {
				t.Errorf("ran %q, want %q", ran.String(), c.ran)
			}
		})
	}
}
