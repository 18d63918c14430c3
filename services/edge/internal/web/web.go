// Package web is the edge's web page: a small app of static files (plain
// JavaScript modules, CSS, two vendored libraries with their licences)
// embedded in the binary, that signs in with an API key and shows the
// user's data through the read API.
//
// The files are served under /ui/<version>/<name>, version being a hash of
// every file, so they can be cached for a year; the page itself (/) is
// revalidated every time (its ETag is its hash) and names that version.
// Every file is compressed once at start-up. The Content-Security-Policy
// allows scripts, styles and requests of this origin only, no inline
// script or style, and no framing.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"

	"github.com/klauspost/compress/gzip"
)

//go:embed static
var static embed.FS

// versionMark is replaced in index.html by the assets' version.
const versionMark = "{{version}}"

// Headers of every answer of the web page.
const (
	// CSP: nothing but this origin; no inline script or style, no eval,
	// no framing; DOM sinks that parse HTML are refused outright (the app
	// builds its DOM with textContent, so data is never markup).
	CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
		"manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'"
	// CacheAsset is for the versioned files: their URL changes with them.
	CacheAsset = "public, max-age=31536000, immutable"
	// CachePage is for / : always revalidated, so a new edge's page shows.
	CachePage = "no-cache"
)

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".txt":  "text/plain; charset=utf-8",
}

// Asset is one file, ready to send.
type Asset struct {
	Name        string
	ContentType string
	Body        []byte
	Gzip        []byte // nil when compressing does not pay
	ETag        string // quoted, from the content's hash
}

// Assets are the page and its files.
type Assets struct {
	Version string
	index   *Asset
	files   map[string]*Asset
}

// New reads the embedded files, stamps the page with their version and
// compresses each.
func New() (*Assets, error) {
	root, err := fs.Sub(static, "static")
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	entries, err := fs.ReadDir(root, ".")
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	a := &Assets{files: map[string]*Asset{}}
	all := sha256.New()
	var page []byte
	for _, e := range entries {
		if e.IsDir() {
			return nil, fmt.Errorf("web: %s: the files are served from one folder, without subfolders", e.Name())
		}
		b, err := fs.ReadFile(root, e.Name())
		if err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
		fmt.Fprintf(all, "%s\x00%d\x00", e.Name(), len(b))
		all.Write(b)
		if e.Name() == "index.html" {
			page = b
			continue
		}
		if a.files[e.Name()], err = newAsset(e.Name(), b); err != nil {
			return nil, err
		}
	}
	if page == nil {
		return nil, fmt.Errorf("web: no index.html")
	}
	a.Version = hex.EncodeToString(all.Sum(nil))[:16]
	if a.index, err = newAsset("index.html", bytes.ReplaceAll(page, []byte(versionMark), []byte(a.Version))); err != nil {
		return nil, err
	}
	return a, nil
}

func newAsset(name string, body []byte) (*Asset, error) {
	// Our own table, not the system's: modules must be JavaScript
	// wherever the edge runs (nosniff refuses them otherwise).
	ct, ok := contentTypes[path.Ext(name)]
	if !ok {
		return nil, fmt.Errorf("web: %s: no content type for its extension", name)
	}
	sum := sha256.Sum256(body)
	a := &Asset{Name: name, ContentType: ct, Body: body, ETag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	if buf.Len() < len(body) {
		a.Gzip = buf.Bytes()
	}
	return a, nil
}

// Index is the page.
func (a *Assets) Index() *Asset { return a.index }

// File is one of the page's files, if version is the current one.
func (a *Assets) File(version, name string) (*Asset, bool) {
	if version != a.Version {
		return nil, false
	}
	f, ok := a.files[name]
	return f, ok
}

// Files are every file but the page, by name.
func (a *Assets) Files() map[string]*Asset { return a.files }
