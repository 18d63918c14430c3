package bench

import (
	"fmt"
	"strconv"
	"time"

	"github.com/healthexport/libs/hae"
)

// epoch is the first minute of the benchmark's data: far enough in the
// past for months of minute-level points per device.
var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("", -8*3600))

// hrBody is a Health Auto Export body of minute-level points from one
// device: heart rate, and when withQuantities steps and energy too, laid
// out as the app writes them. Every point has its own minute, so each is
// one row.
func hrBody(source string, firstMinute, minutes int, withQuantities bool) ([]byte, int) {
	b := make([]byte, 0, minutes*130+256)
	b = append(b, "{\n \"data\": {\n  \"metrics\": [\n"...)
	points := 0
	metric := func(name, units string, point func(b []byte, i int, at string) []byte, last bool) {
		b = append(b, "   {\n    \"name\": \""...)
		b = append(b, name...)
		b = append(b, "\",\n    \"units\": \""...)
		b = append(b, units...)
		b = append(b, "\",\n    \"data\": [\n"...)
		for i := range minutes {
			at := epoch.Add(time.Duration(firstMinute+i) * time.Minute).Format("2006-01-02 15:04:05 -0700")
			b = append(b, "     {\n      \"date\": \""...)
			b = append(b, at...)
			b = append(b, "\",\n"...)
			b = point(b, firstMinute+i, at)
			b = append(b, "      \"source\": "...)
			b = hae.AppendString(b, source)
			b = append(b, "\n     }"...)
			if i < minutes-1 {
				b = append(b, ',')
			}
			b = append(b, '\n')
			points++
		}
		b = append(b, "    ]\n   }"...)
		if !last {
			b = append(b, ',')
		}
		b = append(b, '\n')
	}
	metric("heart_rate", "count/min", func(b []byte, i int, _ string) []byte {
		// Fractional, irregular values as aggregated exports carry: bodies
		// of repeating values would compress (and travel) unrealistically well.
		h := noise(i)
		avg := 55 + float64(h%550000)/10000
		lo, hi := avg-float64(h>>20%800)/100, avg+float64(h>>10%800)/100
		return fmt.Appendf(b, "      \"Min\": %s,\n      \"Avg\": %s,\n      \"Max\": %s,\n",
			strconv.FormatFloat(lo, 'f', 2, 64), strconv.FormatFloat(avg, 'f', 4, 64), strconv.FormatFloat(hi, 'f', 2, 64))
	}, !withQuantities)
	if withQuantities {
		metric("step_count", "count", func(b []byte, i int, _ string) []byte {
			return fmt.Appendf(b, "      \"qty\": %d,\n", noise(i)%120)
		}, false)
		metric("active_energy", "kcal", func(b []byte, i int, _ string) []byte {
			return fmt.Appendf(b, "      \"qty\": %s,\n", strconv.FormatFloat(0.5+float64(noise(i)%1700)/1000, 'f', 3, 64))
		}, true)
	}
	b = append(b, "  ]\n }\n}\n"...)
	return b, points
}

// noise is a fixed pseudo-random number per minute (Knuth's multiplicative
// hash, then xorshift), so every run sends the same bodies.
func noise(i int) uint32 {
	h := uint32(i)*2654435761 + 0x9e3779b9
	h ^= h >> 15
	h *= 2246822519
	return h ^ h>>13
}

// minutesFor is how many minutes make a body of about size bytes.
func minutesFor(size int, withQuantities bool) int {
	body, _ := hrBody("bench device 00", 0, 100, withQuantities)
	per := float64(len(body)) / 100
	return max(1, int(float64(size)/per))
}
