package applehealth

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/healthexport/libs/hae"
)

// ECG is one electrocardiograms/*.csv: a header of "label,value" lines in
// the phone's language, then one voltage per line.
type ECG struct {
	Recorded        string // "2026-11-01 08:00:00 +0100", as written
	Classification  string // as written, localised ("Ritmo sinusal")
	Symptoms        string
	SoftwareVersion string
	Device          string
	SampleRate      string  // as written ("512 Hz", "512 hertz")
	SampleRateHz    float64 // its number, 0 when unreadable
	Lead            string
	Unit            string // "µV"
	Voltages        []float64
}

// ecgHeaderAfterDate is the header's order after the recorded date, the
// same in every language the Health app writes (only the labels change).
var ecgHeaderAfterDate = [...]string{"classification", "symptoms", "software_version", "device", "sample_rate", "lead", "unit"}

// maxECGSamples bounds one recording (30 s at 512 Hz is 15,360).
const maxECGSamples = 1 << 20

// ErrNotECG is a CSV that is not an ECG recording.
var ErrNotECG = errors.New("not an ECG recording")

// ReadECG reads one recording. The labels are localised, so the fields are
// found by their values and their order: the recorded date is the first
// value that is a full timestamp; classification, symptoms, software
// version, device, sample rate, lead and unit follow it in that order. The
// name and date of birth before it are not kept.
func ReadECG(r io.Reader) (*ECG, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	cr.ReuseRecord = true
	e := &ECG{}
	after := -1 // header lines read after the recorded date; -1 before it
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return e, fmt.Errorf("%w: line %d: %v", ErrNotECG, pe.Line, pe.Err)
			}
			return e, err
		}
		fields := trimAll(rec)
		if isBlank(fields) {
			continue
		}
		if v, ok := voltage(fields); ok && after >= 0 {
			if len(e.Voltages) >= maxECGSamples {
				return e, fmt.Errorf("%w: more than %d samples", ErrTooLarge, maxECGSamples)
			}
			e.Voltages = append(e.Voltages, v)
			continue
		}
		if len(e.Voltages) > 0 {
			return e, fmt.Errorf("%w: line %d: %q among the voltages", ErrNotECG, line, strings.Join(fields, ","))
		}
		value := ""
		if len(fields) > 1 {
			value = strings.Join(fields[1:], ",")
		}
		if after < 0 {
			if t, err := hae.ParseTime(value); err == nil && !t.DateOnly {
				e.Recorded, after = value, 0
			}
			continue
		}
		if after < len(ecgHeaderAfterDate) {
			e.set(ecgHeaderAfterDate[after], value)
		}
		after++
	}
	if e.Recorded == "" {
		return e, fmt.Errorf("%w: no recorded date (a \"label,YYYY-MM-DD HH:MM:SS ±HHMM\" line)", ErrNotECG)
	}
	return e, nil
}

func (e *ECG) set(field, value string) {
	switch field {
	case "classification":
		e.Classification = value
	case "symptoms":
		e.Symptoms = value
	case "software_version":
		e.SoftwareVersion = value
	case "device":
		e.Device = value
	case "sample_rate":
		e.SampleRate = value
		e.SampleRateHz = leadingNumber(value)
	case "lead":
		e.Lead = value
	case "unit":
		e.Unit = value
	}
}

// voltage reads a line holding one number ("-12.345"; a decimal comma
// splits it in two fields: "-12,345").
func voltage(fields []string) (float64, bool) {
	s := fields[0]
	if len(fields) == 2 && isDigits(fields[1]) && !strings.Contains(s, ".") {
		s += "." + fields[1]
	} else if len(fields) > 1 && !isBlank(fields[1:]) {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

// leadingNumber reads "512 Hz" or "512,0 hertz" as 512.
func leadingNumber(s string) float64 {
	end := strings.IndexFunc(s, func(r rune) bool { return !(unicode.IsDigit(r) || r == '.' || r == ',') })
	if end < 0 {
		end = len(s)
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(s[:end], ",", "."), 64)
	if err != nil {
		return 0
	}
	return v
}

func trimAll(rec []string) []string {
	out := make([]string, len(rec))
	for i, f := range rec {
		out[i] = strings.TrimSpace(f)
	}
	return out
}

func isBlank(fields []string) bool {
	for _, f := range fields {
		if f != "" {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
