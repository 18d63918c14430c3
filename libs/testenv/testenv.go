// Package testenv gives integration tests their own slice of the real
// services: a fresh PostgreSQL database, their own JetStream stream and
// subject and durable prefixes, their own Redis key prefix. Tests therefore
// run beside a running stack without touching its data. Nothing here is a
// mock: a missing service fails the test with a message saying what to run.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/healthexport/libs/config"
)

var (
	envOnce sync.Once
	envFunc func(string) string
)

// Getenv reads test settings from the process environment, falling back to
// the repository's .env (found by walking up to go.work), so `go test` works
// from any module directory after `make deps`.
func Getenv() func(string) string {
	envOnce.Do(func() {
		envFunc = os.Getenv
		if root := RepoRoot(); root != "" {
			if f, err := config.WithDotEnv(os.Getenv, filepath.Join(root, ".env")); err == nil {
				envFunc = f
			}
		}
	})
	return envFunc
}

// RepoRoot is the directory holding go.work, or "" when not found.
func RepoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Require returns the value of a setting or fails the test naming it.
func Require(t testing.TB, key string) string {
	t.Helper()
	v := Getenv()(key)
	if v == "" {
		t.Fatalf("%s is not set: run `make deps` (or `make test`), which writes .env and starts the services", key)
	}
	return v
}

// Token is a short random lower-case hex string for unique names.
func Token() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Names are a test's own stream, subject prefix, durable prefix and Redis
// key prefix.
type Names struct {
	Stream        string
	SubjectPrefix string
	DurablePrefix string
	RedisPrefix   string
}

// NewNames returns names no other test or running stack uses.
func NewNames() Names {
	tok := Token()
	return Names{
		Stream:        "T_" + strings.ToUpper(tok),
		SubjectPrefix: "t" + tok,
		DurablePrefix: "t" + tok + "-",
		RedisPrefix:   "t" + tok + ":",
	}
}
