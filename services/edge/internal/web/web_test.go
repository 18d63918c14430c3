package web_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/healthexport/services/edge/internal/web"
)

// budget is what the page may weigh, compressed as served: 300 kB.
const budget = 300_000

// The page and its files weigh less than the budget, compressed as they
// are served.
func TestAssetsFitTheBudget(t *testing.T) {
	a, err := web.New()
	if err != nil {
		t.Fatal(err)
	}
	raw, sent := 0, 0
	for _, f := range append([]*web.Asset{a.Index()}, values(a.Files())...) {
		raw += len(f.Body)
		if f.Gzip != nil {
			sent += len(f.Gzip)
		} else {
			sent += len(f.Body)
		}
	}
	t.Logf("%d files: %d bytes, %d bytes compressed (budget %d)", len(a.Files())+1, raw, sent, budget)
	if sent > budget {
		t.Errorf("the page weighs %d bytes compressed, over the budget of %d", sent, budget)
	}
}

// Every vendored file is named in a licence file beside it, and the
// licence is there in full (MIT: its permission notice).
func TestVendoredFilesKeepTheirLicences(t *testing.T) {
	licences, err := filepath.Glob("static/LICENSE-*.txt")
	if err != nil || len(licences) == 0 {
		t.Fatalf("no licence files in static/: %v", err)
	}
	var all strings.Builder
	for _, path := range licences {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "Permission is hereby granted") {
			t.Errorf("%s: no permission notice", path)
		}
		all.Write(b)
	}
	for _, name := range []string{"uPlot.esm.js", "uPlot.min.css", "qrcode.mjs"} {
		if !strings.Contains(all.String(), name) {
			t.Errorf("%s is vendored, but no licence file names it", name)
		}
	}
}

func values(m map[string]*web.Asset) []*web.Asset {
	var out []*web.Asset
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// Everything the page loads is one of its files, under the current
// version; every module a module imports is there too.
func TestPageNamesItsFiles(t *testing.T) {
	a, err := web.New()
	if err != nil {
		t.Fatal(err)
	}
	page := string(a.Index().Body)
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 5 {
		t.Fatalf("the page names only %d files", len(refs))
	}
	for _, r := range refs {
		if r[1] == "#main" || r[1] == "/openapi.yaml" {
			continue
		}
		name, ok := strings.CutPrefix(r[1], "/ui/"+a.Version+"/")
		if !ok {
			t.Errorf("the page loads %s, not one of its versioned files", r[1])
			continue
		}
		if _, ok := a.File(a.Version, name); !ok {
			t.Errorf("the page loads %s, which is not embedded", name)
		}
	}
	imports := regexp.MustCompile(`(?m)^\s*import\s[^'"]*['"]([^'"]+)['"]`)
	for name, f := range a.Files() {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		for _, m := range imports.FindAllStringSubmatch(string(f.Body), -1) {
			dep, ok := strings.CutPrefix(m[1], "./")
			if !ok {
				t.Errorf("%s imports %s: only ./ files of the page", name, m[1])
				continue
			}
			if _, ok := a.File(a.Version, dep); !ok {
				t.Errorf("%s imports %s, which is not embedded", name, m[1])
			}
		}
	}
	if _, ok := a.File("0123456789abcdef", "app.js"); ok {
		t.Error("a file is served under another version")
	}
}

// Nothing the CSP would refuse (inline script or style, handlers in
// attributes), nothing that parses data as markup, nothing from another
// origin: the rules the app's own files keep (the vendored ones are
// checked for what the page would trip on).
func TestNoInlineCodeNoMarkupSinksNoOtherOrigins(t *testing.T) {
	vendored := map[string]bool{"uPlot.esm.js": true, "uPlot.min.css": true, "qrcode.mjs": true}
	rules := []struct {
		name    string
		re      *regexp.Regexp
		vendors bool // also applies to vendored files
	}{
		{"inline script", regexp.MustCompile(`<script(?:\s(?:type="module"\s)?)?>`), true},
		// qrcode.mjs builds HTML strings with style attributes in functions the page does not call
		{"style element or attribute", regexp.MustCompile(`<style|\sstyle=|setAttribute\(\s*['"]style`), false},
		{"event handler attribute", regexp.MustCompile(`<[^>]+\son[a-z]+=`), true},
		{"markup sink", regexp.MustCompile(`\.innerHTML\s*=|\.outerHTML\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(`), true},
		{"another origin", regexp.MustCompile(`(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}`), false},
	}
	files, err := filepath.Glob("static/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		if strings.HasSuffix(name, ".txt") {
			continue // licences
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for _, r := range rules {
			if vendored[name] && !r.vendors {
				continue
			}
			for _, m := range r.re.FindAllString(text, -1) {
				if r.name == "another origin" && m == "http://www.w3.org" {
					continue // the SVG namespace, a name rather than a request
				}
				t.Errorf("%s: %s: %q", name, r.name, m)
			}
		}
	}
}
