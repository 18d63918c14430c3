// Package termtext keeps text that clients choose (key names, email
// addresses) from driving the terminal of the operator who prints it:
// control characters (ESC sequences can move the cursor, rewrite earlier
// lines or set the window title), bidirectional overrides (which reorder
// what is shown) and line separators.
package termtext

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrUnsafe is text holding a character a terminal would act on.
var ErrUnsafe = errors.New("control character")

// Unsafe reports a rune a terminal acts on rather than shows: C0 and C1
// controls and DEL, bidirectional embeddings, overrides and isolates
// (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C), and the line and
// paragraph separators.
func Unsafe(r rune) bool {
	switch {
	case unicode.IsControl(r), r == utf8.RuneError:
		return true
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0x200E, r == 0x200F, r == 0x061C:
		return true
	case r == 0x2028, r == 0x2029:
		return true
	}
	return false
}

// Check returns ErrUnsafe, naming the first unsafe character and where it
// is, or nil. Invalid UTF-8 is unsafe too.
func Check(s string) error {
	for i, r := range s {
		if Unsafe(r) {
			if r == utf8.RuneError {
				return fmt.Errorf("%w: invalid UTF-8 at byte %d", ErrUnsafe, i)
			}
			return fmt.Errorf("%w %U at byte %d", ErrUnsafe, r, i)
		}
	}
	return nil
}

// Escape returns s with every unsafe character written as a Go escape
// (\x1b, \u202e, \n), and backslashes doubled so an escape cannot be
// forged; everything else, accents and emoji included, is left as is.
func Escape(s string) string {
	if Check(s) == nil && !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case Unsafe(r):
			q := fmt.Sprintf("%+q", string(r)) // "\x1b", "\u202e", "\n"
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
