package e2e

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
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

// TestDocsStandAlone: no file of the repository points at documents that
// exist only outside it (design notes, a shared folder beside the
// checkout, the texts that commissioned the work); whoever clones the
// repository has the project's own docs instead. The phrases are built
// here from pieces, so that this file does not name them itself.
func TestDocsStandAlone(t *testing.T) {
	forbidden := []string{"design" + ".md", ".." + "/shared", "the " + "brief", "the " + "issue"}
	root := testenv.RepoRoot()
	files := trackedFiles(t, root)
	if len(files) < 100 {
		t.Fatalf("only %d files found under %s", len(files), root)
	}
	for _, rel := range files {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			if os.IsNotExist(err) {
				continue // deleted in the work tree, not yet committed
			}
			t.Fatal(err)
		}
		if bytes.IndexByte(b[:min(len(b), 8000)], 0) >= 0 {
			continue // binary: an image, a font
		}
		lower := strings.ToLower(string(b))
		for _, f := range forbidden {
			if i := strings.Index(lower, f); i >= 0 {
				line := strings.Count(lower[:i], "\n") + 1
				t.Errorf("%s:%d mentions %q: point to the repository's own docs (docs/architecture.md, README) instead", rel, line, f)
			}
		}
	}
}

// trackedFiles lists the repository's files: git's list where the tree is
// a checkout, else every file but hidden folders and built binaries.
func trackedFiles(t *testing.T, root string) []string {
	t.Helper()
	if out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output(); err == nil {
		var files []string
		for _, f := range strings.Split(string(out), "\x00") {
			if f != "" {
				files = append(files, filepath.FromSlash(f))
			}
		}
		return files
	}
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, path)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
