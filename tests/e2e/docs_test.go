package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/healthexport/libs/testenv"
)

// TestReadmeLayoutListsEveryPackage: README's Layout names every Go
// package of the repository: a package by its directory, an internal one
// on its parent's line (services/edge ... internal/server).
func TestReadmeLayoutListsEveryPackage(t *testing.T) {
	readme := string(repoFile(t, "README.md"))
	_, layout, ok := strings.Cut(readme, "\n## Layout\n")
	if !ok {
		t.Fatal("README.md has no ## Layout section")
	}
	layout, _, _ = strings.Cut(layout, "\n## ")
	lines := strings.Split(layout, "\n")
	root := testenv.RepoRoot()
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			rel, _ := filepath.Rel(root, filepath.Dir(path))
			if !slices.Contains(dirs, rel) {
				dirs = append(dirs, rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 20 {
		t.Fatalf("only %d package directories found under %s", len(dirs), root)
	}
	for _, dir := range dirs {
		parent, internal, isInternal := strings.Cut(dir, "/internal/")
		listed := slices.ContainsFunc(lines, func(l string) bool {
			fields := strings.Fields(l)
			if len(fields) == 0 {
				return false
			}
			head := strings.TrimSuffix(fields[0], "/")
			if !isInternal {
				return head == dir
			}
			return head == parent && (strings.Contains(l, "internal/"+internal) || slices.Contains(strings.FieldsFunc(l, func(r rune) bool {
				return r == ' ' || r == ',' || r == '(' || r == ')' || r == ';'
			}), internal))
		})
		if !listed {
			t.Errorf("README's Layout does not list %s", dir)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "docs", "architecture.md")); err != nil {
		t.Errorf("docs/architecture.md: %v", err)
	}
}
