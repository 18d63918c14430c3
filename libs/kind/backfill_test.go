package kind_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/healthexport/libs/kind"
)

// Migrations that backfill canonical values carry the vocabulary's index
// between these markers, one "('field', 'folded', 'canonical')," a line.
const (
	vocabBegin = "-- vocabulary begin"
	vocabEnd   = "-- vocabulary end"
)

var vocabLine = regexp.MustCompile(`^\s*\('((?:[^']|'')*)', '((?:[^']|'')*)', '((?:[^']|'')*)'\),?$`)

// TestBackfillMigrationsCoverVocabulary: every wording the vocabulary
// knows is in a backfill migration with the same canonical value, so rows
// stored before a wording was added get their canonical value too. When
// the vocabulary grows, add a migration with the lines this test prints
// (and the UPDATEs of the first one). Run with PRINT_VOCABULARY=1 to print
// the whole index.
func TestBackfillMigrationsCoverVocabulary(t *testing.T) {
	want := kind.NewVocabulary().Folded()
	if os.Getenv("PRINT_VOCABULARY") != "" {
		for i, term := range want {
			sep := ","
			if i == len(want)-1 {
				sep = ""
			}
			fmt.Printf("    (%s, %s, %s)%s\n", sqlString(term.Field), sqlString(term.Text), sqlString(term.Canonical), sep)
		}
	}
	dir := filepath.Join("..", "..", "migrations")
	files, err := filepath.Glob(filepath.Join(dir, "*.up.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations in %s: %v", dir, err)
	}
	have := map[[2]string]string{}
	for _, f := range files {
		for k, v := range readVocabulary(t, f) {
			have[k] = v
		}
	}
	var missing []string
	for _, term := range want {
		if got, ok := have[[2]string{term.Field, term.Text}]; !ok || got != term.Canonical {
			missing = append(missing, fmt.Sprintf("    (%s, %s, %s),", sqlString(term.Field), sqlString(term.Text), sqlString(term.Canonical)))
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d wordings are in no backfill migration:\n%s", len(missing), strings.Join(missing, "\n"))
	}
}

func readVocabulary(t *testing.T, path string) map[[2]string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[[2]string]string{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == vocabBegin:
			in = true
		case strings.TrimSpace(line) == vocabEnd:
			in = false
		case in:
			m := vocabLine.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("%s: not a vocabulary line: %s", path, line)
				continue
			}
			unq := func(s string) string { return strings.ReplaceAll(s, "''", "'") }
			out[[2]string{unq(m[1]), unq(m[2])}] = unq(m[3])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
