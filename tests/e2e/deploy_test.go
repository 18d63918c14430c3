package e2e

// The deployment files (compose.yaml, services/*/Dockerfile, deploy/) checked
// without Docker: the modules build on their own as the images build them,
// compose gives every service each variable it reads, promtool accepts the
// Prometheus files and their alerts behave, and every metric the dashboard
// and the alerts query is exported by the running services.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/healthexport/libs/testenv"
)

// appServices are the project's own services: compose service name =
// directory under services/ = binary.
var appServices = []string{"edge", "raw-archiver", "metric-writer"}

func repoFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func yamlFile(t *testing.T, rel string) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(repoFile(t, rel), &doc); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return doc
}

// ---- building as the images do ---------------------------------------------

// TestDeployBuildGOWORKOff builds every command the way its Dockerfile does:
// in its own module, without go.work, so the go.mod replace lines and go.sum
// must be complete.
func TestDeployBuildGOWORKOff(t *testing.T) {
	out := t.TempDir()
	for _, dir := range []string{"services/edge", "services/raw-archiver", "services/metric-writer", "tools/healthctl"} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command("go", "build", "-o", filepath.Join(out, filepath.Base(dir)), ".")
			cmd.Dir = filepath.Join(testenv.RepoRoot(), dir)
			cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("GOWORK=off go build in %s: %v\n%s", dir, err, b)
			}
		})
	}
}

// localReplaces returns the repo-relative directories a module's go.mod
// replace lines point at (only those are used when GOWORK=off).
func localReplaces(t *testing.T, moduleDir string) []string {
	t.Helper()
	var dirs []string
	inBlock := false
	for _, line := range strings.Split(string(repoFile(t, filepath.Join(moduleDir, "go.mod"))), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "replace ("):
			inBlock = true
			continue
		case inBlock && line == ")":
			inBlock = false
			continue
		case strings.HasPrefix(line, "replace "):
			line = strings.TrimPrefix(line, "replace ")
		case !inBlock:
			continue
		}
		_, target, ok := strings.Cut(line, "=>")
		target = strings.TrimSpace(target)
		if !ok || !strings.HasPrefix(target, ".") {
			continue
		}
		dirs = append(dirs, filepath.ToSlash(filepath.Clean(filepath.Join(moduleDir, target))))
	}
	return dirs
}

// TestDeployDockerfiles checks each service's Dockerfile against its module
// and compose.yaml: what it builds has every replaced module copied in, it
// builds with GOWORK=off, and the runtime stage has what the health check runs.
func TestDeployDockerfiles(t *testing.T) {
	compose := yamlFile(t, "compose.yaml")
	services, _ := compose["services"].(map[string]any)
	buildDir := regexp.MustCompile(`cd /src/(\S+) && (?:\S+=\S+ )*go build`)
	copied := regexp.MustCompile(`(?m)^COPY\s+(?:--\S+\s+)*(\S+)\s+\S+\s*$`)
	for _, name := range appServices {
		t.Run(name, func(t *testing.T) {
			rel := "services/" + name + "/Dockerfile"
			text := string(repoFile(t, rel))
			svc, _ := services[name].(map[string]any)
			build, _ := svc["build"].(map[string]any)
			if build["context"] != "." || build["dockerfile"] != rel {
				t.Errorf("compose.yaml: %s builds with %v, want context . and dockerfile %s", name, build, rel)
			}
			stages := strings.Split(text, "\nFROM ")
			if len(stages) < 2 {
				t.Fatalf("%s: want a build stage and a runtime stage", rel)
			}
			buildStage, runtime := strings.Join(stages[:len(stages)-1], "\nFROM "), stages[len(stages)-1]
			have := map[string]bool{}
			for _, m := range copied.FindAllStringSubmatch(buildStage, -1) {
				have[strings.TrimSuffix(m[1], "/")] = true
			}
			dirs := buildDir.FindAllStringSubmatch(buildStage, -1)
			if len(dirs) == 0 {
				t.Fatalf("%s: no `cd /src/<module> && go build` in the build stage", rel)
			}
			built := map[string]bool{}
			for _, m := range dirs {
				dir := m[1]
				built[dir] = true
				for _, need := range append([]string{dir}, localReplaces(t, dir)...) {
					if !have[need] {
						t.Errorf("%s: builds %s but does not COPY %s (its go.mod replaces point there)", rel, dir, need)
					}
				}
			}
			if !built["services/"+name] {
				t.Errorf("%s: does not build services/%s", rel, name)
			}
			if !strings.Contains(buildStage, "GOWORK=off") {
				t.Errorf("%s: the build must set GOWORK=off (there is no go.work in the image)", rel)
			}
			if !strings.Contains(runtime, `ENTRYPOINT ["/usr/local/bin/`+name+`"]`) {
				t.Errorf("%s: runtime stage does not run /usr/local/bin/%s", rel, name)
			}
			hc, _ := svc["healthcheck"].(map[string]any)
			test := fmt.Sprint(hc["test"])
			for _, tool := range []string{"curl", "wget"} {
				if strings.Contains(test, tool) && !regexp.MustCompile(`apt-get install[^\n]*\b`+tool+`\b`).MatchString(runtime) {
					t.Errorf("%s: the health check runs %s, which the runtime stage does not install", rel, tool)
				}
			}
		})
	}
}

// ---- compose.yaml and the variables the services read -----------------------

// envVar is one env tag of a settings struct.
type envVar struct {
	Name, Default string
	Required      bool
}

// serviceEnv returns the variables a service reads: the env tags of the
// settings struct in services/<name>/run.go, with those of the structs it
// embeds as fields (stream.Config, stream.BatchConfig), read from the Go
// source.
func serviceEnv(t *testing.T, name string) map[string]envVar {
	t.Helper()
	root := testenv.RepoRoot()
	out := map[string]envVar{}
	r := &envReader{t: t, root: root, pkgs: map[string]*envPkg{}}
	r.collect(r.pkg(filepath.Join(root, "services", name)), "settings", "", out)
	if len(out) == 0 {
		t.Fatalf("services/%s: no env tags found in its settings struct", name)
	}
	return out
}

type envPkg struct {
	types   map[string]*ast.StructType
	imports map[string]string // local name -> import path, per package (files agree here)
}

type envReader struct {
	t    *testing.T
	root string
	pkgs map[string]*envPkg
}

func (r *envReader) pkg(dir string) *envPkg {
	if p := r.pkgs[dir]; p != nil {
		return p
	}
	p := &envPkg{types: map[string]*ast.StructType{}, imports: map[string]string{}}
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			r.t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			local := filepath.Base(path)
			if imp.Name != nil {
				local = imp.Name.Name
			}
			p.imports[local] = path
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, s := range gd.Specs {
				if ts, ok := s.(*ast.TypeSpec); ok {
					if st, ok := ts.Type.(*ast.StructType); ok {
						p.types[ts.Name.Name] = st
					}
				}
			}
		}
	}
	r.pkgs[dir] = p
	return p
}

// dirOf maps the project's import paths to directories
// (github.com/healthexport/libs/stream -> <root>/libs/stream).
func (r *envReader) dirOf(importPath string) (string, bool) {
	rest, ok := strings.CutPrefix(importPath, "github.com/healthexport/")
	if !ok {
		return "", false
	}
	return filepath.Join(r.root, filepath.FromSlash(rest)), true
}

func (r *envReader) collect(p *envPkg, typeName, prefix string, out map[string]envVar) {
	st := p.types[typeName]
	if st == nil {
		r.t.Fatalf("struct %s not found", typeName)
	}
	for _, f := range st.Fields.List {
		tag := reflect.StructTag("")
		if f.Tag != nil {
			s, _ := strconv.Unquote(f.Tag.Value)
			tag = reflect.StructTag(s)
		}
		if env, ok := tag.Lookup("env"); ok && env != "-" {
			name, opts, _ := strings.Cut(env, ",")
			if name != "" {
				out[prefix+name] = envVar{Name: prefix + name, Default: tag.Get("envDefault"), Required: slices.Contains(strings.Split(opts, ","), "required")}
				continue
			}
		}
		// An untagged struct field: its own fields' tags, with envPrefix.
		sub := prefix + tag.Get("envPrefix")
		switch ft := f.Type.(type) {
		case *ast.Ident:
			if p.types[ft.Name] != nil {
				r.collect(p, ft.Name, sub, out)
			}
		case *ast.SelectorExpr:
			pkgName, _ := ft.X.(*ast.Ident)
			if pkgName == nil {
				continue
			}
			if dir, ok := r.dirOf(p.imports[pkgName.Name]); ok {
				if other := r.pkg(dir); other.types[ft.Sel.Name] != nil {
					r.collect(other, ft.Sel.Name, sub, out)
				}
			}
		}
	}
}

// dotEnvExample reads .env.example's NAME=value lines (quotes removed).
func dotEnvExample(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	line := regexp.MustCompile(`^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$`)
	sc := bufio.NewScanner(strings.NewReader(string(repoFile(t, ".env.example"))))
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v := strings.TrimSpace(m[2])
		if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out[m[1]] = v
	}
	return out
}

// composeEnv returns a compose service's environment (map or list form;
// merge keys are resolved by the YAML decoder).
func composeEnv(t *testing.T, svc map[string]any) map[string]string {
	t.Helper()
	out := map[string]string{}
	switch env := svc["environment"].(type) {
	case map[string]any:
		for k, v := range env {
			if v == nil {
				out[k] = ""
			} else {
				out[k] = fmt.Sprint(v)
			}
		}
	case []any:
		for _, e := range env {
			k, v, _ := strings.Cut(fmt.Sprint(e), "=")
			out[k] = v
		}
	case nil:
	default:
		t.Fatalf("environment of unexpected type %T", env)
	}
	return out
}

// substitution is one ${NAME...} or $NAME of a compose value.
type substitution struct {
	Name       string
	Default    string
	HasDefault bool
}

var substRe = regexp.MustCompile(`\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))`)

func substitutions(s string) []substitution {
	s = strings.ReplaceAll(s, "$$", "") // an escaped dollar
	var out []substitution
	for _, m := range substRe.FindAllStringSubmatch(s, -1) {
		if m[4] != "" {
			out = append(out, substitution{Name: m[4]})
			continue
		}
		sub := substitution{Name: m[1]}
		if strings.HasSuffix(m[2], "-") {
			sub.Default, sub.HasDefault = m[3], true
		}
		out = append(out, sub)
	}
	return out
}

// walkStrings calls fn with every string (keys too) of a decoded YAML tree.
func walkStrings(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case map[string]any:
		for k, e := range x {
			fn(k)
			walkStrings(e, fn)
		}
	case []any:
		for _, e := range x {
			walkStrings(e, fn)
		}
	}
}

func TestComposeEnvironment(t *testing.T) {
	compose := yamlFile(t, "compose.yaml")
	services, _ := compose["services"].(map[string]any)
	example := dotEnvExample(t)

	for _, name := range appServices {
		t.Run(name, func(t *testing.T) {
			svc, ok := services[name].(map[string]any)
			if !ok {
				t.Fatalf("compose.yaml has no service %s", name)
			}
			reads := serviceEnv(t, name)
			set := composeEnv(t, svc)
			for _, v := range sortedKeys(reads) {
				if _, ok := set[v]; !ok {
					t.Errorf("%s reads %s, which compose.yaml does not set for it", name, v)
				}
				if _, ok := example[v]; !ok {
					t.Errorf("%s reads %s, which .env.example does not document (no %s= line)", name, v, v)
				}
			}
			for _, v := range sortedKeys(set) {
				if _, ok := reads[v]; !ok {
					t.Errorf("compose.yaml sets %s for %s, which does not read it", v, name)
				}
			}
			for _, v := range sortedKeys(set) {
				val := set[v]
				subs := substitutions(val)
				// What compose fixes must fit its network: URLs name a
				// compose service, listen addresses every interface.
				if len(subs) == 0 && strings.HasSuffix(v, "_URL") {
					u, err := url.Parse(val)
					if err != nil || services[u.Hostname()] == nil {
						t.Errorf("%s: %s=%s does not point at a compose service", name, v, val)
					}
				}
				if strings.HasSuffix(v, "_ADDR") {
					host, port, err := net.SplitHostPort(val)
					if err != nil || (host != "0.0.0.0" && host != "") {
						t.Errorf("%s: %s=%s, want 0.0.0.0:<port> (reachable from the other containers)", name, v, val)
						continue
					}
					hc, _ := svc["healthcheck"].(map[string]any)
					if test := fmt.Sprint(hc["test"]); !strings.Contains(test, ":"+port+"/readyz") {
						t.Errorf("%s: health check %s does not ask :%s/readyz (%s)", name, test, port, v)
					}
				}
			}
		})
	}

	t.Run("substitutions", func(t *testing.T) {
		n := 0
		reported := map[substitution]bool{} // merge keys repeat values
		walkStrings(compose, func(s string) {
			for _, sub := range substitutions(s) {
				n++
				if reported[sub] {
					continue
				}
				reported[sub] = true
				want, ok := example[sub.Name]
				if !ok {
					t.Errorf("compose.yaml substitutes ${%s}, which .env.example does not have", sub.Name)
					continue
				}
				if !sub.HasDefault {
					t.Errorf("compose.yaml: ${%s} has no default (write ${%s:-%s})", sub.Name, sub.Name, want)
				} else if sub.Default != want {
					t.Errorf("compose.yaml: ${%s} defaults to %q, .env.example has %q", sub.Name, sub.Default, want)
				}
			}
		})
		if n == 0 {
			t.Error("compose.yaml substitutes nothing from .env")
		}
	})
}

// TestComposeEnvAccepted starts the services with the environment
// compose.yaml gives them (each ${VAR:-default} at its default), keeping only
// this test's own addresses, database, stream and prefixes, and sends an
// upload through: the values compose passes are ones the services accept.
func TestComposeEnvAccepted(t *testing.T) {
	compose := yamlFile(t, "compose.yaml")
	services, _ := compose["services"].(map[string]any)
	s := newStack(t)
	own := map[string]bool{}
	for _, kv := range s.env {
		k, _, _ := strings.Cut(kv, "=")
		own[k] = true
	}
	delete(own, "BATCH_MAX_AGE") // the harness shortens it; compose's is fine
	delete(own, "LOG_LEVEL")
	resolve := func(v string) string {
		return substRe.ReplaceAllStringFunc(v, func(m string) string {
			subs := substitutions(m)
			if len(subs) == 1 && subs[0].HasDefault {
				return subs[0].Default
			}
			return ""
		})
	}
	for _, name := range []string{"raw-archiver", "metric-writer", "edge"} {
		svc, _ := services[name].(map[string]any)
		var env []string
		for k, v := range composeEnv(t, svc) {
			if !own[k] {
				env = append(env, k+"="+resolve(v))
			}
		}
		sort.Strings(env)
		t.Logf("%s with %s", name, strings.Join(env, " "))
		s.startAs(name, name, env...)
	}
	for _, name := range []string{"raw-archiver", "metric-writer", "edge"} {
		s.waitReady(name)
	}
	_, key := s.user("compose@example.org")
	body := []byte(`{"data":{"metrics":[{"name":"heart_rate","units":"count/min","data":[{"date":"2025-03-01 08:00:00 -0800","Avg":70}]}]}}`)
	if status, reply := s.post(key, body, nil); status != 202 {
		t.Fatalf("upload: %d %s", status, reply)
	}
	s.drained(30 * time.Second)
	if n := s.count(`SELECT count(*) FROM heart_rate_metrics`); n != 1 {
		t.Errorf("%d heart_rate rows, want 1", n)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestComposeServices checks the rest of compose.yaml: health checks,
// start order, mounted files, NATS settings, and the monitoring profile.
func TestComposeServices(t *testing.T) {
	compose := yamlFile(t, "compose.yaml")
	services, _ := compose["services"].(map[string]any)
	volumes, _ := compose["volumes"].(map[string]any)
	root := testenv.RepoRoot()
	want := []string{"postgres", "redis", "nats", "edge", "raw-archiver", "metric-writer", "prometheus", "grafana"}
	for _, name := range want {
		if services[name] == nil {
			t.Errorf("compose.yaml has no service %s", name)
		}
	}
	// mounts: target -> source, per service
	mounts := map[string]map[string]string{}
	for name, v := range services {
		svc, _ := v.(map[string]any)
		hc, _ := svc["healthcheck"].(map[string]any)
		if test, _ := hc["test"].([]any); len(test) < 2 {
			t.Errorf("%s: no health check (healthcheck.test)", name)
		}
		profiles, _ := svc["profiles"].([]any)
		monitoring := name == "prometheus" || name == "grafana"
		if got := fmt.Sprint(profiles); monitoring != (got == "[monitoring]") {
			t.Errorf("%s: profiles %s; only prometheus and grafana belong to the monitoring profile", name, got)
		}
		mounts[name] = map[string]string{}
		vols, _ := svc["volumes"].([]any)
		for _, m := range vols {
			parts := strings.Split(fmt.Sprint(m), ":")
			if len(parts) < 2 {
				t.Errorf("%s: volume %v is not source:target", name, m)
				continue
			}
			src, dst := parts[0], parts[1]
			mounts[name][dst] = src
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("%s mounts %s, which is not in the repository", name, src)
				}
			} else if _, ok := volumes[src]; !ok {
				t.Errorf("%s mounts volume %s, which is not declared under volumes:", name, src)
			}
		}
	}

	// Start order: a service waits for the health of what it connects to.
	needs := map[string]string{"DATABASE_URL": "postgres", "REDIS_URL": "redis", "NATS_URL": "nats"}
	for _, name := range appServices {
		svc, _ := services[name].(map[string]any)
		deps, _ := svc["depends_on"].(map[string]any)
		env := composeEnv(t, svc)
		for v, dep := range needs {
			if _, uses := env[v]; !uses {
				continue
			}
			d, _ := deps[dep].(map[string]any)
			if d["condition"] != "service_healthy" {
				t.Errorf("%s uses %s but does not wait for %s to be healthy (depends_on.%s.condition)", name, v, dep, dep)
			}
		}
		if svc["restart"] == nil {
			t.Errorf("%s: no restart policy", name)
		}
	}

	// NATS: the dev server's settings (scripts/deps.sh), its store on a volume.
	conf := string(repoFile(t, "deploy/nats.conf"))
	deps := string(repoFile(t, "scripts/deps.sh"))
	for _, key := range []string{"max_payload", "sync_interval"} {
		line := regexp.MustCompile(`(?m)^\s*` + key + `:.*$`)
		devLine, confLine := strings.TrimSpace(line.FindString(deps)), strings.TrimSpace(line.FindString(conf))
		if devLine == "" || devLine != confLine {
			t.Errorf("deploy/nats.conf has %q, the dev server (scripts/deps.sh) %q", confLine, devLine)
		}
	}
	if !regexp.MustCompile(`(?m)^\s*sync_interval:\s*always\s*$`).MatchString(conf) {
		t.Error("deploy/nats.conf: JetStream must have sync_interval: always")
	}
	store := regexp.MustCompile(`store_dir:\s*"?([^"\s]+)"?`).FindStringSubmatch(conf)
	if store == nil {
		t.Error("deploy/nats.conf: no store_dir")
	} else if src := mounts["nats"][store[1]]; src == "" || strings.HasPrefix(src, ".") {
		t.Errorf("nats: the JetStream store %s is not on a named volume (mounted: %v)", store[1], mounts["nats"])
	}
	if mounts["nats"]["/etc/nats/nats.conf"] != "./deploy/nats.conf" {
		t.Errorf("nats: deploy/nats.conf is not mounted at /etc/nats/nats.conf: %v", mounts["nats"])
	}

	// Prometheus scrapes each service where compose makes it listen.
	if mounts["prometheus"]["/etc/prometheus"] != "./deploy/prometheus" {
		t.Errorf("prometheus: deploy/prometheus is not mounted at /etc/prometheus: %v", mounts["prometheus"])
	}
	prom := yamlFile(t, "deploy/prometheus/prometheus.yml")
	targets := map[string]string{}
	scrapes, _ := prom["scrape_configs"].([]any)
	for _, sc := range scrapes {
		m, _ := sc.(map[string]any)
		statics, _ := m["static_configs"].([]any)
		for _, s := range statics {
			sm, _ := s.(map[string]any)
			ts, _ := sm["targets"].([]any)
			for _, tg := range ts {
				targets[fmt.Sprint(tg)] = fmt.Sprint(m["job_name"])
			}
		}
	}
	addrVar := map[string]string{"edge": "EDGE_ADDR", "raw-archiver": "ARCHIVER_METRICS_ADDR", "metric-writer": "WRITER_METRICS_ADDR"}
	for _, name := range appServices {
		svc, _ := services[name].(map[string]any)
		_, port, _ := net.SplitHostPort(composeEnv(t, svc)[addrVar[name]])
		if job := targets[name+":"+port]; job != name {
			t.Errorf("prometheus.yml does not scrape %s:%s as job %s (targets: %v)", name, port, name, targets)
		}
	}
	if rf, _ := prom["rule_files"].([]any); !slices.Contains(rf, any("alerts.yml")) {
		t.Errorf("prometheus.yml: rule_files %v does not load alerts.yml", rf)
	}

	// Grafana: the provisioned datasource is compose's Prometheus, and the
	// dashboards provider reads where compose mounts the dashboards.
	if mounts["grafana"]["/etc/grafana/provisioning"] != "./deploy/grafana/provisioning" {
		t.Errorf("grafana: provisioning not mounted: %v", mounts["grafana"])
	}
	ds := grafanaDatasource(t)
	if u, err := url.Parse(ds.URL); err != nil || u.Hostname() != "prometheus" || u.Port() != "9090" {
		t.Errorf("grafana datasource URL %q, want http://prometheus:9090", ds.URL)
	}
	prov := yamlFile(t, "deploy/grafana/provisioning/dashboards/health-export.yml")
	providers, _ := prov["providers"].([]any)
	if len(providers) != 1 {
		t.Fatalf("dashboards provisioning: want one provider, got %v", providers)
	}
	p, _ := providers[0].(map[string]any)
	opts, _ := p["options"].(map[string]any)
	path := fmt.Sprint(opts["path"])
	if mounts["grafana"][path] != "./deploy/grafana/dashboards" {
		t.Errorf("grafana: the provider reads %s, where compose mounts %q, not ./deploy/grafana/dashboards", path, mounts["grafana"][path])
	}
	grafana, _ := services["grafana"].(map[string]any)
	home := composeEnv(t, grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
	if rel, ok := strings.CutPrefix(home, path+"/"); home != "" && (!ok || !fileExists(filepath.Join(root, "deploy/grafana/dashboards", rel))) {
		t.Errorf("grafana: home dashboard %s is not one of deploy/grafana/dashboards", home)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

type grafanaDS struct {
	Name, UID, Type, URL string
}

func grafanaDatasource(t *testing.T) grafanaDS {
	t.Helper()
	var doc struct {
		Datasources []grafanaDS `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(repoFile(t, "deploy/grafana/provisioning/datasources/prometheus.yml"), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Datasources) != 1 || doc.Datasources[0].UID == "" || doc.Datasources[0].Type != "prometheus" {
		t.Fatalf("datasource provisioning: want one prometheus datasource with a uid, got %+v", doc.Datasources)
	}
	return doc.Datasources[0]
}

// ---- promtool -----------------------------------------------------------------

// promtool returns promtool's path. scripts/test.sh installs it (Debian's
// prometheus package); without it the test fails unless
// HEALTH_SKIP_PROMTOOL=1.
func promtool(t *testing.T) string {
	t.Helper()
	if os.Getenv("HEALTH_SKIP_PROMTOOL") == "1" {
		t.Skip("HEALTH_SKIP_PROMTOOL=1")
	}
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: `make test` installs it (apt-get install prometheus); HEALTH_SKIP_PROMTOOL=1 skips this test")
	}
	return p
}

func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = testenv.RepoRoot()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
}

func TestPromtoolCheckRules(t *testing.T) {
	runPromtool(t, "check", "rules", "deploy/prometheus/alerts.yml")
}

func TestPromtoolCheckConfig(t *testing.T) {
	runPromtool(t, "check", "config", "deploy/prometheus/prometheus.yml")
}

// TestPromtoolTestRules runs the alerts' unit tests: each fires on the
// series it is meant for, after its `for`, and not on healthy ones.
func TestPromtoolTestRules(t *testing.T) {
	runPromtool(t, "test", "rules", "tests/e2e/testdata/deploy/alerts_test.yml")
}

// ---- alerts and dashboard ---------------------------------------------------

type alertRule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func alertRules(t *testing.T) []alertRule {
	t.Helper()
	var doc struct {
		Groups []struct {
			Name  string      `yaml:"name"`
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(repoFile(t, "deploy/prometheus/alerts.yml"), &doc); err != nil {
		t.Fatal(err)
	}
	var out []alertRule
	for _, g := range doc.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// TestDeployAlertRules: the alerts the issue asks for, each with a summary
// and a description pointing at its runbook, and each unit-tested.
func TestDeployAlertRules(t *testing.T) {
	rules := alertRules(t)
	want := []string{"ConsumerLagGrowing", "AckPendingAtMax", "RejectionsHigh", "StreamAlmostFull", "WriterRetrying", "PartsGivenUp", "ServiceDown"}
	seen := map[string]bool{}
	for _, r := range rules {
		if r.Alert == "" {
			continue
		}
		if seen[r.Alert] {
			t.Errorf("alert %s defined twice", r.Alert)
		}
		seen[r.Alert] = true
		if r.Expr == "" || r.For == "" {
			t.Errorf("%s: want an expr and a for", r.Alert)
		}
		if s := r.Labels["severity"]; s != "warning" && s != "critical" {
			t.Errorf("%s: severity %q, want warning or critical", r.Alert, s)
		}
		if r.Annotations["summary"] == "" {
			t.Errorf("%s: no summary", r.Alert)
		}
		anchor := "docs/operations.md#" + strings.ToLower(r.Alert)
		if !strings.Contains(r.Annotations["description"], anchor) {
			t.Errorf("%s: the description does not point at %s: %q", r.Alert, anchor, r.Annotations["description"])
		}
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("alert %s missing", w)
		}
	}
	var tests struct {
		Tests []struct {
			AlertRuleTests []struct {
				Alertname string `yaml:"alertname"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(repoFile(t, "tests/e2e/testdata/deploy/alerts_test.yml"), &tests); err != nil {
		t.Fatal(err)
	}
	tested := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTests {
			tested[a.Alertname] = true
		}
	}
	for name := range seen {
		if !tested[name] {
			t.Errorf("alert %s has no test in tests/e2e/testdata/deploy/alerts_test.yml", name)
		}
	}
}

type dashPanel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Datasource *struct{ UID string }    `json:"datasource"`
	GridPos    struct{ H, W, X, Y int } `json:"gridPos"`
	Targets    []struct {
		Expr       string                `json:"expr"`
		Datasource *struct{ UID string } `json:"datasource"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"`
}

type dashboard struct {
	UID    string      `json:"uid"`
	Title  string      `json:"title"`
	Panels []dashPanel `json:"panels"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal(repoFile(t, "deploy/grafana/dashboards/health-export.json"), &d); err != nil {
		t.Fatalf("health-export.json: %v", err)
	}
	return d
}

// flatPanels returns every panel, those inside rows too.
func flatPanels(ps []dashPanel) []dashPanel {
	var out []dashPanel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, flatPanels(p.Panels)...)
	}
	return out
}

// queries returns every PromQL expression of the dashboard and the alerts,
// each with where it comes from.
func queries(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range flatPanels(loadDashboard(t).Panels) {
		for i, tg := range p.Targets {
			if tg.Expr != "" {
				out[tg.Expr] = fmt.Sprintf("dashboard panel %q target %d", p.Title, i)
			}
		}
	}
	for _, r := range alertRules(t) {
		out[r.Expr] = "alert " + r.Alert + r.Record
	}
	return out
}

func TestDashboardJSON(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard without uid or title")
	}
	ds := grafanaDatasource(t)
	ids := map[int]bool{}
	used := map[string]bool{}
	for _, p := range flatPanels(d.Panels) {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: bad gridPos %+v", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Title == "" || len(p.Targets) == 0 {
			t.Errorf("panel %d: want a title and queries", p.ID)
		}
		if p.Datasource == nil || p.Datasource.UID != ds.UID {
			t.Errorf("panel %q: datasource %+v, want the provisioned uid %q", p.Title, p.Datasource, ds.UID)
		}
		for _, tg := range p.Targets {
			if tg.Expr == "" {
				t.Errorf("panel %q: a target without expr", p.Title)
			}
			if tg.Datasource != nil && tg.Datasource.UID != ds.UID {
				t.Errorf("panel %q: target datasource %q, want %q", p.Title, tg.Datasource.UID, ds.UID)
			}
			for _, n := range promqlMetricNames(tg.Expr) {
				used[n] = true
			}
		}
	}
	// The panels the issue asks for: throughput, latency, lag, errors.
	for _, m := range []string{
		"http_requests_total", "ingest_items_total", "writer_rows_written_total",
		"http_request_duration_seconds", "ingest_publish_seconds", "writer_flush_seconds",
		"consumer_pending", "consumer_ack_pending", "stream_bytes", "stream_max_bytes",
		"writer_rejected_total", "writer_retries_total", "ingest_publish_errors_total", "ratelimit_fallback_total",
	} {
		if !used[m] {
			t.Errorf("no dashboard panel queries %s", m)
		}
	}
}

// ---- PromQL metric names -------------------------------------------------------

// promSelector is a vector selector of a PromQL expression: the metric and
// its equality matchers (label -> value).
type promSelector struct {
	Name   string
	Labels map[string]string // label = "value" matchers only
	Others []string          // labels of !=, =~ and !~ matchers
}

var promqlKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "start": true, "end": true,
	"inf": true, "nan": true, "atan2": true,
}

// promqlAggregations are never metric names here (`sum by (x) (...)` has
// no parenthesis right after the name).
var promqlAggregations = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
}

var promqlGrouping = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// promqlSelectors finds the vector selectors of a PromQL expression (or a
// Grafana query with $variables): identifiers that are not functions,
// keywords, or label lists, with their {matchers}; [ranges], strings and
// numbers are skipped.
func promqlSelectors(expr string) []promSelector {
	var out []promSelector
	s := expr
	i := 0
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isIdent := func(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }
	skipSpace := func(j int) int {
		for j < len(s) && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r') {
			j++
		}
		return j
	}
	// skipString returns the index after the string literal at j.
	skipString := func(j int) int {
		q := s[j]
		j++
		for j < len(s) && s[j] != q {
			if s[j] == '\\' && q != '`' {
				j++
			}
			j++
		}
		return j + 1
	}
	// matchers parses {...} at j into sel and returns the index after it.
	matchers := func(j int, sel *promSelector) int {
		j++ // {
		for j < len(s) && s[j] != '}' {
			j = skipSpace(j)
			if j >= len(s) || s[j] == '}' {
				break
			}
			if s[j] == ',' {
				j++
				continue
			}
			k := j
			for k < len(s) && isIdent(s[k]) {
				k++
			}
			label := s[j:k]
			k = skipSpace(k)
			op := ""
			for k < len(s) && strings.IndexByte("=!~", s[k]) >= 0 {
				op += string(s[k])
				k++
			}
			k = skipSpace(k)
			val := ""
			if k < len(s) && (s[k] == '"' || s[k] == '\'' || s[k] == '`') {
				end := skipString(k)
				if v, err := strconv.Unquote(`"` + strings.ReplaceAll(s[k+1:min(end-1, len(s))], `"`, `\"`) + `"`); err == nil {
					val = v
				} else {
					val = s[k+1 : min(end-1, len(s))]
				}
				k = end
			}
			switch {
			case label == "__name__" && op == "=":
				sel.Name = val
			case label == "" || op == "":
				// malformed: skip a character so the loop advances
				k = max(k, j+1)
			case op == "=":
				sel.Labels[label] = val
			default:
				sel.Others = append(sel.Others, label)
			}
			j = k
		}
		return j + 1
	}
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(i)
		case c == '[':
			for i < len(s) && s[i] != ']' {
				i++
			}
			i++
		case c == '$': // a Grafana variable: $name, ${name}, $__rate_interval
			i++
			if i < len(s) && s[i] == '{' {
				for i < len(s) && s[i] != '}' {
					i++
				}
				i++
			}
			for i < len(s) && isIdent(s[i]) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < len(s) && (isIdent(s[i]) || s[i] == '.') {
				i++
			}
		case c == '{': // a selector without a metric name: {__name__="x"}
			sel := promSelector{Labels: map[string]string{}}
			i = matchers(i, &sel)
			if sel.Name != "" {
				out = append(out, sel)
			}
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			word := s[i:j]
			k := skipSpace(j)
			lower := strings.ToLower(word)
			switch {
			case promqlGrouping[lower] && k < len(s) && s[k] == '(':
				// a label list: by (a, b)
				for k < len(s) && s[k] != ')' {
					k++
				}
				i = k + 1
			case promqlKeywords[lower] || promqlAggregations[lower]:
				i = j
			case k < len(s) && s[k] == '(':
				i = j // a function or an aggregation
			default:
				sel := promSelector{Name: word, Labels: map[string]string{}}
				i = j
				if k < len(s) && s[k] == '{' {
					i = matchers(k, &sel)
				}
				out = append(out, sel)
			}
		default:
			i++
		}
	}
	return out
}

// histogramBase strips the series suffixes of a histogram or summary.
func histogramBase(name string) string {
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(name, suf); ok {
			return b
		}
	}
	return name
}

// promqlMetricNames returns the metric families an expression queries
// (histogram suffixes stripped, `up` left out), sorted and unique.
func promqlMetricNames(expr string) []string {
	seen := map[string]bool{}
	for _, sel := range promqlSelectors(expr) {
		if n := histogramBase(sel.Name); n != "up" {
			seen[n] = true
		}
	}
	return sortedKeys(seen)
}

func TestMetricsPromQLNames(t *testing.T) {
	cases := []struct {
		expr string
		want []string
	}{
		{`up == 0`, nil},
		{`up{job=~"edge|raw-archiver"} == 0`, nil},
		{`rate(http_requests_total[5m])`, []string{"http_requests_total"}},
		{`sum by (route, code) (rate(http_requests_total{code=~"5.."}[$__rate_interval]))`, []string{"http_requests_total"}},
		{`sum(rate(writer_rejected_total[5m])) by (kind, reason) > 1`, []string{"writer_rejected_total"}},
		{`histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{route="/v1/ingest"}[5m])))`, []string{"http_request_duration_seconds"}},
		{`rate(writer_flush_seconds_sum[5m]) / rate(writer_flush_seconds_count[5m])`, []string{"writer_flush_seconds"}},
		{`deriv(consumer_pending[10m]) > 0 and consumer_pending > 1000`, []string{"consumer_pending"}},
		{`consumer_ack_pending >= consumer_max_ack_pending and consumer_max_ack_pending > 0`, []string{"consumer_ack_pending", "consumer_max_ack_pending"}},
		{`stream_bytes / stream_max_bytes > 0.8`, []string{"stream_bytes", "stream_max_bytes"}},
		{`max by (stream) (stream_bytes) / ignoring (x) group_left (stream) stream_max_bytes`, []string{"stream_bytes", "stream_max_bytes"}},
		{`label_replace(ingest_items_total{kind="sleep"}, "k", "$1", "kind", "(.*)")`, []string{"ingest_items_total"}},
		{`{__name__="archiver_batches_total"} offset 5m`, []string{"archiver_batches_total"}},
		{`sum without (instance) (rate(ratelimit_fallback_total[1h:5m])) * 1e3`, []string{"ratelimit_fallback_total"}},
		{`count(up) BY (job) unless on(job) ratelimit_decisions_total{outcome="limited"}`, []string{"ratelimit_decisions_total"}},
		{`absent(ingest_publish_errors_total{reason="stream_full", kind!="x"})`, []string{"ingest_publish_errors_total"}},
		{`1 - sum(rate(auth_attempts_total{outcome="ok"}[5m])) / sum(rate(auth_attempts_total[5m]))`, []string{"auth_attempts_total"}},
	}
	for _, c := range cases {
		if got := promqlMetricNames(c.expr); !slices.Equal(got, c.want) {
			t.Errorf("promqlMetricNames(%s) = %v, want %v", c.expr, got, c.want)
		}
	}
	sels := promqlSelectors(`sum(rate(http_requests_total{route="/v1/ingest", code=~"5..",x!="a\"b"}[5m])) + writer_retries_total{cause='infrastructure'}`)
	want := []promSelector{
		{Name: "http_requests_total", Labels: map[string]string{"route": "/v1/ingest"}, Others: []string{"code", "x"}},
		{Name: "writer_retries_total", Labels: map[string]string{"cause": "infrastructure"}},
	}
	if !reflect.DeepEqual(sels, want) {
		t.Errorf("promqlSelectors = %+v, want %+v", sels, want)
	}
}

// ---- the metrics the running services export ---------------------------------

// scrapedFamily is one metric family of a /metrics page: its series' labels.
type scrapedFamily struct {
	Type   string
	Series []map[string]string
}

// parseMetrics reads the Prometheus text format: families by their TYPE
// lines, series with their labels (histogram series under their family).
func parseMetrics(text string) (map[string]*scrapedFamily, error) {
	fams := map[string]*scrapedFamily{}
	lines := strings.Split(text, "\n")
	for _, line := range lines {
		if f := strings.Fields(line); len(f) >= 4 && f[0] == "#" && f[1] == "TYPE" {
			fams[f[2]] = &scrapedFamily{Type: f[3]}
		}
	}
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		end := strings.IndexAny(line, "{ ")
		if end < 0 {
			return nil, fmt.Errorf("bad sample line %q", line)
		}
		name := line[:end]
		labels := map[string]string{}
		if line[end] == '{' {
			rest := line[end+1:]
			for {
				rest = strings.TrimLeft(rest, ", ")
				if strings.HasPrefix(rest, "}") {
					break
				}
				eq := strings.Index(rest, `="`)
				if eq < 0 {
					return nil, fmt.Errorf("bad labels in %q", line)
				}
				key := rest[:eq]
				rest = rest[eq+2:]
				var val strings.Builder
				k := 0
				for ; k < len(rest) && rest[k] != '"'; k++ {
					if rest[k] == '\\' && k+1 < len(rest) {
						k++
						switch rest[k] {
						case 'n':
							val.WriteByte('\n')
						default:
							val.WriteByte(rest[k])
						}
						continue
					}
					val.WriteByte(rest[k])
				}
				if k >= len(rest) {
					return nil, fmt.Errorf("unterminated label value in %q", line)
				}
				labels[key] = val.String()
				rest = rest[k+1:]
			}
		}
		fam := name
		if base := histogramBase(name); base != name {
			if f := fams[base]; f != nil && (f.Type == "histogram" || f.Type == "summary") {
				fam = base
			}
		}
		if fams[fam] == nil {
			fams[fam] = &scrapedFamily{Type: "untyped"}
		}
		fams[fam].Series = append(fams[fam].Series, labels)
	}
	return fams, nil
}

func scrape(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return string(b)
}

// TestMetricsExported runs the stack, makes it do a little of everything the
// dashboard shows (an upload written, a 429), scrapes the three services, and
// requires every metric the dashboard and the alerts query, with the label
// names and exact label values they filter on, to be among what they export.
func TestMetricsExported(t *testing.T) {
	s := newStack(t, "RATE_LIMIT_REQUESTS=1")
	s.startAll()
	_, key := s.user("metrics@example.org")
	body := []byte(`{"data":{"metrics":[{"name":"heart_rate","units":"count/min","data":[{"date":"2025-03-01 08:00:00 -0800","Avg":70}]}]}}`)
	if status, reply := s.post(key, body, nil); status != 202 {
		t.Fatalf("upload: %d %s", status, reply)
	}
	if status, reply := s.post(key, body, nil); status != 429 {
		t.Fatalf("second upload with RATE_LIMIT_REQUESTS=1: %d %s, want 429", status, reply)
	}
	s.drained(30 * time.Second)

	pages := map[string]string{"edge": s.edgeURL + "/metrics"}
	for _, name := range []string{"raw-archiver", "metric-writer"} {
		pages[name] = strings.TrimSuffix(s.readyURLs[name], "/readyz") + "/metrics"
	}
	exported := map[string]*scrapedFamily{}
	for _, name := range sortedKeys(pages) {
		fams, err := parseMetrics(scrape(t, pages[name]))
		if err != nil {
			t.Fatalf("%s: %v", pages[name], err)
		}
		for n, f := range fams {
			if exported[n] == nil {
				exported[n] = &scrapedFamily{Type: f.Type}
			}
			exported[n].Series = append(exported[n].Series, f.Series...)
		}
	}
	// The series added by Prometheus, not by the services.
	scrapeLabels := map[string]bool{"job": true, "instance": true}
	exprs := queries(t)
	if len(exprs) < 10 {
		t.Fatalf("only %d queries found in the dashboard and alerts", len(exprs))
	}
	checked := map[string]bool{}
	for _, expr := range sortedKeys(exprs) {
		where := exprs[expr]
		for _, sel := range promqlSelectors(expr) {
			name := histogramBase(sel.Name)
			if name == "up" {
				continue
			}
			checked[name] = true
			f := exported[name]
			if f == nil {
				t.Errorf("%s queries %s, which no service exports", where, sel.Name)
				continue
			}
			for _, l := range append(sortedKeys(sel.Labels), sel.Others...) {
				if scrapeLabels[l] {
					continue
				}
				if !hasLabel(f, l) {
					t.Errorf("%s filters %s on label %s, which it does not have", where, sel.Name, l)
				}
			}
			for l, v := range sel.Labels {
				if !scrapeLabels[l] && !hasSeries(f, map[string]string{l: v}) {
					t.Errorf("%s filters %s on %s=%q, which no exported series has", where, sel.Name, l, v)
				}
			}
		}
	}
	t.Logf("checked %d metric families against %s, %s and %s", len(checked), pages["edge"], pages["raw-archiver"], pages["metric-writer"])
}

func hasLabel(f *scrapedFamily, label string) bool {
	for _, s := range f.Series {
		if _, ok := s[label]; ok {
			return true
		}
	}
	return false
}

// hasSeries: some series of f has these label values.
func hasSeries(f *scrapedFamily, labels map[string]string) bool {
	for _, s := range f.Series {
		ok := true
		for k, v := range labels {
			if s[k] != v {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
