package server

import (
	"encoding/json"
	"testing"

	"github.com/tidwall/gjson"
)

// FuzzValidAgrees: the edge accepts exactly the bodies encoding/json
// would (gjson is only faster).
func FuzzValidAgrees(f *testing.F) {
	for _, s := range []string{`{}`, `{"data":{"metrics":[{"name":"heart_rate","data":[{"Avg":70}]}]}}`, `[1e5, -0.5, true, null]`,
		"{\"a\":\"\xff\"}", "{\"a\":\"\x01\"}", `01`, `1.`, `{"a" : 1 , }`, `[`, `"\ud800"`, `{"a":1}x`, ` `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if g, s := gjson.ValidBytes(b), json.Valid(b); g != s {
			t.Fatalf("gjson says %v, encoding/json %v, on %q", g, s, b)
		}
	})
}
