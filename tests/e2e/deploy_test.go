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
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	promql "github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/healthexport/libs/testenv"
)

// appServices are the project's own services: compose service name =
// directory under services/ = binary.
var appServices = []string{"edge", "raw-archiver", "metric-writer"}

// composeApps are the compose services that run one of appServices, and the
// binary each runs: the service of that name, and the cluster profile's
// instances cluster-<binary>-<n>.
func composeApps(services map[string]any) map[string]string {
	out := map[string]string{}
	instance := regexp.MustCompile(`^cluster-(.+)-[0-9]+$`)
	for name := range services {
		if slices.Contains(appServices, name) {
			out[name] = name
		} else if m := instance.FindStringSubmatch(name); m != nil && slices.Contains(appServices, m[1]) {
			out[name] = m[1]
		}
	}
	return out
}

// urlHosts are the hosts a URL setting names: one, or several for a
// PostgreSQL URL with every host of a cluster (postgres://u:p@h1:5432,h2:5432/db)
// and a comma-separated list of NATS URLs.
func urlHosts(v string) []string {
	var hosts []string
	for _, part := range strings.Split(v, ",") {
		if !strings.Contains(part, "://") {
			part = "x://" + part // a further host of the previous URL
		}
		u, err := url.Parse(part)
		if err != nil {
			return []string{v}
		}
		hosts = append(hosts, u.Hostname())
	}
	return hosts
}

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

	for _, name := range sortedKeys(composeApps(services)) {
		t.Run(name, func(t *testing.T) {
			svc, ok := services[name].(map[string]any)
			if !ok {
				t.Fatalf("compose.yaml has no service %s", name)
			}
			reads := binarySettings(t, composeApps(services)[name])
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
					for _, host := range urlHosts(val) {
						if services[host] == nil {
							t.Errorf("%s: %s=%s: %q is not a compose service", name, v, val, host)
						}
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
		if got, cluster := fmt.Sprint(profiles), strings.HasPrefix(name, "cluster-"); cluster != (got == "[cluster]") {
			t.Errorf("%s: profiles %s; the cluster-* services, and only they, belong to the cluster profile", name, got)
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
	// The edge's metrics are on its admin listener, not its public API.
	addrVar := map[string]string{"edge": "EDGE_ADMIN_ADDR", "raw-archiver": "ARCHIVER_METRICS_ADDR", "metric-writer": "WRITER_METRICS_ADDR"}
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

	// The health dashboards' datasource (uid healthdata, TestSummariesAndGrafana)
	// logs in to compose's database as the role that compose's postgres makes
	// at its first start.
	var hd struct {
		Datasources []struct {
			UID, Type, URL, User string
			JSONData             struct{ Database string } `yaml:"jsonData"`
			Secure               struct{ Password string } `yaml:"secureJsonData"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(repoFile(t, "deploy/grafana/provisioning/datasources/health-data.yml"), &hd); err != nil || len(hd.Datasources) != 1 {
		t.Fatalf("health-data.yml: want one datasource: %v %+v", err, hd.Datasources)
	}
	d := hd.Datasources[0]
	pg, _ := services["postgres"].(map[string]any)
	reader := string(repoFile(t, "deploy/postgres/grafana-reader.sql"))
	if d.UID != "healthdata" || d.Type != "grafana-postgresql-datasource" || !strings.HasPrefix(d.URL, "postgres:") ||
		d.JSONData.Database != composeEnv(t, pg)["POSTGRES_DB"] || d.User != "healthexport_grafana" ||
		!strings.Contains(reader, "ROLE "+d.User+" LOGIN PASSWORD '"+d.Secure.Password+"'") {
		t.Errorf("health-data.yml: %+v, want uid healthdata on compose's postgres database, as the role grafana-reader.sql makes", d)
	}
	initdb := false
	for dst, src := range mounts["postgres"] {
		initdb = initdb || (src == "./deploy/postgres/grafana-reader.sql" && strings.HasPrefix(dst, "/docker-entrypoint-initdb.d/"))
	}
	if !initdb {
		t.Errorf("postgres: deploy/postgres/grafana-reader.sql is not mounted in /docker-entrypoint-initdb.d: %v", mounts["postgres"])
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

// TestDeployAlertRules: the alerts docs/operations.md has runbooks for, each with a summary
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
			for _, n := range promqlMetricNames(t, tg.Expr) {
				used[n] = true
			}
		}
	}
	// The panels an operator needs: throughput, latency, lag, errors.
	for _, m := range []string{
		"healthexport_edge_http_requests_total", "healthexport_edge_ingest_items_total", "healthexport_writer_rows_written_total",
		"healthexport_edge_http_request_duration_seconds", "healthexport_edge_ingest_publish_seconds", "healthexport_writer_flush_seconds",
		"healthexport_writer_consumer_pending", "healthexport_archiver_consumer_pending", "healthexport_writer_consumer_ack_pending",
		"healthexport_writer_stream_bytes", "healthexport_writer_stream_max_bytes",
		"healthexport_writer_rejected_total", "healthexport_writer_retries_total", "healthexport_edge_ingest_publish_errors_total",
		"healthexport_edge_ratelimit_fallback_total",
	} {
		if !used[m] {
			t.Errorf("no dashboard panel queries %s", m)
		}
	}
}

// ---- PromQL metric names -------------------------------------------------------

// grafanaVar is a Grafana variable ($__rate_interval, $__interval, ...):
// every one the dashboard uses stands for a range, so a duration in its place
// makes the query PromQL.
var grafanaVar = regexp.MustCompile(`\$__[A-Za-z_]+`)

// promqlSelectors parses a PromQL expression (or a Grafana query) with
// Prometheus' own parser and returns its vector selectors, those in range
// vectors and subqueries too.
func promqlSelectors(expr string) ([]*promql.VectorSelector, error) {
	e, err := promql.NewParser(promql.Options{}).ParseExpr(grafanaVar.ReplaceAllString(expr, "5m"))
	if err != nil {
		return nil, err
	}
	var out []*promql.VectorSelector
	promql.Inspect(e, func(n promql.Node, _ []promql.Node) error {
		if vs, ok := n.(*promql.VectorSelector); ok {
			out = append(out, vs)
		}
		return nil
	})
	return out, nil
}

// selectorFamily is the metric family a selector reads: its name without a
// histogram's or summary's series suffix ("" for `up`, which Prometheus
// makes, not a service).
func selectorFamily(vs *promql.VectorSelector) string {
	name := vs.Name
	for _, m := range vs.LabelMatchers {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			name = m.Value
		}
	}
	if name == "up" {
		return ""
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(name, suf); ok {
			return b
		}
	}
	return name
}

// promqlMetricNames returns the metric families an expression queries,
// sorted and unique.
func promqlMetricNames(t *testing.T, expr string) []string {
	t.Helper()
	sels, err := promqlSelectors(expr)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	seen := map[string]bool{}
	for _, vs := range sels {
		if n := selectorFamily(vs); n != "" {
			seen[n] = true
		}
	}
	return sortedKeys(seen)
}

// TestMetricsPromQLNames covers what this file adds to the parser: Grafana
// variables, histogram suffixes, `up` and the {__name__=...} form.
func TestMetricsPromQLNames(t *testing.T) {
	cases := []struct {
		expr string
		want []string
	}{
		{`up{job=~"edge|raw-archiver"} == 0`, nil},
		{`sum by (route, code) (rate(healthexport_edge_http_requests_total{code=~"5.."}[$__rate_interval]))`, []string{"healthexport_edge_http_requests_total"}},
		{`histogram_quantile(0.95, sum by (le) (rate(healthexport_edge_http_request_duration_seconds_bucket[5m])))`, []string{"healthexport_edge_http_request_duration_seconds"}},
		{`max by (stream) (healthexport_writer_stream_bytes or healthexport_archiver_stream_bytes)`, []string{"healthexport_archiver_stream_bytes", "healthexport_writer_stream_bytes"}},
		{`{__name__="healthexport_archiver_batches_total"} offset 5m`, []string{"healthexport_archiver_batches_total"}},
		{`sum without (instance) (rate(healthexport_edge_ratelimit_fallback_total[1h:5m])) * 1e3`, []string{"healthexport_edge_ratelimit_fallback_total"}},
	}
	for _, c := range cases {
		if got := promqlMetricNames(t, c.expr); !slices.Equal(got, c.want) {
			t.Errorf("promqlMetricNames(%s) = %v, want %v", c.expr, got, c.want)
		}
	}
}

// ---- the metrics the running services export ---------------------------------

// scrape reads a /metrics page in the Prometheus text format.
func scrape(t *testing.T, u string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return fams
}

// seriesLabels returns the label sets of a family's series.
func seriesLabels(f *dto.MetricFamily) []map[string]string {
	var out []map[string]string
	for _, m := range f.GetMetric() {
		ls := map[string]string{}
		for _, l := range m.GetLabel() {
			ls[l.GetName()] = l.GetValue()
		}
		out = append(out, ls)
	}
	return out
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
	exported := map[string][]map[string]string{}
	for _, name := range sortedKeys(pages) {
		for n, f := range scrape(t, pages[name]) {
			exported[n] = append(exported[n], seriesLabels(f)...)
		}
	}
	for n := range exported {
		if !strings.HasPrefix(n, "healthexport_") && !strings.HasPrefix(n, "go_") && !strings.HasPrefix(n, "process_") && !strings.HasPrefix(n, "promhttp_") {
			t.Errorf("%s is not named healthexport_<subsystem>_...", n)
		}
	}
	// The labels Prometheus adds, not the services.
	scrapeLabels := map[string]bool{labels.MetricName: true, "job": true, "instance": true}
	exprs := queries(t)
	if len(exprs) < 10 {
		t.Fatalf("only %d queries found in the dashboard and alerts", len(exprs))
	}
	checked := map[string]bool{}
	for _, expr := range sortedKeys(exprs) {
		where := exprs[expr]
		sels, err := promqlSelectors(expr)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		for _, vs := range sels {
			name := selectorFamily(vs)
			if name == "" {
				continue
			}
			checked[name] = true
			series, ok := exported[name]
			if !ok {
				t.Errorf("%s queries %s, which no service exports", where, name)
				continue
			}
			for _, m := range vs.LabelMatchers {
				if scrapeLabels[m.Name] {
					continue
				}
				if !slices.ContainsFunc(series, func(ls map[string]string) bool { _, ok := ls[m.Name]; return ok }) {
					t.Errorf("%s filters %s on label %s, which it does not have", where, name, m.Name)
					continue
				}
				// An exact value must be there; a pattern (code=~"5..") may
				// match only when something goes wrong.
				if m.Type == labels.MatchEqual && !slices.ContainsFunc(series, func(ls map[string]string) bool { return ls[m.Name] == m.Value }) {
					t.Errorf("%s filters %s on %s, which no exported series matches", where, name, m)
				}
			}
		}
	}
	t.Logf("checked %d metric families against %s, %s and %s", len(checked), pages["edge"], pages["raw-archiver"], pages["metric-writer"])
}

// TestComposeClusterProfile checks the cluster profile against the files
// it shares with `make cluster-up` and the cluster chaos matrix: every
// variable deploy/cluster/nats.conf and haproxy.cfg read is set by each of
// the three, the routes and the load balancer name the profile's own
// services, every route and service signs in to NATS with the user the
// nats-servers require, and every service waits for what it connects to.
func TestComposeClusterProfile(t *testing.T) {
	compose := yamlFile(t, "compose.yaml")
	services, _ := compose["services"].(map[string]any)
	vars := func(rel string, re *regexp.Regexp) []string {
		var out []string
		for _, m := range re.FindAllStringSubmatch(string(repoFile(t, rel)), -1) {
			if !slices.Contains(out, m[1]) {
				out = append(out, m[1])
			}
		}
		if len(out) == 0 {
			t.Fatalf("%s reads no variable", rel)
		}
		return out
	}
	natsVars := vars("deploy/cluster/nats.conf", regexp.MustCompile(`(?m)^[^#]*\$(NATS_[A-Z0-9_]+)`))
	lbVars := vars("deploy/cluster/haproxy.cfg", regexp.MustCompile(`(?m)^[^#]*"\$\{([A-Z0-9_]+)\}"`))
	for _, user := range []string{"scripts/cluster.sh", "tools/proving/internal/chaos/cluster.go"} {
		text := string(repoFile(t, user))
		for _, v := range append(slices.Clone(natsVars), lbVars...) {
			if !strings.Contains(text, v+"=") {
				t.Errorf("%s does not set %s, which deploy/cluster reads", user, v)
			}
		}
	}

	mount := func(svc map[string]any, target string) string {
		vols, _ := svc["volumes"].([]any)
		for _, m := range vols {
			if parts := strings.Split(fmt.Sprint(m), ":"); len(parts) >= 2 && parts[1] == target {
				return parts[0]
			}
		}
		return ""
	}
	// signIns are the user:password of each URL in a comma-separated list.
	signIns := func(v string) []string {
		var out []string
		for _, part := range strings.Split(v, ",") {
			u, err := url.Parse(part)
			if err != nil || u.User == nil {
				out = append(out, "")
				continue
			}
			out = append(out, u.User.String())
		}
		return out
	}
	natsSignIn := ""
	var nats []string
	for _, name := range sortedKeys(services) {
		if strings.HasPrefix(name, "cluster-nats-") {
			nats = append(nats, name)
		}
	}
	if len(nats) != 3 {
		t.Fatalf("cluster profile: %d nats-servers, want 3", len(nats))
	}
	for _, name := range nats {
		svc, _ := services[name].(map[string]any)
		env := composeEnv(t, svc)
		for _, v := range natsVars {
			if env[v] == "" {
				t.Errorf("%s: %s is not set (deploy/cluster/nats.conf reads it)", name, v)
			}
		}
		if src := mount(svc, "/etc/nats/nats.conf"); src != "./deploy/cluster/nats.conf" {
			t.Errorf("%s: /etc/nats/nats.conf is %q, want ./deploy/cluster/nats.conf", name, src)
		}
		if src := mount(svc, env["NATS_STORE"]); src == "" || strings.HasPrefix(src, ".") {
			t.Errorf("%s: the JetStream store %s is not on a named volume", name, env["NATS_STORE"])
		}
		signIn := url.UserPassword(env["NATS_USER"], env["NATS_PASSWORD"]).String()
		if natsSignIn == "" {
			natsSignIn = signIn
		} else if signIn != natsSignIn {
			t.Errorf("%s signs in as %s, %s as %s", nats[0], natsSignIn, name, signIn)
		}
		var peers []string
		for _, k := range []string{"NATS_ROUTE_1", "NATS_ROUTE_2"} {
			peers = append(peers, urlHosts(env[k])...)
			if got := signIns(env[k]); !slices.Equal(got, []string{signIn}) {
				t.Errorf("%s: %s signs in as %v, the nodes require %s", name, k, got, signIn)
			}
		}
		slices.Sort(peers)
		if want := slices.DeleteFunc(slices.Clone(nats), func(n string) bool { return n == name }); !slices.Equal(peers, want) {
			t.Errorf("%s routes to %v, want the other two %v", name, peers, want)
		}
	}

	lb, _ := services["cluster-lb"].(map[string]any)
	lbEnv := composeEnv(t, lb)
	if src := mount(lb, "/usr/local/etc/haproxy/haproxy.cfg"); src != "./deploy/cluster/haproxy.cfg" {
		t.Errorf("cluster-lb: haproxy.cfg is %q, want ./deploy/cluster/haproxy.cfg", src)
	}
	lbNet, _ := lb["networks"].(map[string]any)
	lbCluster, _ := lbNet["cluster"].(map[string]any)
	lbAddr := fmt.Sprint(lbCluster["ipv4_address"])
	for _, v := range lbVars {
		if lbEnv[v] == "" {
			t.Errorf("cluster-lb: %s is not set (deploy/cluster/haproxy.cfg reads it)", v)
		}
		if !strings.HasPrefix(v, "EDGE_") {
			continue
		}
		host, _, _ := net.SplitHostPort(lbEnv[v])
		if composeApps(services)[host] != "edge" {
			t.Errorf("cluster-lb: %s=%s is not an edge of the cluster profile", v, lbEnv[v])
		}
	}

	for name, binary := range composeApps(services) {
		if !strings.HasPrefix(name, "cluster-") {
			continue
		}
		svc, _ := services[name].(map[string]any)
		env := composeEnv(t, svc)
		if env["STREAM_REPLICAS"] != "3" {
			t.Errorf("%s: STREAM_REPLICAS=%s, want 3", name, env["STREAM_REPLICAS"])
		}
		deps, _ := svc["depends_on"].(map[string]any)
		db := urlHosts(env["DATABASE_URL"])
		if len(db) != 2 || !strings.Contains(env["DATABASE_URL"], "target_session_attrs=read-write") {
			t.Errorf("%s: DATABASE_URL %s, want both PostgreSQL servers with target_session_attrs=read-write", name, env["DATABASE_URL"])
		}
		for _, got := range signIns(env["NATS_URL"]) {
			if got != natsSignIn {
				t.Errorf("%s: NATS_URL signs in as %q, the nats-servers require %s", name, got, natsSignIn)
			}
		}
		need := append(urlHosts(env["NATS_URL"]), db[0])
		if binary == "edge" {
			need = append(need, urlHosts(env["REDIS_URL"])...)
			if !strings.Contains(env["EDGE_TRUSTED_PROXIES"], lbAddr+"/32") {
				t.Errorf("%s: EDGE_TRUSTED_PROXIES=%s does not name cluster-lb's address %s", name, env["EDGE_TRUSTED_PROXIES"], lbAddr)
			}
		}
		for _, dep := range need {
			d, _ := deps[dep].(map[string]any)
			if d["condition"] != "service_healthy" {
				t.Errorf("%s does not wait for %s to be healthy", name, dep)
			}
		}
	}
}
