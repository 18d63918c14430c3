package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// createKeyVia makes a key through POST /v1/keys with key and returns the
// new key and its id.
func (s *stack) createKeyVia(key, body string) (token, id string) {
	s.t.Helper()
	status, reply := s.send(s.edgeURL, http.MethodPost, "/v1/keys", key, body)
	var k struct{ Key, ID string }
	if status != 201 || json.Unmarshal([]byte(reply), &k) != nil {
		s.t.Fatalf("POST /v1/keys %s: %d %s", body, status, reply)
	}
	return k.Key, k.ID
}

// revokedSoon reports whether the edge refuses key (401) within a second:
// a revocation reaches the edge over NATS a moment after healthctl returns.
func (s *stack) revokedSoon(key string) (int, bool) {
	s.t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		st := s.keyStatus(key)
		if st == 401 || time.Now().After(deadline) {
			return st, st == 401
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHealthctlKeys: an operator grants the keys scope; a device's new key
// replaces its old one; revoking a key revokes the keys made from it;
// names are validated when made and escaped when printed, so a name cannot
// drive the operator's terminal.
func TestHealthctlKeys(t *testing.T) {
	s := newStack(t)
	s.startAll()
	const email = "ana@example.org"
	uid, phone := s.user(email)

	t.Run("the keys scope", func(t *testing.T) {
		if status, reply := s.request(s.edgeURL, http.MethodGet, "/v1/keys", phone); status != 403 {
			t.Errorf("GET /v1/keys with the phone's key: %d %s", status, reply)
		}
		manager := s.keyWithScopes(email, "ingest,keys")
		child, _ := s.createKeyVia(manager, `{"name": "watch"}`)
		if status, reply := s.post(child, []byte(empty), nil); status != 202 {
			t.Fatalf("a key made through the API: %d %s", status, reply)
		}
		managerID := strings.Split(manager, "_")[1]
		s.healthctl("keys", "revoke", "--email", email, managerID)
		for name, k := range map[string]string{"the revoked key": manager, "the key it made": child} {
			if st, ok := s.revokedSoon(k); !ok {
				t.Errorf("%s after keys revoke: %d, want 401", name, st)
			}
		}
		if st := s.keyStatus(phone); st != 404 {
			t.Errorf("the phone's key, not made from it: %d", st)
		}
	})

	t.Run("replace", func(t *testing.T) {
		first := s.healthctl("keys", "create", "--email", email, "--name", "kitchen iPad")
		second := s.healthctl("keys", "create", "--email", email, "--name", "kitchen iPad", "--replace")
		if st, ok := s.revokedSoon(first); !ok {
			t.Errorf("after --replace: the old key %d, want 401", st)
		}
		if st := s.keyStatus(second); st != 404 {
			t.Errorf("after --replace: the new key %d, want 404", st)
		}
	})

	t.Run("names", func(t *testing.T) {
		for _, bad := range []string{"evil\x1b[2J\x1b]0;pwned\x07", strings.Repeat("n", 101), "rtl\u202egnp.exe"} {
			if out, errOut, err := s.healthctlResult("keys", "create", "--email", email, "--name", bad); err == nil || strings.HasPrefix(out, "hx_") {
				t.Errorf("keys create --name %q: made a key (%s %s)", bad, out, errOut)
			} else if !strings.Contains(errOut, "invalid key name") {
				t.Errorf("keys create --name %q: %v, the error does not say why: %s", bad, err, errOut)
			}
		}
		// Names stored before they were validated are printed escaped.
		s.exec(`UPDATE api_keys SET name = $1 WHERE id = $2`, "old\x1b[2Jname\nnext", strings.Split(phone, "_")[1])
		s.exec(`UPDATE users SET email = $1 WHERE id = $2`, "ana\x1b]0;x\x07@example.org", uid)
		for _, args := range [][]string{{"keys", "list", "--email", "ana\x1b]0;x\x07@example.org"}, {"users", "list"}} {
			out := s.healthctl(args...)
			if strings.ContainsAny(out, "\x1b\x07") {
				t.Errorf("healthctl %s prints control characters: %q", args[0], out)
			}
			if want := map[string]string{"keys": `old\x1b[2Jname\nnext`, "users": `ana\x1b]0;x\a@example.org`}[args[0]]; !strings.Contains(out, want) {
				t.Errorf("healthctl %s list: %q, want %q in it", args[0], out, want)
			}
		}
	})
}
