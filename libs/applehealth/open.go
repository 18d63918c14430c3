package applehealth

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/klauspost/compress/zip"
)

// Export is an opened export: a zip as the Health app writes it, or its
// export.xml alone.
type Export struct {
	f    *os.File
	size int64
	zr   *zip.Reader // nil for a bare XML, or a zip read without its directory
	// xml is the entry holding the records; nil for a bare XML.
	xml *zip.File
	// dir is the folder of the records' XML inside the zip
	// ("apple_health_export/"), where workout-routes/ and
	// electrocardiograms/ are.
	dir  string
	name string // the records' file, as named in the zip (or the file's base name)
	// seq is set for a zip whose central directory is missing (cut short):
	// it is read from its start, entry by entry, as far as it goes;
	// seqOffset is where the records' entry begins.
	seq       bool
	seqOffset int64
	files     map[string]*zip.File
}

// Format names what was opened.
const (
	FormatZip = "zip"
	FormatXML = "xml"
)

// Open opens a file holding the Health app's export: a zip (export.zip,
// its XML found by its content, whatever its localised name) or a bare
// export.xml. It fails with ErrNotExport for anything else, saying what
// the file is. A zip cut short (no central directory) opens too, read from
// its start: Records then fails with ErrTruncated where the data ends.
func Open(name string) (*Export, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	e, err := open(f, path.Base(name))
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return e, nil
}

// OpenFile is Open for a file already open (an unlinked temporary file):
// name is what the sender called it. Closing the Export closes f.
func OpenFile(f *os.File, name string) (*Export, error) {
	return open(f, path.Base(name))
}

var zipMagic = []byte("PK\x03\x04")

func open(f *os.File, base string) (*Export, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	e := &Export{f: f, size: st.Size(), name: base}
	head := make([]byte, 512)
	n, _ := f.ReadAt(head, 0)
	head = head[:n]
	switch {
	case n == 0:
		return nil, fmt.Errorf("%w: the file is empty", ErrNotExport)
	case bytes.HasPrefix(head, zipMagic), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return e, e.openZip()
	case looksLikeXML(head):
		return e, nil
	}
	return nil, fmt.Errorf("%w: the file is neither a zip nor an XML document (it starts with %q)", ErrNotExport, printable(head, 16))
}

// looksLikeXML: after an optional byte order mark and spaces, a "<".
func looksLikeXML(head []byte) bool {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	head = bytes.TrimLeft(head, " \t\r\n")
	return len(head) > 0 && head[0] == '<'
}

func printable(b []byte, n int) string {
	b = b[:min(len(b), n)]
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '.'
		}
		return r
	}, string(b))
}

// headerPeek is how much of an XML entry is read to recognise export.xml:
// the declaration and the DOCTYPE's first line.
const headerPeek = 4 << 10

// openZip reads the zip's directory and finds the records' XML.
func (e *Export) openZip() error {
	zr, err := zip.NewReader(e.f, e.size)
	if err != nil {
		// No central directory: the zip was cut short. Its entries are
		// still readable from the start, one after the other.
		e.seq = true
		return e.findSequential()
	}
	e.zr = zr
	e.files = make(map[string]*zip.File, len(zr.File))
	var candidates []*zip.File
	for _, f := range zr.File {
		e.files[f.Name] = f
		if f.FileInfo().IsDir() || !strings.EqualFold(path.Ext(f.Name), ".xml") {
			continue
		}
		ok, err := isRecords(f)
		if err != nil {
			return fmt.Errorf("read %s in the zip: %w", f.Name, err)
		}
		if ok {
			candidates = append(candidates, f)
		}
	}
	if len(candidates) == 0 {
		return fmt.Errorf("%w: the zip holds no XML whose root is <%s> (it holds %s)", ErrNotExport, rootName, listNames(zr.File))
	}
	// The biggest, should a zip ever hold two.
	e.xml = slices.MaxFunc(candidates, func(a, b *zip.File) int { return int(a.UncompressedSize64>>20) - int(b.UncompressedSize64>>20) })
	e.name = e.xml.Name
	if i := strings.LastIndexByte(e.name, '/'); i >= 0 {
		e.dir = e.name[:i+1]
	}
	return nil
}

// isRecords tells export.xml (root <HealthData>) from export_cda.xml (a
// clinical document) and anything else, by its first bytes.
func isRecords(f *zip.File) (bool, error) {
	rc, err := f.Open()
	if err != nil {
		return false, err
	}
	defer rc.Close()
	head := make([]byte, headerPeek)
	n, err := io.ReadFull(rc, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return false, err
	}
	return isRecordsHead(head[:n]), nil
}

func isRecordsHead(head []byte) bool {
	return bytes.Contains(head, []byte("<!DOCTYPE "+rootName)) || bytes.Contains(head, []byte("<"+rootName))
}

func listNames(files []*zip.File) string {
	var names []string
	for _, f := range files {
		if len(names) == 5 {
			names = append(names, fmt.Sprintf("and %d more", len(files)-5))
			break
		}
		names = append(names, f.Name)
	}
	if len(names) == 0 {
		return "nothing"
	}
	return strings.Join(names, ", ")
}

// Close releases the file.
func (e *Export) Close() error { return e.f.Close() }

// Format is FormatZip or FormatXML.
func (e *Export) Format() string {
	if e.zr != nil || e.seq {
		return FormatZip
	}
	return FormatXML
}

// Name is the records' file: its path in the zip (its name is localised
// on some phones: exportar.xml, 导出.xml), or the bare XML's name.
func (e *Export) Name() string { return e.name }

// Size is the size of the file opened, in bytes.
func (e *Export) Size() int64 { return e.size }

// XMLSize is the size of the records' XML when known (0 otherwise).
func (e *Export) XMLSize() int64 {
	switch {
	case e.xml != nil:
		return int64(e.xml.UncompressedSize64)
	case e.Format() == FormatXML:
		return e.size
	}
	return 0
}

// Records opens the records' XML for reading (see Reader); the closer
// releases it.
func (e *Export) Records() (*Reader, io.Closer, error) {
	var (
		rc  io.ReadCloser
		err error
	)
	switch {
	case e.seq:
		rc, err = e.sequentialRecords()
	case e.xml != nil:
		rc, err = e.xml.Open()
	default:
		if _, err = e.f.Seek(0, io.SeekStart); err == nil {
			rc = io.NopCloser(bufio.NewReaderSize(e.f, 256<<10))
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", e.name, err)
	}
	x, err := NewReader(&zipErrors{r: rc})
	if err != nil {
		_ = rc.Close()
		return nil, nil, err
	}
	return x, rc, nil
}

// zipErrors turns a compressed entry that ends early into ErrTruncated.
type zipErrors struct{ r io.Reader }

func (z *zipErrors) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, zip.ErrChecksum) {
			return n, fmt.Errorf("%w: %w", ErrTruncated, err)
		}
	}
	return n, err
}

// File opens a file of the export by its path relative to the records'
// folder ("/workout-routes/route_2026-11-01.gpx", as FileReference writes
// it). ok is false when there is no such file (a bare XML has none).
func (e *Export) File(rel string) (rc io.ReadCloser, ok bool, err error) {
	if e.zr == nil {
		return nil, false, nil
	}
	name := e.dir + strings.TrimPrefix(rel, "/")
	f := e.files[name]
	if f == nil {
		return nil, false, nil
	}
	rc, err = f.Open()
	return rc, err == nil, err
}

// CutShort reports a zip read without its central directory: it was cut
// short, and only its records' XML, as far as it goes, could be read.
func (e *Export) CutShort() bool { return e.seq }

// ECGFiles lists the electrocardiograms/*.csv of the export, in the zip's
// order.
func (e *Export) ECGFiles() []string {
	if e.zr == nil {
		return nil
	}
	var out []string
	for _, f := range e.zr.File {
		if f.FileInfo().IsDir() || !strings.EqualFold(path.Ext(f.Name), ".csv") {
			continue
		}
		if strings.HasPrefix(f.Name, e.dir+"electrocardiograms/") {
			out = append(out, strings.TrimPrefix(f.Name, e.dir))
		}
	}
	return out
}
