package applehealth_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/healthexport/libs/applehealth"
)

// elements reads every top-level element: "Name@line attr=value ...".
func elements(doc string) ([]string, error) {
	x, err := applehealth.NewReader(strings.NewReader(doc))
	if err != nil {
		return nil, err
	}
	var out []string
	for {
		el, err := x.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, describe(el))
	}
}

func describe(el applehealth.Element) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s@%03d", el.Name(), el.Line())
	for k, v := range el.Attrs() {
		b.WriteString(" " + string(k) + "=" + string(v))
	}
	if m := el.Malformed(); m != "" {
		b.WriteString(" !" + m)
	}
	for ch := range el.Children() {
		b.WriteString(" [" + describe(ch) + "]")
	}
	return b.String()
}

func TestReader(t *testing.T) {
	const brokenDTD = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary|ClinicalRecord|Audiogram|VisionPrescription)*)>
<!ATTLIST VisionPrescription
  type             CDATA #REQUIRED
  brand            CDATA #IMPLIED

]>
`
	tests := []struct {
		name string
		doc  string
		want []string
		err  error
	}{
		{"the malformed DTD of export version 12",
			brokenDTD + `<HealthData locale="en_US">
 <ExportDate value="2026-11-02 09:00:00 +0100"/>
 <Record type="HKQuantityTypeIdentifierHeartRate" value="72">
  <MetadataEntry key="HKMetadataKeyHeartRateMotionContext" value="0"/>
 </Record>
</HealthData>`,
			[]string{"ExportDate@010 value=2026-11-02 09:00:00 +0100",
				"Record@011 type=HKQuantityTypeIdentifierHeartRate value=72 [MetadataEntry@012 key=HKMetadataKeyHeartRateMotionContext value=0]"}, nil},
		{"no DTD, a byte order mark, comments",
			"\xef\xbb\xbf<?xml version=\"1.0\"?>\n<!-- made by hand -->\n<HealthData>\n<Record type=\"A\"/><Record type=\"B\"/>\n</HealthData>\n",
			[]string{"Record@004 type=A", "Record@004 type=B"}, nil},
		{"a DOCTYPE without a DTD", `<!DOCTYPE HealthData><HealthData><Me/></HealthData>`, []string{"Me@001"}, nil},
		{"\\x0b and entities in attributes",
			"<HealthData><Record sourceName=\"Watch\x0b\" device=\"&lt;&lt;HKDevice&gt;&gt; &amp; &#x41;&#66;\"/></HealthData>",
			[]string{"Record@001 sourceName=Watch\x0b device=<<HKDevice>> & AB"}, nil},
		{"an unknown entity is kept as written",
			`<HealthData><Record value="a &nbsp; b"/></HealthData>`, []string{"Record@001 value=a &nbsp; b"}, nil},
		{"a malformed attribute marks its element",
			`<HealthData><Record type="A" value=5/><Record type="B"/></HealthData>`,
			[]string{"Record@001 type=A !malformed attributes: invalid attribute value: 5", "Record@001 type=B"}, nil},
		{"an inline route", "<HealthData>\n<Workout><WorkoutRoute><Location latitude=\"1\"/><Location latitude=\"2\"/></WorkoutRoute></Workout>\n</HealthData>",
			[]string{"Workout@002 [WorkoutRoute@002 [Location@002 latitude=1] [Location@002 latitude=2]]"}, nil},
		{"another root", `<?xml version="1.0"?><ClinicalDocument/>`, nil, applehealth.ErrNotExport},
		{"not XML", `hello`, nil, applehealth.ErrNotExport},
		{"empty", ``, nil, applehealth.ErrNotExport},
		{"cut inside a record", "<HealthData>\n<Record type=\"A\"/>\n<Record type=\"B\">\n<Metadata", []string{"Record@002 type=A"}, applehealth.ErrTruncated},
		{"cut before the root closes", "<HealthData>\n<Record type=\"A\"/>\n", []string{"Record@002 type=A"}, applehealth.ErrTruncated},
		{"a DTD never closed", "<!DOCTYPE HealthData [\n<!ELEMENT x>", nil, applehealth.ErrNotExport},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := elements(tc.doc)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestReaderTruncatedSaysWhere: a cut names the line and the element it
// fell in.
func TestReaderTruncatedSaysWhere(t *testing.T) {
	_, err := elements("<HealthData>\n<Record type=\"A\"/>\n<Workout type=\"B\">\n<WorkoutRoute>\n<Location")
	if err == nil || !strings.Contains(err.Error(), "inside the <Workout> of line 3") || !strings.Contains(err.Error(), "line 5") {
		t.Errorf("err = %v", err)
	}
}

// TestReaderBoundsAnUnclosedTag: a quote never closed does not make the
// parser buffer the rest of the file.
func TestReaderBoundsAnUnclosedTag(t *testing.T) {
	r := io.MultiReader(strings.NewReader(`<HealthData><Record value="`), endless{})
	x, err := applehealth.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Next(); !errors.Is(err, applehealth.ErrTooLarge) {
		t.Errorf("err = %v, want ErrTooLarge", err)
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// FuzzReader: whatever the bytes, the reader ends (EOF or an error) without
// panicking, and never returns an element after an error.
func FuzzReader(f *testing.F) {
	for _, seed := range []string{
		`<HealthData><Record type="A" value="1"><MetadataEntry key="k" value="v"/></Record></HealthData>`,
		"<!DOCTYPE HealthData [\n<!ATTLIST x\n]>\n<HealthData><Me/></HealthData>",
		`<HealthData><Record value=5/></HealthData>`,
		"<HealthData><Record a=\"\x0b&amp;&#0;\"/>",
		`<?xml?><!-- c --><HealthData><![CDATA[x]]><Workout><WorkoutRoute><Location/></WorkoutRoute></Workout></HealthData>`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		x, err := applehealth.NewReader(bytes.NewReader(doc))
		if err != nil {
			return
		}
		for range 10000 {
			el, err := x.Next()
			if err != nil {
				return
			}
			_ = describe(el)
		}
		t.Fatal("no end after 10000 elements of a short document")
	})
}
