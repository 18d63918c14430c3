package apikey

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Scopes is what a key may do, a set of Scope bits. It is part of the
// Principal (a comparable value, cached by the Verifier).
type Scopes uint8

// The scopes. A key made without scopes gets ScopeIngest; keys made before
// scopes existed are ingest keys too (migration 000004).
const (
	// ScopeIngest uploads: POST /v1/ingest.
	ScopeIngest Scopes = 1 << iota
	// ScopeRead reads the user's data back: the query routes and the export.
	ScopeRead
	// ScopeKeys manages the user's keys: POST, GET and DELETE /v1/keys.
	// The phone's ingest key has it not, so a lost phone cannot mint keys.
	ScopeKeys
)

// DefaultScopes is what a key gets when none are asked for.
const DefaultScopes = ScopeIngest

type scopeName struct {
	s    Scopes
	name string
}

// scopeNames are the stored and shown names, in bit order.
var scopeNames = [...]scopeName{{ScopeIngest, "ingest"}, {ScopeRead, "read"}, {ScopeKeys, "keys"}}

// ErrInvalidScope is a scope name that does not exist.
var ErrInvalidScope = errors.New("invalid scope")

// ScopeNames lists every scope name, for messages and documentation.
func ScopeNames() []string {
	out := make([]string, 0, len(scopeNames))
	for _, n := range scopeNames {
		out = append(out, n.name)
	}
	return out
}

// Has reports whether every scope of want is in s.
func (s Scopes) Has(want Scopes) bool { return s&want == want }

// Names lists the scopes in a fixed order ("ingest", "read", "keys").
func (s Scopes) Names() []string {
	out := []string{}
	for _, n := range scopeNames {
		if s.Has(n.s) {
			out = append(out, n.name)
		}
	}
	return out
}

// String is the names joined by commas.
func (s Scopes) String() string { return strings.Join(s.Names(), ",") }

// ParseScopes reads scope names (each may itself be a comma-separated
// list, as typed on a command line; spaces and case are forgiven). No names
// at all is DefaultScopes; an unknown name is ErrInvalidScope.
func ParseScopes(names ...string) (Scopes, error) {
	var s Scopes
	for _, n := range names {
		for part := range strings.SplitSeq(n, ",") {
			part = strings.ToLower(strings.TrimSpace(part))
			if part == "" {
				continue
			}
			i := slices.IndexFunc(scopeNames[:], func(x scopeName) bool { return x.name == part })
			if i < 0 {
				return 0, fmt.Errorf("%w %q: want %s", ErrInvalidScope, part, strings.Join(ScopeNames(), " or "))
			}
			s |= scopeNames[i].s
		}
	}
	if s == 0 {
		return DefaultScopes, nil
	}
	return s, nil
}

// scopesFromNames reads stored names; names this build does not know (a
// newer version's) grant nothing.
func scopesFromNames(names []string) Scopes {
	var s Scopes
	for _, n := range names {
		for _, x := range scopeNames {
			if x.name == n {
				s |= x.s
			}
		}
	}
	return s
}
