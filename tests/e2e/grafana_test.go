package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/healthexport/libs/testenv"
)

// The health dashboards, and what Grafana does to their SQL before sending
// it: Grafana cannot run here, so the test expands the macros and variables
// the way Grafana's PostgreSQL data source does and runs every query against
// the real tables, as the read-only role the data source logs in as.

var healthDashboards = []string{"health-overview.json", "health-workouts.json", "health-explorer.json"}

// healthDash is the part of a dashboard the test reads.
type healthDash struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []healthVar `json:"list"`
	} `json:"templating"`
	Panels []healthPanel `json:"panels"`
}

type healthVar struct {
	Name       string `json:"name"`
	Query      string `json:"query"`
	Multi      bool   `json:"multi"`
	IncludeAll bool   `json:"includeAll"`
	Datasource struct {
		UID string `json:"uid"`
	} `json:"datasource"`
}

type healthPanel struct {
	ID         int    `json:"id"`
	Title      string `json:"title"`
	Type       string `json:"type"`
	Datasource struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RawSQL string `json:"rawSql"`
		Format string `json:"format"`
	} `json:"targets"`
}

// healthRange is the dashboards' time range in the test (Grafana sends
// RFC 3339 in UTC).
type healthRange struct {
	from, to time.Time
	interval time.Duration // $__interval
}

var macroRE = regexp.MustCompile(`\$__(timeFilter|timeFrom|timeTo|timeGroupAlias|timeGroup|unixEpochFilter)\(`)

// expandGrafana expands the SQL as Grafana's PostgreSQL data source does:
// $__interval, then template variables ($name and ${name}; a multi-value
// or All variable as a list of quoted values, a single value as it is),
// then the macros.
func expandGrafana(t *testing.T, sql string, vars map[string][]string, multi map[string]bool, r healthRange) string {
	t.Helper()
	sql = strings.ReplaceAll(sql, "$__interval", strconv.Itoa(int(r.interval.Seconds()))+"s")
	names := slices.Collect(func(yield func(string) bool) {
		for n := range vars {
			if !yield(n) {
				return
			}
		}
	})
	sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
	for _, n := range names {
		v := vars[n]
		val := strings.Join(v, ",")
		if multi[n] {
			q := make([]string, len(v))
			for i, s := range v {
				q[i] = "'" + strings.ReplaceAll(s, "'", "''") + "'"
			}
			val = strings.Join(q, ",")
		}
		sql = strings.ReplaceAll(sql, "${"+n+"}", val)
		sql = regexp.MustCompile(`\$`+regexp.QuoteMeta(n)+`\b`).ReplaceAllString(sql, val)
	}
	from, to := "'"+r.from.UTC().Format(time.RFC3339)+"'", "'"+r.to.UTC().Format(time.RFC3339)+"'"
	for {
		loc := macroRE.FindStringSubmatchIndex(sql)
		if loc == nil {
			break
		}
		name := sql[loc[2]:loc[3]]
		// the arguments, to the matching parenthesis
		depth, end := 1, loc[1]
		for ; end < len(sql) && depth > 0; end++ {
			switch sql[end] {
			case '(':
				depth++
			case ')':
				depth--
			}
		}
		if depth != 0 {
			t.Fatalf("unbalanced macro in %s", sql)
		}
		args := strings.Split(sql[loc[1]:end-1], ",")
		for i := range args {
			args[i] = strings.TrimSpace(args[i])
		}
		var out string
		switch name {
		case "timeFilter":
			out = fmt.Sprintf("%s BETWEEN %s AND %s", args[0], from, to)
		case "timeFrom":
			out = from
		case "timeTo":
			out = to
		case "unixEpochFilter":
			out = fmt.Sprintf("%s >= %d AND %s <= %d", args[0], r.from.Unix(), args[0], r.to.Unix())
		case "timeGroup", "timeGroupAlias":
			d, err := time.ParseDuration(strings.Trim(args[1], "'"))
			if err != nil {
				t.Fatalf("%s interval %q: %v", name, args[1], err)
			}
			out = fmt.Sprintf("floor(extract(epoch from %s)/%d)*%d", args[0], int(d.Seconds()), int(d.Seconds()))
			if name == "timeGroupAlias" {
				out += ` AS "time"`
			}
		}
		sql = sql[:loc[0]] + out + sql[end:]
	}
	if i := strings.Index(sql, "$"); i >= 0 {
		t.Fatalf("unexpanded %q in %s", sql[i:min(len(sql), i+20)], sql)
	}
	return sql
}

// rows runs a query and returns its rows by column name.
func grafanaRows(t *testing.T, conn *pgx.Conn, sql string) []map[string]any {
	t.Helper()
	rows, err := conn.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("query: %v\n%s", err, sql)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToMap)
	if err != nil {
		t.Fatalf("query: %v\n%s", err, sql)
	}
	return out
}

// readerConn logs in to the test database as Grafana's role.
func readerConn(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("healthexport_grafana", "grafana")
	conn, err := pgx.Connect(context.Background(), u.String())
	if err != nil {
		t.Fatalf("log in as healthexport_grafana (scripts/deps.sh makes it from deploy/postgres/grafana-reader.sql): %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func loadHealthDashboard(t *testing.T, name string) healthDash {
	t.Helper()
	var d healthDash
	if err := json.Unmarshal(repoFile(t, filepath.Join("deploy/grafana/dashboards", name)), &d); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

// summaryCorpus are the uploads of libs/summary's corpus that go through
// the HTTP API (the export import is libs/summary's own test).
var summaryCorpus = []string{"01-day-one.json", "02-resend-and-trip.json", "03-late-resting-hr.json", "05-resent-in-new-offset.json",
	"06-energy-exercise-hrv.json"}

// TestSummariesAndGrafana loads the conformance corpus and the summary
// corpus through the pipeline, then: the daily summaries API counts each
// moment once (steps equal the hand-computed totals, not the sum of the
// Watch, the iPhone and the other apps); every panel and variable query
// of the health dashboards runs as Grafana's read-only role and the
// overview shows the same numbers; that role reads no keys and writes
// nothing; and healthctl replay --all leaves every summary as it was.
func TestSummariesAndGrafana(t *testing.T) {
	s := newStack(t, "RATE_LIMIT_REQUESTS=100000")
	s.startAll()
	uid, key := s.user("grafana@example.org")
	reader := s.keyWithScopes("grafana@example.org", "read")
	dir := corpusDir(t)
	spec := loadConformanceSpec(t, dir)
	for _, r := range spec.Requests {
		body, err := os.ReadFile(filepath.Join(dir, r.File))
		if err != nil {
			t.Fatal(err)
		}
		if status, reply := s.post(key, body, nil); status != r.Status {
			t.Fatalf("%s: %d %s", r.File, status, reply)
		}
	}
	for _, f := range summaryCorpus {
		body, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "libs/summary/testdata/corpus", f))
		if err != nil {
			t.Fatal(err)
		}
		if status, reply := s.post(key, body, nil); status != 202 {
			t.Fatalf("%s: %d %s", f, status, reply)
		}
	}
	s.drained(60 * time.Second)

	// Steps, by hand. 2025-03-02 (conformance, the app's daily buckets): the
	// iPhone 9120.5 (resent), Ana’s Apple Watch 6120, Ana’s Apple
	// Watch|Oura 8012, no source 5001; HealthKit's merged Watch+Oura bucket
	// is the Watch's best, so 8012, not their sum 28253.5. 2025-03-03: the
	// iPhone alone, 311. 2025-03-10: the Watch 100+130+80+10, the iPhone only
	// where the Watch has no minute (10:03 50, 10:04 40), Oura's 10:00
	// covered: 410 (raw: Watch 320, iPhone 290, Oura 95). 2025-03-12: 300 and
	// the 200 resent from 2025-03-11 in its new offset: 500.
	wantSteps := map[string]float64{"2025-03-02": 8012, "2025-03-03": 311, "2025-03-10": 410, "2025-03-12": 500, "2025-03-15": 12, "2026-08-10": 812}
	api := s.walkAPI(reader, "/v1/summaries/daily?metric=step_count&metric=heart_rate&metric=sleep&from=2025-01-01&to=2027-01-01", 3)["days"]
	apiSteps := map[string]float64{}
	for _, d := range api {
		if d["metric"] == "step_count" {
			apiSteps[d["date"].(string)] = d["total"].(float64)
		}
	}
	if fmt.Sprint(apiSteps) != fmt.Sprint(wantSteps) {
		t.Errorf("GET /v1/summaries/daily step_count: %v, want %v", apiSteps, wantSteps)
	}
	raw := s.text(`SELECT string_agg(source || ' ' || s, ', ' ORDER BY source) FROM (SELECT source, sum(qty) AS s FROM quantity_metrics
		WHERE user_id = $1 AND metric = 'step_count' AND recorded_at >= '2025-03-10 08:00Z' AND recorded_at < '2025-03-11 08:00Z' GROUP BY source) x`, uid)
	t.Logf("2025-03-10 steps: summary %v; raw per source: %s", apiSteps["2025-03-10"], raw)

	conn := readerConn(t, s.db.URL)
	r := healthRange{from: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), to: time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC), interval: time.Hour}
	results := map[string][]map[string]any{} // by panel title
	for _, name := range healthDashboards {
		d := loadHealthDashboard(t, name)
		vars := map[string][]string{"user": {uid}}
		multi := map[string]bool{}
		// Variables in order, each query run as Grafana runs it; the
		// metric explorer is pinned to step_count, the workout to one with a route.
		for _, v := range d.Templating.List {
			if v.Datasource.UID != "healthdata" {
				t.Errorf("%s: variable %s: datasource %q, want healthdata", name, v.Name, v.Datasource.UID)
			}
			got := grafanaRows(t, conn, expandGrafana(t, v.Query, vars, multi, r))
			var values []string
			for _, row := range got {
				val, ok := row["__value"]
				if !ok {
					for _, x := range row {
						val = x
					}
				}
				values = append(values, fmt.Sprint(val))
			}
			if len(values) == 0 {
				t.Fatalf("%s: variable %s has no values", name, v.Name)
			}
			switch {
			case v.Name == "metric":
				if !slices.Contains(values, "step_count") {
					t.Fatalf("%s: metric variable lacks step_count: %v", name, values)
				}
				values = []string{"step_count"}
			case v.Name == "workout":
				// the one a person would pick to see a route
				values = slices.DeleteFunc(values, func(k string) bool {
					return len(grafanaRows(t, conn, fmt.Sprintf("SELECT 1 FROM workout_route_points WHERE user_id = '%s' AND workout_key = '%s' LIMIT 1",
						uid, strings.ReplaceAll(k, "'", "''")))) == 0
				})
				if len(values) == 0 {
					t.Fatalf("%s: no workout with a route", name)
				}
				values = values[:1]
			case v.IncludeAll:
				multi[v.Name] = true // All: every value
			default:
				values = values[:1]
			}
			vars[v.Name] = values
		}
		for _, p := range d.Panels {
			if p.Datasource.UID != "healthdata" || len(p.Targets) == 0 {
				t.Errorf("%s: panel %q: want the healthdata datasource and a query", name, p.Title)
				continue
			}
			for _, tg := range p.Targets {
				got := grafanaRows(t, conn, expandGrafana(t, tg.RawSQL, vars, multi, r))
				results[d.UID+"/"+p.Title] = got
				t.Logf("%s / %s: %d rows", d.Title, p.Title, len(got))
			}
		}
	}

	day := func(row map[string]any) string { return row["time"].(time.Time).UTC().Format(time.DateOnly) }
	panelSteps := map[string]float64{}
	for _, row := range results["healthexport-overview/Steps per day"] {
		panelSteps[day(row)] = row["steps"].(float64)
	}
	if fmt.Sprint(panelSteps) != fmt.Sprint(wantSteps) {
		t.Errorf("overview Steps per day: %v, want %v", panelSteps, wantSteps)
	}
	for _, c := range []struct {
		panel, day string
		want       map[string]float64
	}{
		{"healthexport-overview/Heart rate per day (min, avg, max)", "2025-03-10", map[string]float64{"min": 60, "avg": 72.333333, "max": 90}},
		{"healthexport-overview/Resting heart rate", "2025-03-10", map[string]float64{"resting": 55}},
		// The Watch's minutes, then the iPhone's 10:02 (sent 18.75 kcal).
		{"healthexport-overview/Active energy per day", "2025-03-10", map[string]float64{"active energy": 14.75}},
		// The Watch's 10:00-10:02, then Oura's 10:05 (sent 5 minutes).
		{"healthexport-overview/Exercise minutes per day", "2025-03-10", map[string]float64{"exercise": 4}},
		// Discrete: every source (the Watch's 45 and 55, Oura's 62).
		{"healthexport-overview/Heart rate variability (SDNN)", "2025-03-10", map[string]float64{"HRV": 54}},
		{"healthexport-overview/Sleep per night by stage", "2025-03-10", map[string]float64{"core": 5.75, "deep": 1, "REM": 1, "awake": 0.25}},
		{"healthexport-overview/Asleep per night", "2025-03-05", map[string]float64{"asleep": 7.6, "in bed": 7.7}},
		{"healthexport-overview/Weight", "2025-03-02", map[string]float64{"weight": 188.7}},
	} {
		var found map[string]any
		for _, row := range results[c.panel] {
			if day(row) == c.day {
				found = row
			}
		}
		for col, want := range c.want {
			if found == nil || fmt.Sprint(found[col]) != fmt.Sprint(want) {
				t.Errorf("%s on %s: %s = %v, want %v (row %v)", c.panel, c.day, col, found[col], want, found)
			}
		}
	}
	for _, p := range []string{"healthexport-workouts/Workouts", "healthexport-workouts/Route", "healthexport-workouts/Heart rate during the workout",
		"healthexport-explorer/$metric per day (summary)", "healthexport-explorer/$metric samples by source", "healthexport-explorer/Sources per day"} {
		if len(results[p]) == 0 {
			t.Errorf("%s: no rows", p)
		}
	}

	// Read-only, and blind to keys and raw uploads.
	ctx := context.Background()
	for _, sql := range []string{"SELECT secret_hash FROM api_keys LIMIT 1", "SELECT payload FROM raw_ingestions LIMIT 1",
		"DELETE FROM daily_summaries", "INSERT INTO users (email) VALUES ('x@example.org')"} {
		if _, err := conn.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("as healthexport_grafana, %s: %v, want permission denied", sql, err)
		}
	}

	// A full rebuild of every kind recomputes the summaries: equal.
	dump := func() string {
		return s.text(`SELECT md5(string_agg(d::text, ',' ORDER BY metric, day)) FROM daily_summaries d WHERE user_id = $1 AND count > 0`, uid)
	}
	before := dump()
	// Forgotten first: a rebuild leaves daily_summaries alone, so only its
	// recompute can bring them back.
	s.exec(`DELETE FROM daily_summaries WHERE user_id = $1`, uid)
	out, _ := s.healthctlErr("replay", "--all")
	t.Logf("healthctl replay --all: %s", strings.TrimSpace(out))
	s.drained(60 * time.Second)
	if after := dump(); after != before {
		t.Errorf("summaries after healthctl replay --all differ (%s, before %s)", after, before)
	}
	// The rebuilt tables keep the read-only role's grants.
	if got := grafanaRows(t, conn, expandGrafana(t, loadHealthDashboard(t, "health-workouts.json").Panels[0].Targets[0].RawSQL,
		map[string][]string{"user": {uid}}, nil, r)); len(got) == 0 {
		t.Error("after the rebuild, Grafana's role reads no workouts")
	}
}
