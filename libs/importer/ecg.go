package importer

import (
	"strconv"
	"strings"
	"time"

	"github.com/healthexport/libs/applehealth"
	"github.com/healthexport/libs/hae"
)

// ecg is one electrocardiograms/*.csv as an ECG recording: its voltages
// with their times (from the recorded date and the sample rate), the
// classification as written (the vocabulary gives its canonical value)
// and the rest of its header in details. name is the file's path in the
// export's folder.
func (c *converter) ecg(name string, e *applehealth.ECG) error {
	o := &c.o
	o.reset()
	o.open('{')
	o.strString("start", e.Recorded)
	start, err := hae.ParseTime(e.Recorded)
	hz := e.SampleRateHz
	if err == nil && hz > 0 && len(e.Voltages) > 0 {
		end := start.Instant.Add(time.Duration(float64(len(e.Voltages)) / hz * float64(time.Second)))
		o.strString("end", end.In(time.FixedZone("", start.OffsetMin*60)).Format(exportTimeFmt))
	}
	if e.Classification != "" {
		o.strString("classification", e.Classification)
	}
	if hz > 0 {
		o.float("samplingFrequency", hz)
	}
	o.int("numberOfVoltageMeasurements", int64(len(e.Voltages)))
	o.key("voltageMeasurements")
	o.open('[')
	t0 := float64(start.Instant.UnixMicro()) / 1e6
	for i, v := range e.Voltages {
		o.sep()
		o.open('{')
		if err == nil && hz > 0 {
			o.key("date")
			o.b = strconv.AppendFloat(o.b, t0+float64(i)/hz, 'f', 6, 64)
		}
		o.float("voltage", v)
		if i == 0 && e.Unit != "" {
			o.strString("units", e.Unit)
		}
		o.close('}')
	}
	o.close(']')
	for _, f := range [...][2]string{{"symptoms", e.Symptoms}, {"softwareVersion", e.SoftwareVersion}, {"device", e.Device},
		{"sampleRate", e.SampleRate}, {"lead", e.Lead}, {"file", name}} {
		if f[1] != "" {
			o.strString(f[0], f[1])
		}
	}
	o.close('}')
	dir := strings.TrimSuffix(c.base, "/"+lastElem(c.base))
	return c.sendAt(dir+"/"+name+"/line", 1, "ecg", srcECG, "", "")
}

func lastElem(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}
