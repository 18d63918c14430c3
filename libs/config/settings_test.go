package config

import (
	"strings"
	"testing"
	"time"

	validation "github.com/go-ozzo/ozzo-validation/v4"
)

type inner struct {
	MaxAge time.Duration `env:"INNER_MAX_AGE" envDefault:"1m" help:"Inner age."`
}

func (c inner) Validate() error {
	return validation.ValidateStruct(&c, validation.Field(&c.MaxAge, NonZero(), validation.Min(time.Second)))
}

type outer struct {
	URL    string        `env:"OUTER_URL,required" help:"Where."`
	MaxAge time.Duration `env:"OUTER_MAX_AGE" envDefault:"1h" help:"Outer age."`
	Dir    string        `env:"OUTER_DIR" zero:"the temp directory" help:"A directory."`
	On     bool          `env:"OUTER_ON" envDefault:"false" help:"A switch."`
	Inner  inner
}

func (c outer) Validate() error {
	return validation.ValidateStruct(&c, validation.Field(&c.MaxAge, validation.Max(2*time.Hour)))
}

// TestValidateNamesVariables: the outer struct's own rules and the inner
// struct's (which the outer one does not list) both run, and each failure
// names its variable, though both fields are called MaxAge.
func TestValidateNamesVariables(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want []string // substrings; none for valid
	}{
		{map[string]string{"OUTER_URL": "x"}, nil},
		{map[string]string{"OUTER_URL": "x", "INNER_MAX_AGE": "0"}, []string{"INNER_MAX_AGE: must be set and not 0"}},
		{map[string]string{"OUTER_URL": "x", "INNER_MAX_AGE": "1ms", "OUTER_MAX_AGE": "3h"}, []string{"INNER_MAX_AGE: must be no less than 1s", "OUTER_MAX_AGE: must be no greater than 2h0m0s"}},
		{map[string]string{"OUTER_URL": "x", "INNER_MAX_AGE": "soon"}, []string{"INNER_MAX_AGE: unable to parse duration"}},
		{map[string]string{"OUTER_URL": "x", "OUTER_MAX_AGE": "soon", "OUTER_ON": "maybe"}, []string{"OUTER_MAX_AGE: unable to parse", "OUTER_ON: strconv.ParseBool"}},
		{map[string]string{}, []string{"OUTER_URL"}},
	}
	for _, c := range cases {
		var cfg outer
		err := Load(func(k string) string { return c.env[k] }, &cfg)
		if err == nil {
			err = Validate(&cfg)
		}
		if len(c.want) == 0 {
			if err != nil {
				t.Errorf("%v: %v", c.env, err)
			}
			continue
		}
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: err = %v, want %q in it", c.env, err, w)
			}
		}
	}
}

func TestDescribeAndWriteEnv(t *testing.T) {
	got := Describe(&outer{})
	want := []Setting{
		{Name: "OUTER_URL", Type: "string", Required: true, Help: "Where."},
		{Name: "OUTER_MAX_AGE", Type: "duration", Default: "1h", Help: "Outer age."},
		{Name: "OUTER_DIR", Type: "string", Zero: "the temp directory", Help: "A directory."},
		{Name: "OUTER_ON", Type: "boolean", Default: "false", Help: "A switch."},
		{Name: "INNER_MAX_AGE", Type: "duration", Default: "1m", Help: "Inner age."},
	}
	if len(got) != len(want) {
		t.Fatalf("Describe = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("setting %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	var b strings.Builder
	if err := WriteEnv(&b, got[:3]); err != nil {
		t.Fatal(err)
	}
	wantText := "# OUTER_URL (string; required): Where.\nOUTER_URL=\n" +
		"# OUTER_MAX_AGE (duration): Outer age.\nOUTER_MAX_AGE=1h\n" +
		"# OUTER_DIR (string; empty or 0: the temp directory): A directory.\nOUTER_DIR=\n"
	if b.String() != wantText {
		t.Errorf("WriteEnv:\n%s\nwant:\n%s", b.String(), wantText)
	}
}
