package e2e

// The settings of every binary, as the binary itself lists them
// (`<binary> --help-env`, generated from its settings structs): each one
// refuses a zero, a negative and a nonsense value with an error naming the
// variable, never a panic, unless the value is one its description allows;
// and README's configuration table and .env.example document exactly them.

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/healthexport/libs/testenv"
)

// binaries are every command an operator runs, each with its settings.
var binaries = []string{"edge", "raw-archiver", "metric-writer", "healthctl"}

// setting is one variable of a binary's --help-env.
type setting struct {
	Name, Type, Default string
	Required            bool
	// Zero is what an empty or 0 value means where it is allowed.
	Zero string
	Help string
}

// helpLine is --help-env's comment: "# NAME (type; required; empty or 0: ...): meaning".
var helpLine = regexp.MustCompile(`^# ([A-Z0-9_]+) \(([^;)]+)((?:; [^;)]+)*)\): (.*)$`)

// binarySettings runs `<binary> --help-env` and returns its settings by name.
func binarySettings(t *testing.T, binary string) map[string]setting {
	t.Helper()
	out := map[string]setting{}
	for _, s := range listSettings(t, binary) {
		out[s.Name] = s
	}
	return out
}

func listSettings(t *testing.T, binary string) []setting {
	t.Helper()
	cmd := exec.Command(filepath.Join(bins(t), binary), "--help-env")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	text, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s --help-env: %v\n%s", binary, err, stderr.String())
	}
	var out []setting
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		m := helpLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		s := setting{Name: m[1], Type: m[2], Help: m[4]}
		for _, attr := range strings.Split(strings.TrimPrefix(m[3], "; "), "; ") {
			switch {
			case attr == "required":
				s.Required = true
			case strings.HasPrefix(attr, "empty or 0: "):
				s.Zero = strings.TrimPrefix(attr, "empty or 0: ")
			}
		}
		if !sc.Scan() || !strings.HasPrefix(sc.Text(), s.Name+"=") {
			t.Fatalf("%s --help-env: %s is not followed by its %s= line", binary, m[0], s.Name)
		}
		s.Default = unquote(strings.TrimPrefix(sc.Text(), s.Name+"="))
		out = append(out, s)
	}
	if len(out) < 3 {
		t.Fatalf("%s --help-env listed %d settings:\n%s", binary, len(out), text)
	}
	return out
}

func unquote(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

// badValues are the values every setting of a type is tried with.
func badValues(s setting) []string {
	switch s.Type {
	case "integer":
		return []string{"0", "-1", "ten"}
	case "duration":
		return []string{"0", "-1s", "ten"}
	case "boolean":
		return []string{"maybe"}
	}
	vals := []string{"not valid!"}
	if s.Default == "" {
		vals = append(vals, "") // set to empty: the same as unset
	}
	return vals
}

// allowed reports whether the setting's description accepts v.
func allowed(s setting, v string) bool {
	return s.Zero != "" && (v == "" || v == "0")
}

// probe is what a binary is started as: healthctl with a command that
// reads every setting, the services as they are.
func probe(binary string) []string {
	if binary == "healthctl" {
		return []string{"migrate", "status"}
	}
	return nil
}

// TestSettingsRefuseBadValues starts every binary once per setting and bad
// value, beside otherwise valid settings (this test's own database, stream,
// prefixes and ports): it must exit at once with an error naming the
// variable, never panic; a value the setting documents as allowed (an
// empty INGEST_SPOOL_DIR, RAW_RETENTION=0, ...) must instead give a
// working binary, all of them at once.
func TestSettingsRefuseBadValues(t *testing.T) {
	s := newStack(t)
	for _, binary := range binaries {
		t.Run(binary, func(t *testing.T) {
			var zeros []string
			for _, set := range listSettings(t, binary) {
				for _, v := range badValues(set) {
					if allowed(set, v) {
						zeros = append(zeros, set.Name+"="+v)
						continue
					}
					if set.Required && v == "" {
						v = " " // empty is unset; a blank value is the zero of a required string
					}
					refused(t, s, binary, set.Name, v)
				}
			}
			works(t, s, binary, zeros)
		})
	}
}

// refused runs the binary with name=v and wants a quick non-zero exit whose
// error names the variable, without a panic.
func refused(t *testing.T, s *stack, binary, name, v string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bins(t), binary), probe(binary)...)
	cmd.Env = append(append([]string{}, s.env...), name+"="+v)
	cmd.Dir = s.logDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	switch {
	case bytes.Contains(out, []byte("panic:")) || bytes.Contains(out, []byte("goroutine ")):
		t.Errorf("%s=%q: %s panicked:\n%s", name, v, binary, out)
	case err == nil || ctx.Err() != nil:
		t.Errorf("%s=%q: %s did not refuse it at start (err %v):\n%s", name, v, binary, err, tail(string(out), 5))
	case !bytes.Contains(out, []byte(name)):
		t.Errorf("%s=%q: %s's error does not name %s:\n%s", name, v, binary, name, tail(string(out), 5))
	}
}

// works starts the binary with every allowed zero value at once: a service
// must become ready and stop cleanly on SIGTERM, healthctl must succeed.
func works(t *testing.T, s *stack, binary string, zeros []string) {
	t.Helper()
	if len(zeros) == 0 {
		return
	}
	t.Logf("%s with %s", binary, strings.Join(zeros, " "))
	if binary == "healthctl" {
		cmd := exec.Command(filepath.Join(bins(t), binary), probe(binary)...)
		cmd.Env = append(append([]string{}, s.env...), zeros...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("healthctl with %v: %v\n%s", zeros, err, out)
		}
		return
	}
	s.startAs(binary, binary, zeros...)
	s.waitReady(binary)
	if err := s.signal(binary, syscall.SIGTERM); err != nil {
		t.Errorf("%s with %v: stop: %v\n%s", binary, zeros, err, tail(s.logs(binary), 10))
	}
}

// TestConfigurationDocumented: README's configuration table and
// .env.example hold exactly the variables the binaries read, with their
// defaults, and each row says which binaries read it; the few others
// (read only by the tests or the scripts) are read there.
func TestConfigurationDocumented(t *testing.T) {
	readers := map[string][]string{}
	all := map[string]setting{}
	for _, binary := range binaries {
		for _, s := range listSettings(t, binary) {
			readers[s.Name] = append(readers[s.Name], binary)
			if prev, ok := all[s.Name]; ok && prev.Default != s.Default {
				t.Errorf("%s: default %q in one binary, %q in another", s.Name, prev.Default, s.Default)
			}
			all[s.Name] = s
		}
	}
	rows := readmeConfiguration(t)
	example := dotEnvExample(t)
	for _, name := range sortedKeys(all) {
		s := all[name]
		if strings.TrimSpace(s.Help) == "" {
			t.Errorf("%s has no help tag: --help-env cannot say what it means", name)
		}
		row, ok := rows[name]
		if !ok {
			t.Errorf("README's configuration table has no row for %s (read by %s)", name, strings.Join(readers[name], ", "))
		} else {
			if want := defaultCell(s); row.Default != want {
				t.Errorf("README: %s's default is %s, the binaries say %s", name, row.Default, want)
			}
			if got := usedBy(row.UsedBy); !slices.Equal(got, readers[name]) {
				t.Errorf("README: %s is used by %q, the binaries that read it are %v", name, row.UsedBy, readers[name])
			}
		}
		v, ok := example[name]
		switch {
		case !ok:
			t.Errorf(".env.example has no %s= line", name)
		case s.Required && v == "":
			t.Errorf(".env.example: %s is required, give it a working value", name)
		case !s.Required && v != s.Default:
			t.Errorf(".env.example: %s=%s, its default is %q", name, v, s.Default)
		}
	}
	// Documented but read by no binary: only what the tests or the scripts
	// read.
	for _, name := range sortedKeys(rows) {
		if _, ok := all[name]; !ok && !readOutsideBinaries(t, name) {
			t.Errorf("README documents %s, which nothing reads", name)
		}
	}
	for _, name := range sortedKeys(example) {
		if _, ok := all[name]; !ok && !readOutsideBinaries(t, name) {
			t.Errorf(".env.example sets %s, which nothing reads", name)
		}
	}
}

// defaultCell is how README's table shows a default.
func defaultCell(s setting) string {
	switch {
	case s.Required:
		return "(required)"
	case s.Default == "":
		return "(empty)"
	}
	return "`" + s.Default + "`"
}

// usedBy reads README's "used by" cell: binary names, or "all", "services"
// and "consumers" for the usual groups.
func usedBy(cell string) []string {
	groups := map[string][]string{
		"all":       binaries,
		"services":  {"edge", "raw-archiver", "metric-writer"},
		"consumers": {"raw-archiver", "metric-writer"},
	}
	var out []string
	for _, part := range strings.Split(cell, ",") {
		part = strings.Trim(strings.TrimSpace(part), "`")
		if g, ok := groups[part]; ok {
			out = append(out, g...)
		} else if part != "" {
			out = append(out, part)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return slices.Index(binaries, a) - slices.Index(binaries, b) })
	return slices.Compact(out)
}

type readmeRow struct{ Default, UsedBy string }

// readmeConfiguration reads the table under README's "## Configuration":
// | `NAME` | default | used by | meaning |.
func readmeConfiguration(t *testing.T) map[string]readmeRow {
	t.Helper()
	readme := string(repoFile(t, "README.md"))
	_, section, ok := strings.Cut(readme, "\n## Configuration\n")
	if !ok {
		t.Fatal("README.md has no ## Configuration section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	rows := map[string]readmeRow{}
	row := regexp.MustCompile("^\\| `([A-Z0-9_]+)` \\| ([^|]*) \\| ([^|]*) \\|")
	for _, line := range strings.Split(section, "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			rows[m[1]] = readmeRow{Default: strings.TrimSpace(m[2]), UsedBy: strings.TrimSpace(m[3])}
		}
	}
	if len(rows) < 10 {
		t.Fatalf("README's configuration table: only %d rows found", len(rows))
	}
	return rows
}

// readOutsideBinaries: the variable is read by a script or the tests'
// library.
func readOutsideBinaries(t *testing.T, name string) bool {
	t.Helper()
	root := testenv.RepoRoot()
	for _, glob := range []string{"scripts/*.sh", "libs/testenv/*.go", "Makefile"} {
		files, _ := filepath.Glob(filepath.Join(root, glob))
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte(name)) {
				return true
			}
		}
	}
	return false
}
