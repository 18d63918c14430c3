package server

import (
	"encoding/json"
	"testing"

	"github.com/healthexport/libs/hae"
)

// FuzzValidAgrees: the edge accepts exactly the bodies encoding/json
// would, nested at most hae.MaxDepth deep (gjson is only faster), and never
// recurses into a deeper one. Deep and hostile seeds are in
// testdata/fuzz/FuzzValidAgrees.
func FuzzValidAgrees(f *testing.F) {
	for _, s := range []string{`{}`, `{"data":{"metrics":[{"name":"heart_rate","data":[{"Avg":70}]}]}}`, `[1e5, -0.5, true, null]`,
		"{\"a\":\"\xff\"}", "{\"a\":\"\x01\"}", `01`, `1.`, `{"a" : 1 , }`, `[`, `"\ud800"`, `{"a":1}x`, ` `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := checkJSON(b)
		// FuzzTooDeep checks hae.TooDeep against encoding/json's tokens.
		want := json.Valid(b) && hae.TooDeep(b, hae.MaxDepth) < 0
		if (err == nil) != want {
			t.Fatalf("the edge says %v, encoding/json (depth ≤ %d) %v, on %q", err, hae.MaxDepth, want, b)
		}
		if err != nil && err.code != "too_deep" && err.code != "malformed_json" {
			t.Fatalf("refused with %s", err.code)
		}
	})
}
