// Package apikey makes, parses, hashes and verifies API keys of the form
// hx_<key id>_<secret> (both base62). Only an Argon2id PHC string of the
// secret is ever stored; the key id is looked up by index, so verifying a
// key costs one Argon2id run, never a scan over all keys.
package apikey

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

const (
	prefix    = "hx_"
	idLen     = 16 // about 95 bits: unguessable, short enough to read in logs of key management
	secretLen = 44 // 44 × log2(62) ≈ 262 bits ≥ 256
	alphabet  = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// ErrMalformed is a token that is not hx_<id>_<secret>.
var ErrMalformed = errors.New("malformed API key")

// Params are Argon2id cost parameters.
type Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
	KeyLen    uint32
	SaltLen   int
}

// DefaultParams are OWASP's recommendation (m=19 MiB, t=2, p=1).
func DefaultParams() Params {
	return Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}
}

// Bounds on parameters, for hashing and for stored PHC strings alike:
// argon2 panics on zero passes or threads, and a corrupt stored string must
// not make one verification allocate terabytes or run for hours.
const (
	maxMemoryKiB = 4 << 20 // 4 GiB
	maxTime      = 100
	minKeyLen    = 4 // Argon2's minimum tag length
	maxKeyLen    = 1024
	minSaltLen   = 8 // the PHC string format's minimum salt length
	maxSaltLen   = 1024
)

func (p Params) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("argon2id time %d outside 1..%d", p.Time, maxTime)
	case p.Threads < 1:
		return errors.New("argon2id parallelism must be at least 1")
	case p.MemoryKiB < 1 || p.MemoryKiB > maxMemoryKiB:
		return fmt.Errorf("argon2id memory %d KiB outside 1..%d", p.MemoryKiB, maxMemoryKiB)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("argon2id key length %d outside %d..%d", p.KeyLen, minKeyLen, maxKeyLen)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("argon2id salt length %d outside %d..%d", p.SaltLen, minSaltLen, maxSaltLen)
	}
	return nil
}

// Generated is a new key: the token to show once, its id, and the hash to store.
type Generated struct {
	Token string
	ID    string
	Hash  string
}

// Generate makes a new key.
func Generate(p Params) (Generated, error) {
	id, err := randomBase62(idLen)
	if err != nil {
		return Generated{}, err
	}
	secret, err := randomBase62(secretLen)
	if err != nil {
		return Generated{}, err
	}
	hash, err := Hash(secret, p)
	if err != nil {
		return Generated{}, err
	}
	return Generated{Token: prefix + id + "_" + secret, ID: id, Hash: hash}, nil
}

// Parse splits a token into its key id and secret.
func Parse(token string) (id, secret string, err error) {
	rest, ok := strings.CutPrefix(token, prefix)
	if !ok {
		return "", "", ErrMalformed
	}
	id, secret, ok = strings.Cut(rest, "_")
	if !ok || len(id) != idLen || len(secret) != secretLen || !isBase62(id) || !isBase62(secret) {
		return "", "", ErrMalformed
	}
	return id, secret, nil
}

// Hash returns the PHC string of secret:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (unpadded standard base64).
func Hash(secret string, p Params) (string, error) {
	if err := p.validate(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	sum := argon2.IDKey([]byte(secret), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, enc.EncodeToString(salt), enc.EncodeToString(sum)), nil
}

// Verify checks secret against a PHC string. needsRehash says the stored
// parameters are weaker than want, so the caller may store a new hash.
func Verify(secret, phc string, want Params) (ok, needsRehash bool, err error) {
	p, salt, sum, err := parsePHC(phc)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(secret), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(sum)))
	if subtle.ConstantTimeCompare(got, sum) != 1 {
		return false, false, nil
	}
	weaker := p.MemoryKiB < want.MemoryKiB || p.Time < want.Time || p.Threads < want.Threads ||
		len(sum) < int(want.KeyLen) || len(salt) < want.SaltLen
	return true, weaker, nil
}

func parsePHC(phc string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(phc, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("stored key hash is not an argon2id PHC string")
	}
	if parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, fmt.Errorf("stored key hash: unsupported argon2 version %q", parts[2])
	}
	// Sscanf ignores what follows the last verb: the string must be exactly
	// what Hash writes for the values read.
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil ||
		parts[3] != fmt.Sprintf("m=%d,t=%d,p=%d", p.MemoryKiB, p.Time, p.Threads) {
		return p, nil, nil, fmt.Errorf("stored key hash: bad parameters %q", parts[3])
	}
	enc := base64.RawStdEncoding
	// The decoder skips CR and LF: only the canonical encoding is accepted.
	salt, err := enc.DecodeString(parts[4])
	if err != nil || enc.EncodeToString(salt) != parts[4] {
		return p, nil, nil, errors.New("stored key hash: bad salt")
	}
	sum, err := enc.DecodeString(parts[5])
	if err != nil || len(sum) == 0 || enc.EncodeToString(sum) != parts[5] {
		return p, nil, nil, errors.New("stored key hash: bad digest")
	}
	p.SaltLen, p.KeyLen = len(salt), uint32(len(sum))
	if err := p.validate(); err != nil {
		return p, nil, nil, fmt.Errorf("stored key hash: %w", err)
	}
	return p, salt, sum, nil
}

func randomBase62(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n*2)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("random: %w", err)
		}
		for _, b := range buf {
			// 248 = 4 × 62: rejecting the rest keeps every symbol equally likely.
			if b < 248 && len(out) < n {
				out = append(out, alphabet[b%62])
			}
		}
	}
	return string(out), nil
}

func isBase62(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}
