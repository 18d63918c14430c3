package applehealth_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/healthexport/libs/applehealth"
)

func TestReadECG(t *testing.T) {
	tests := []struct {
		name, csv string
		want      string // "recorded|classification|device|hz|unit|voltages"
		err       error
	}{
		{"English", "Name,Ana\nDate of Birth,\"Jan 4, 1990\"\nRecorded Date,2026-11-01 11:00:00 +0100\nClassification,Sinus Rhythm\nSymptoms,None\nSoftware Version,2\nDevice,\"Watch7,3\"\nSample Rate,512 hertz\n,\nLead,Lead I\nUnit,µV\n,\n-12.5\n3.25\n",
			"2026-11-01 11:00:00 +0100|Sinus Rhythm|Watch7,3|512|µV|[-12.5 3.25]", nil},
		{"Spanish labels, a decimal comma", "Nombre,Ana\nFecha de nacimiento,\"4 may 1990\"\nFecha de registro,2026-11-01 11:00:00 +0100\nClasificación,Ritmo sinusal\nSíntomas,\nVersión de software,2\nDispositivo,\"Watch7,3\"\nFrecuencia de muestreo,512 hercios\n,\nDerivación,Derivación I\nUnidad,µV\n,\n3,75\n-1\n",
			"2026-11-01 11:00:00 +0100|Ritmo sinusal|Watch7,3|512|µV|[3.75 -1]", nil},
		{"Japanese labels", "名前,アナ\n生年月日,1990/05/04\n記録日,2026-11-01 11:00:00 +0900\n分類,洞調律\n症状,\nソフトウェアバージョン,2\nデバイス,Watch7\nサンプリングレート,512Hz\n,\nリード,I\n単位,µV\n,\n1.5\n",
			"2026-11-01 11:00:00 +0900|洞調律|Watch7|512|µV|[1.5]", nil},
		{"no recorded date", "Name,Ana\n1.0\n2.0\n", "", applehealth.ErrNotECG},
		{"text among the voltages", "Recorded Date,2026-11-01 11:00:00 +0100\nClassification,x\n,\n1.0\nhello,world\n", "", applehealth.ErrNotECG},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := applehealth.ReadECG(strings.NewReader(tc.csv))
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			got := fmt.Sprintf("%s|%s|%s|%g|%s|%v", e.Recorded, e.Classification, e.Device, e.SampleRateHz, e.Unit, e.Voltages)
			if got != tc.want {
				t.Errorf("got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestReadGPX(t *testing.T) {
	const gpx = `<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="Apple Health Export" xmlns="http://www.topografix.com/GPX/1/1">
 <metadata><time>2026-11-02T08:00:00Z</time></metadata>
 <trk><name>Route</name><trkseg>
  <trkpt lon="-3.69" lat="40.42"><ele>650.1</ele><time>2026-11-01T16:30:00Z</time><extensions><speed>6.1</speed><course>45.0</course><hAcc>4.2</hAcc><vAcc>3.0</vAcc></extensions></trkpt>
  <trkpt lat="40.43" lon="-3.68"><ele>651</ele><time>2026-11-01T16:30:01Z</time></trkpt>
 </trkseg></trk>
</gpx>`
	for _, tc := range []struct {
		name string
		doc  string
		want []string
		err  error
	}{
		{"whole", gpx, []string{"40.42,-3.69,650.1,2026-11-01T16:30:00Z,6.1,45.0,4.2,3.0", "40.43,-3.68,651,2026-11-01T16:30:01Z,,,,"}, nil},
		{"cut short", gpx[:strings.Index(gpx, `<trkpt lat="40.43"`)+30], []string{"40.42,-3.69,650.1,2026-11-01T16:30:00Z,6.1,45.0,4.2,3.0"}, applehealth.ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := applehealth.ReadGPX(strings.NewReader(tc.doc), func(p *applehealth.RoutePoint) error {
				got = append(got, strings.Join([]string{string(p.Lat), string(p.Lon), string(p.Ele), string(p.Time), string(p.Speed), string(p.Course), string(p.HAcc), string(p.VAcc)}, ","))
				return nil
			})
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// FuzzReadECG and FuzzReadGPX: any bytes end in a result or an error,
// never a panic.
func FuzzReadECG(f *testing.F) {
	f.Add([]byte("Recorded Date,2026-11-01 11:00:00 +0100\nClassification,x\nSymptoms,\nSoftware,1\nDevice,\"a,b\"\nSample Rate,512 Hz\n,\nLead,I\nUnit,µV\n,\n1\n2,5\n"))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = applehealth.ReadECG(strings.NewReader(string(b))) })
}

func FuzzReadGPX(f *testing.F) {
	f.Add([]byte(`<gpx><trk><trkseg><trkpt lat="1" lon="2"><ele>3</ele><time>t</time></trkpt></trkseg></trk></gpx>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = applehealth.ReadGPX(strings.NewReader(string(b)), func(*applehealth.RoutePoint) error { return nil })
	})
}
