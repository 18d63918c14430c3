package hae

import "bytes"

// MaxDepth is how deeply a body may nest objects and arrays. Real exports
// nest about seven deep (data, metrics, an element, its data, a point, ...);
// the bound keeps every recursive reader of a body (the edge's JSON
// validator recurses once per level) far from the end of its stack: 8 MiB of
// "[" would otherwise need millions of frames.
const MaxDepth = 64

// TooDeep returns the offset of the first '{' or '[' that opens a container
// more than max levels deep, or -1 when there is none. It reads b once,
// without recursion, skipping strings, and does not validate: on invalid
// JSON any answer is fine as long as it terminates, since the validator
// that runs next refuses the body anyway.
func TooDeep(b []byte, max int) int {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			if i = stringEnd(b, i); i < 0 {
				return -1
			}
		case '{', '[':
			if depth++; depth > max {
				return i
			}
		case '}', ']':
			depth--
		}
	}
	return -1
}

// stringEnd returns the index of the quote closing the string opened at
// b[open], or -1. Strings are most of a body's bytes: IndexByte finds the
// next quote many bytes at a time, and a quote after an odd run of
// backslashes is escaped.
func stringEnd(b []byte, open int) int {
	i := open
	for {
		j := bytes.IndexByte(b[i+1:], '"')
		if j < 0 {
			return -1
		}
		i += 1 + j
		k := i - 1
		for b[k] == '\\' { // stops at the opening quote at the latest
			k--
		}
		if (i-1-k)%2 == 0 {
			return i
		}
	}
}
