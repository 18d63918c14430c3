package termtext_test

import (
	"errors"
	"testing"

	"github.com/healthexport/libs/termtext"
)

func TestEscape(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "Ana's iPhone", "Ana's iPhone"},
		{"accents and emoji stay", "Zoë’s ⌚ 🏃", "Zoë’s ⌚ 🏃"},
		{"escape sequence", "phone\x1b[2J\x1b]0;owned\x07", `phone\x1b[2J\x1b]0;owned\a`},
		{"newline and carriage return", "a\nb\rc\td", `a\nb\rc\td`},
		{"DEL and C1", "a\x7fb\u009bc", `a\x7fb\u009bc`},
		{"bidi override", "key\u202egnp.exe", `key\u202egnp.exe`},
		{"isolates and marks", "\u2066x\u2069\u200f", `\u2066x\u2069\u200f`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"invalid UTF-8", "a\xffb", `a\xffb`},
		{"a backslash cannot forge an escape", `a\x1bb`, `a\\x1bb`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := termtext.Escape(tt.in); got != tt.want {
				t.Errorf("Escape(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		in   string
		safe bool
	}{
		{"Ana's iPhone", true},
		{"Zoë ⌚", true},
		{"", true},
		{"a\x1b[31m", false},
		{"tab\there", false},
		{"x\u202e", false},
		{"\xff", false},
		{"a\u0085b", false},
	}
	for _, tt := range tests {
		err := termtext.Check(tt.in)
		if tt.safe != (err == nil) || err != nil && !errors.Is(err, termtext.ErrUnsafe) {
			t.Errorf("Check(%q) = %v, want safe=%v", tt.in, err, tt.safe)
		}
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"plain", "a\x1b[2J", "\u202e", "\xff\xfe", `\\x1b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := termtext.Check(termtext.Escape(s)); err != nil {
			t.Fatalf("Escape(%q) = %q is unsafe: %v", s, termtext.Escape(s), err)
		}
	})
}
