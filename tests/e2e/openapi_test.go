package e2e

// schema/openapi.yaml against the edge: the documented operations are
// exactly the routes services/edge/internal/server registers, errors are
// described with the Error schema, the edge serves the document, and a
// standard linter (redocly) accepts it.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/healthexport/libs/testenv"
)

var httpMethods = map[string]string{
	"Get": "GET", "Post": "POST", "Put": "PUT", "Patch": "PATCH", "Delete": "DELETE",
	"Head": "HEAD", "Options": "OPTIONS", "Trace": "TRACE", "Connect": "CONNECT",
}

var fiberParam = regexp.MustCompile(`:([A-Za-z_][A-Za-z0-9_]*)\??`)

// edgeRoutes reads the routes the edge registers from the Go source of its
// server package: calls like s.app.Get("/livez", ...) and, on groups made
// with g := s.app.Group("/v1", ...), g.Post("/ingest", ...). Fiber's
// :param becomes OpenAPI's {param}. Returned as "METHOD /path".
func edgeRoutes(t *testing.T) map[string]bool {
	t.Helper()
	dir := filepath.Join(testenv.RepoRoot(), "services", "edge", "internal", "server")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]bool{}
	fset := token.NewFileSet()
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			groups := map[string]string{} // variable -> path prefix
			// prefix of a receiver: the app itself, or a known group
			prefixOf := func(x ast.Expr) (string, bool) {
				switch r := x.(type) {
				case *ast.SelectorExpr:
					return "", r.Sel.Name == "app"
				case *ast.Ident:
					if r.Name == "app" {
						return "", true
					}
					p, ok := groups[r.Name]
					return p, ok
				}
				return "", false
			}
			// call returns the method name, receiver prefix and first
			// string argument of a route or group call.
			call := func(x ast.Expr) (method, prefix, path string, ok bool) {
				c, isCall := x.(*ast.CallExpr)
				if !isCall || len(c.Args) == 0 {
					return
				}
				sel, isSel := c.Fun.(*ast.SelectorExpr)
				if !isSel {
					return
				}
				lit, isLit := c.Args[0].(*ast.BasicLit)
				if !isLit || lit.Kind != token.STRING {
					return
				}
				p, known := prefixOf(sel.X)
				if !known {
					return
				}
				path, _ = strconv.Unquote(lit.Value)
				return sel.Sel.Name, p, path, true
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.AssignStmt:
					if len(x.Lhs) == 1 && len(x.Rhs) == 1 {
						if m, p, path, ok := call(x.Rhs[0]); ok && m == "Group" {
							if id, isID := x.Lhs[0].(*ast.Ident); isID {
								groups[id.Name] = p + path
							}
						}
					}
				case *ast.CallExpr:
					if m, p, path, ok := call(x); ok && httpMethods[m] != "" {
						routes[httpMethods[m]+" "+fiberParam.ReplaceAllString(p+path, "{$1}")] = true
					}
				}
				return true
			})
		}
	}
	if !routes["POST /v1/ingest"] {
		t.Fatalf("reading the routes from %s found no POST /v1/ingest (found %v): has the registration changed shape?", dir, routes)
	}
	return routes
}

type openAPIDoc struct {
	Paths      map[string]map[string]any `yaml:"paths"`
	Security   []map[string][]string     `yaml:"security"`
	Components map[string]any            `yaml:"components"`
	raw        map[string]any
}

func loadOpenAPI(t *testing.T) *openAPIDoc {
	t.Helper()
	b := repoFile(t, "schema/openapi.yaml")
	var doc openAPIDoc
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("schema/openapi.yaml: %v", err)
	}
	if err := yaml.Unmarshal(b, &doc.raw); err != nil {
		t.Fatal(err)
	}
	if len(doc.Paths) == 0 {
		t.Fatal("schema/openapi.yaml documents no paths")
	}
	return &doc
}

var openAPIMethods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true, "trace": true}

// operations returns "METHOD /path" -> operation object.
func (d *openAPIDoc) operations() map[string]map[string]any {
	out := map[string]map[string]any{}
	for path, item := range d.Paths {
		for m, op := range item {
			if openAPIMethods[m] {
				o, _ := op.(map[string]any)
				out[strings.ToUpper(m)+" "+path] = o
			}
		}
	}
	return out
}

// resolve follows a local $ref ("#/components/responses/Error").
func (d *openAPIDoc) resolve(v any) (map[string]any, error) {
	m, _ := v.(map[string]any)
	for i := 0; i < 10; i++ {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, nil
		}
		p, ok := strings.CutPrefix(ref, "#/")
		if !ok {
			return nil, fmt.Errorf("non-local $ref %s", ref)
		}
		var cur any = d.raw
		for _, part := range strings.Split(p, "/") {
			part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
			cm, _ := cur.(map[string]any)
			if cur = cm[part]; cur == nil {
				return nil, fmt.Errorf("$ref %s does not resolve", ref)
			}
		}
		m, _ = cur.(map[string]any)
	}
	return nil, fmt.Errorf("$ref loop")
}

func TestOpenAPIRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	documented := map[string]bool{}
	for k := range doc.operations() {
		documented[k] = true
	}
	served := edgeRoutes(t)
	var missing, extra []string
	for r := range served {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for r := range documented {
		if !served[r] {
			extra = append(extra, r)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	for _, r := range missing {
		t.Errorf("the edge serves %s, which schema/openapi.yaml does not document", r)
	}
	for _, r := range extra {
		t.Errorf("schema/openapi.yaml documents %s, which the edge does not serve", r)
	}
	t.Logf("%d routes", len(served))
}

// TestOpenAPIErrorResponses: every operation answers something documented,
// every $ref resolves, and the API's (authenticated) operations describe
// each 4xx/5xx with the Error schema and document what the /v1 middleware
// (authentication, rate limit) can answer anywhere: 401, 429, 503.
func TestOpenAPIErrorResponses(t *testing.T) {
	doc := loadOpenAPI(t)
	walkRefs(doc.raw, func(ref string) {
		if _, err := doc.resolve(map[string]any{"$ref": ref}); err != nil {
			t.Error(err)
		}
	})
	for _, key := range sortedKeys(doc.operations()) {
		op := doc.operations()[key]
		responses, _ := op["responses"].(map[string]any)
		ok2xx := false
		for code := range responses {
			ok2xx = ok2xx || strings.HasPrefix(code, "2")
		}
		if !ok2xx {
			t.Errorf("%s: no 2xx response", key)
		}
		// security: [] opts out (the health endpoints); otherwise the
		// document's security applies.
		sec, hasSec := op["security"].([]any)
		public := hasSec && len(sec) == 0
		if public {
			continue
		}
		for _, code := range []string{"401", "429", "503"} {
			if responses[code] == nil {
				t.Errorf("%s: no %s response (every /v1 request can get it)", key, code)
			}
		}
		for _, code := range sortedKeys(responses) {
			if !strings.HasPrefix(code, "4") && !strings.HasPrefix(code, "5") {
				continue
			}
			r, err := doc.resolve(responses[code])
			if err != nil {
				t.Errorf("%s %s: %v", key, code, err)
				continue
			}
			content, _ := r["content"].(map[string]any)
			js, _ := content["application/json"].(map[string]any)
			schema, _ := js["schema"].(map[string]any)
			if schema["$ref"] != "#/components/schemas/Error" {
				t.Errorf("%s %s: the body is not application/json with the Error schema (%v)", key, code, content)
			}
		}
	}
	if _, err := doc.resolve(map[string]any{"$ref": "#/components/schemas/Error"}); err != nil {
		t.Error(err)
	}
}

func walkRefs(v any, fn func(string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "$ref" {
				fn(s)
				continue
			}
			walkRefs(e, fn)
		}
	case []any:
		for _, e := range x {
			walkRefs(e, fn)
		}
	}
}

// TestOpenAPIServed: the edge serves schema/openapi.yaml as it is in the
// repository at /openapi.yaml.
func TestOpenAPIServed(t *testing.T) {
	s := newStack(t)
	s.start("edge")
	s.waitReady("edge")
	resp, err := http.Get(s.edgeURL + "/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "yaml") {
		t.Fatalf("GET /openapi.yaml: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !bytes.Equal(b, repoFile(t, "schema/openapi.yaml")) {
		t.Error("the edge serves another /openapi.yaml than schema/openapi.yaml (is bin/edge stale? make build)")
	}
}

// redocly returns the pinned redocly CLI scripts/test.sh installs
// (HEALTH_REDOCLY, else .run/redocly); without it the test fails unless
// HEALTH_SKIP_REDOCLY=1.
func redocly(t *testing.T) string {
	t.Helper()
	if os.Getenv("HEALTH_SKIP_REDOCLY") == "1" {
		t.Skip("HEALTH_SKIP_REDOCLY=1")
	}
	for _, p := range []string{os.Getenv("HEALTH_REDOCLY"), filepath.Join(testenv.RepoRoot(), ".run", "redocly", "node_modules", ".bin", "redocly")} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	t.Fatal("redocly not found: `make test` installs it under .run/redocly (npm); HEALTH_SKIP_REDOCLY=1 skips this test")
	return ""
}

// TestOpenAPILint: schema/openapi.yaml passes redocly's recommended rules
// (schema/redocly.yaml) without an error or a warning.
func TestOpenAPILint(t *testing.T) {
	cmd := exec.Command(redocly(t), "lint", "--config", "schema/redocly.yaml", "--format", "json", "schema/openapi.yaml")
	cmd.Dir = testenv.RepoRoot()
	// No usage report and no look for a newer version: the test is offline.
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var report struct {
		Totals   struct{ Errors, Warnings int }
		Problems []struct {
			RuleID, Severity, Message string
			Location                  []struct{ Pointer string }
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("redocly lint: %v (%v)\n%s\n%s", err, runErr, stdout.String(), stderr.String())
	}
	for _, p := range report.Problems {
		where := ""
		if len(p.Location) > 0 {
			where = p.Location[0].Pointer
		}
		t.Errorf("%s %s at %s: %s", p.Severity, p.RuleID, where, p.Message)
	}
	if report.Totals.Errors+report.Totals.Warnings > 0 || runErr != nil {
		t.Errorf("redocly lint: %d errors, %d warnings (%v)", report.Totals.Errors, report.Totals.Warnings, runErr)
	}
}
