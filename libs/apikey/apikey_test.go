package apikey_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/healthexport/libs/apikey"
)

// cheap are fast parameters for tests; production uses DefaultParams.
var cheap = apikey.Params{MemoryKiB: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

var (
	tokenRE  = regexp.MustCompile(`^hx_([0-9A-Za-z]{16})_([0-9A-Za-z]{44})$`)
	base64RE = `[A-Za-z0-9+/]`
)

func TestDefaultParams(t *testing.T) {
	p := apikey.DefaultParams()
	if p.MemoryKiB != 19456 || p.Time != 2 || p.Threads != 1 || p.KeyLen != 32 || p.SaltLen != 16 {
		t.Errorf("DefaultParams() = %+v, want OWASP's m=19456 t=2 p=1 (32-byte key, 16-byte salt)", p)
	}
}

func TestGenerateParseRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		g, err := apikey.Generate(cheap)
		if err != nil {
			t.Fatal(err)
		}
		m := tokenRE.FindStringSubmatch(g.Token)
		if m == nil {
			t.Fatalf("token %q is not hx_<16 base62>_<44 base62>", g.Token)
		}
		if m[1] != g.ID {
			t.Errorf("token id %q, Generated.ID %q", m[1], g.ID)
		}
		id, secret, err := apikey.Parse(g.Token)
		if err != nil {
			t.Fatalf("Parse(%q): %v", g.Token, err)
		}
		if id != g.ID || secret != m[2] {
			t.Errorf("Parse = %q, %q; want %q, %q", id, secret, g.ID, m[2])
		}
		if strings.Contains(g.Hash, secret) || strings.Contains(g.Hash, g.Token) {
			t.Errorf("hash %q contains the secret", g.Hash)
		}
		ok, rehash, err := apikey.Verify(secret, g.Hash, cheap)
		if err != nil || !ok || rehash {
			t.Errorf("Verify(secret, Generated.Hash) = %v, %v, %v; want true, false, nil", ok, rehash, err)
		}
		if seen[g.ID] || seen[secret] {
			t.Fatalf("repeated id or secret after %d keys", len(seen)/2)
		}
		seen[g.ID], seen[secret] = true, true
	}
}

// TestGenerateUsesWholeAlphabet guards against a biased or truncated
// alphabet: 50 keys × 60 symbols use all 62 with near certainty.
func TestGenerateUsesWholeAlphabet(t *testing.T) {
	used := map[rune]int{}
	for range 50 {
		g, err := apikey.Generate(cheap)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range strings.ReplaceAll(strings.TrimPrefix(g.Token, "hx_"), "_", "") {
			used[r]++
		}
	}
	if len(used) != 62 {
		t.Errorf("generated tokens use %d symbols, want 62", len(used))
	}
}

func TestParseRejects(t *testing.T) {
	const (
		id     = "0123456789abcdef"
		secret = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqr"
	)
	if len(id) != 16 || len(secret) != 44 {
		t.Fatal("bad fixture")
	}
	good := "hx_" + id + "_" + secret
	if gotID, gotSecret, err := apikey.Parse(good); err != nil || gotID != id || gotSecret != secret {
		t.Fatalf("Parse(%q) = %q, %q, %v", good, gotID, gotSecret, err)
	}
	for name, token := range map[string]string{
		"empty":                  "",
		"prefix only":            "hx_",
		"missing prefix":         id + "_" + secret,
		"other prefix":           "hk_" + id + "_" + secret,
		"upper-case prefix":      "HX_" + id + "_" + secret,
		"prefix without _":       "hx" + id + "_" + secret,
		"no separator":           "hx_" + id + secret,
		"short id":               "hx_" + id[1:] + "_" + secret,
		"long id":                "hx_" + id + "0_" + secret,
		"short secret":           "hx_" + id + "_" + secret[1:],
		"long secret":            "hx_" + id + "_" + secret + "0",
		"empty id":               "hx__" + secret,
		"empty secret":           "hx_" + id + "_",
		"extra underscore end":   good + "_",
		"extra underscore mid":   "hx_" + id + "_" + secret[:20] + "_" + secret[21:],
		"double underscore":      "hx_" + id + "__" + secret[1:],
		"underscore in id":       "hx_" + id[:8] + "_" + id[9:] + "_" + secret,
		"dash in secret":         "hx_" + id + "_" + secret[:43] + "-",
		"plus in id":             "hx_" + id[:15] + "+" + "_" + secret,
		"slash in secret":        "hx_" + id + "_" + "/" + secret[1:],
		"space in secret":        "hx_" + id + "_" + secret[:43] + " ",
		"leading space":          " " + good,
		"trailing newline":       good + "\n",
		"non-ASCII letter":       "hx_" + id[:15] + "é" + "_" + secret[:43],
		"non-ASCII digit":        "hx_" + id + "_" + secret[:43] + "٣",
		"NUL":                    "hx_" + id + "_" + secret[:43] + "\x00",
		"Bearer prefix left in":  "Bearer " + good,
		"two tokens":             good + " " + good,
		"hex-looking but short":  "hx_deadbeef_cafebabe",
		"only underscores":       "hx_________________________________________________________________",
		"token repeated":         good + good,
		"id and secret swapped":  "hx_" + secret + "_" + id,
		"id only":                "hx_" + id,
		"unicode similar prefix": "һx_" + id + "_" + secret,
	} {
		if gotID, gotSecret, err := apikey.Parse(token); err != apikey.ErrMalformed || gotID != "" || gotSecret != "" {
			t.Errorf("%s: Parse(%q) = %q, %q, %v; want ErrMalformed", name, token, gotID, gotSecret, err)
		}
	}
}

func TestHashPHCFormat(t *testing.T) {
	h, err := apikey.Hash("secret", apikey.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	// 16-byte salt: 22 base64 characters; 32-byte hash: 43; no padding.
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$` + base64RE + `{22}\$` + base64RE + `{43}$`)
	if !re.MatchString(h) {
		t.Errorf("Hash = %q, want $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>", h)
	}
	h, err = apikey.Hash("secret", cheap)
	if err != nil {
		t.Fatal(err)
	}
	re = regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$` + base64RE + `{22}\$` + base64RE + `{43}$`)
	if !re.MatchString(h) {
		t.Errorf("Hash = %q", h)
	}
	// A fresh salt every time.
	h2, _ := apikey.Hash("secret", cheap)
	if h == h2 {
		t.Errorf("two hashes of one secret are equal: %q", h)
	}
}

// TestKnownVector checks the PHC encoding against independent Argon2id
// test vectors (golang.org/x/crypto/argon2's, password "password", salt
// "somesalt", 24-byte tags), so stored hashes stay readable by other tools.
func TestKnownVector(t *testing.T) {
	for _, phc := range []string{
		"$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$ZVrRXqxlLcWfcXCnMyv0m4Rpvh/bnCi7",
		"$argon2id$v=19$m=64,t=2,p=2$c29tZXNhbHQ$NQrDciL0Nsy1wJcvHr079rlYvyBxhBNi",
	} {
		ok, rehash, err := apikey.Verify("password", phc, cheap)
		if err != nil || !ok {
			t.Errorf("Verify(%q) = %v, %v", phc, ok, err)
		}
		// 24-byte tag and 8-byte salt: shorter than wanted.
		if !rehash {
			t.Errorf("Verify(%q): needsRehash false for a 24-byte tag and 8-byte salt", phc)
		}
		if ok, _, _ := apikey.Verify("Password", phc, cheap); ok {
			t.Errorf("Verify(%q) accepted the wrong password", phc)
		}
	}
}

func TestHashRejectsUnusableParams(t *testing.T) {
	for name, p := range map[string]apikey.Params{
		"zero":            {},
		"zero time":       {MemoryKiB: 64, Time: 0, Threads: 1, KeyLen: 32, SaltLen: 16},
		"zero threads":    {MemoryKiB: 64, Time: 1, Threads: 0, KeyLen: 32, SaltLen: 16},
		"zero memory":     {MemoryKiB: 0, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16},
		"zero key length": {MemoryKiB: 64, Time: 1, Threads: 1, KeyLen: 0, SaltLen: 16},
		"no salt":         {MemoryKiB: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 0},
		"short salt":      {MemoryKiB: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 4},
		"negative salt":   {MemoryKiB: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: -1},
		"huge memory":     {MemoryKiB: 1 << 31, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16},
	} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: Hash panicked: %v", name, r)
				}
			}()
			if h, err := apikey.Hash("secret", p); err == nil {
				t.Errorf("%s: Hash(%+v) = %q, want an error", name, p, h)
			}
			if g, err := apikey.Generate(p); err == nil {
				t.Errorf("%s: Generate(%+v) = %+v, want an error", name, p, g)
			}
		}()
	}
}

func TestVerify(t *testing.T) {
	h, err := apikey.Hash("right secret", cheap)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		secret string
		ok     bool
	}{
		{"right secret", true},
		{"wrong secret", false},
		{"right secreT", false},
		{"right secret ", false},
		{"", false},
		{"right", false},
	} {
		ok, rehash, err := apikey.Verify(c.secret, h, cheap)
		if err != nil || ok != c.ok || rehash {
			t.Errorf("Verify(%q) = %v, %v, %v; want %v, false, nil", c.secret, ok, rehash, err, c.ok)
		}
	}
}

func TestVerifyNeedsRehash(t *testing.T) {
	h, err := apikey.Hash("s", cheap)
	if err != nil {
		t.Fatal(err)
	}
	stronger := func(f func(p *apikey.Params)) apikey.Params {
		p := cheap
		f(&p)
		return p
	}
	for _, c := range []struct {
		name   string
		want   apikey.Params
		rehash bool
	}{
		{"same", cheap, false},
		{"more memory wanted", stronger(func(p *apikey.Params) { p.MemoryKiB = 128 }), true},
		{"more time wanted", stronger(func(p *apikey.Params) { p.Time = 2 }), true},
		{"more threads wanted", stronger(func(p *apikey.Params) { p.Threads = 2 }), true},
		{"longer key wanted", stronger(func(p *apikey.Params) { p.KeyLen = 64 }), true},
		{"longer salt wanted", stronger(func(p *apikey.Params) { p.SaltLen = 32 }), true},
		{"less memory wanted", stronger(func(p *apikey.Params) { p.MemoryKiB = 32 }), false},
		{"default wanted", apikey.DefaultParams(), true},
	} {
		ok, rehash, err := apikey.Verify("s", h, c.want)
		if err != nil || !ok || rehash != c.rehash {
			t.Errorf("%s: Verify = %v, %v, %v; want true, %v, nil", c.name, ok, rehash, err, c.rehash)
		}
		// A wrong secret never asks for a rehash.
		if ok, rehash, err := apikey.Verify("t", h, c.want); ok || rehash || err != nil {
			t.Errorf("%s: wrong secret: Verify = %v, %v, %v", c.name, ok, rehash, err)
		}
	}
	// Stored with the defaults, wanted cheap: strong enough.
	hd, err := apikey.Hash("s", apikey.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	if ok, rehash, err := apikey.Verify("s", hd, cheap); !ok || rehash || err != nil {
		t.Errorf("default hash, cheap wanted: Verify = %v, %v, %v", ok, rehash, err)
	}
}

func TestVerifyMalformedPHC(t *testing.T) {
	good, err := apikey.Hash("s", cheap)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	salt, sum := parts[4], parts[5]
	phc := func(alg, v, params, salt, sum string) string {
		return "$" + alg + "$" + v + "$" + params + "$" + salt + "$" + sum
	}
	for name, s := range map[string]string{
		"empty":              "",
		"plain text":         "s",
		"bcrypt":             "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"argon2i":            phc("argon2i", "v=19", "m=64,t=1,p=1", salt, sum),
		"argon2d":            phc("argon2d", "v=19", "m=64,t=1,p=1", salt, sum),
		"version 16":         phc("argon2id", "v=16", "m=64,t=1,p=1", salt, sum),
		"version missing":    "$argon2id$m=64,t=1,p=1$" + salt + "$" + sum,
		"version junk":       phc("argon2id", "v=19x", "m=64,t=1,p=1", salt, sum),
		"params missing p":   phc("argon2id", "v=19", "m=64,t=1", salt, sum),
		"params reordered":   phc("argon2id", "v=19", "t=1,m=64,p=1", salt, sum),
		"params junk after":  phc("argon2id", "v=19", "m=64,t=1,p=1,x=2", salt, sum),
		"params negative":    phc("argon2id", "v=19", "m=-64,t=1,p=1", salt, sum),
		"params empty":       phc("argon2id", "v=19", "", salt, sum),
		"zero time":          phc("argon2id", "v=19", "m=64,t=0,p=1", salt, sum),
		"zero threads":       phc("argon2id", "v=19", "m=64,t=1,p=0", salt, sum),
		"threads overflow":   phc("argon2id", "v=19", "m=64,t=1,p=256", salt, sum),
		"zero memory":        phc("argon2id", "v=19", "m=0,t=1,p=1", salt, sum),
		"terabytes":          phc("argon2id", "v=19", "m=4294967295,t=1,p=1", salt, sum),
		"memory overflow":    phc("argon2id", "v=19", "m=4294967296,t=1,p=1", salt, sum),
		"hours of passes":    phc("argon2id", "v=19", "m=64,t=4294967295,p=1", salt, sum),
		"salt not base64":    phc("argon2id", "v=19", "m=64,t=1,p=1", "!!!!", sum),
		"salt padded":        phc("argon2id", "v=19", "m=64,t=1,p=1", salt+"==", sum),
		"salt empty":         phc("argon2id", "v=19", "m=64,t=1,p=1", "", sum),
		"salt short":         phc("argon2id", "v=19", "m=64,t=1,p=1", "c2FsdA", sum),
		"hash empty":         phc("argon2id", "v=19", "m=64,t=1,p=1", salt, ""),
		"hash not base64":    phc("argon2id", "v=19", "m=64,t=1,p=1", salt, "@@@"),
		"hash too short":     phc("argon2id", "v=19", "m=64,t=1,p=1", salt, "AAA"),
		"missing hash":       "$argon2id$v=19$m=64,t=1,p=1$" + salt,
		"extra field":        good + "$x",
		"no leading dollar":  strings.TrimPrefix(good, "$"),
		"whitespace":         " " + good,
		"trailing newline":   good + "\n",
		"only dollars":       "$$$$$",
		"upper-case id":      phc("ARGON2ID", "v=19", "m=64,t=1,p=1", salt, sum),
		"url-safe base64":    phc("argon2id", "v=19", "m=64,t=1,p=1", strings.NewReplacer("+", "-", "/", "_").Replace(salt)+"-_", sum),
		"leading zero param": phc("argon2id", "v=19", "m=064,t=1,p=1", salt, sum),
	} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: Verify(%q) panicked: %v", name, s, r)
				}
			}()
			ok, rehash, err := apikey.Verify("s", s, cheap)
			if err == nil || ok || rehash {
				t.Errorf("%s: Verify(%q) = %v, %v, %v; want an error", name, s, ok, rehash, err)
			}
		}()
	}
	// The untouched string still verifies.
	if ok, _, err := apikey.Verify("s", good, cheap); !ok || err != nil {
		t.Fatalf("Verify(good) = %v, %v", ok, err)
	}
}

// BenchmarkVerify measures one verification with the production
// parameters: the cost the edge's key cache saves on every request.
func BenchmarkVerify(b *testing.B) {
	h, err := apikey.Hash("benchmark secret", apikey.DefaultParams())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ok, _, err := apikey.Verify("benchmark secret", h, apikey.DefaultParams())
		if !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
