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
		lo := 50 + i%40
		return fmt.Appendf(b, "      \"Min\": %d,\n      \"Avg\": %s,\n      \"Max\": %d,\n", lo, strconv.FormatFloat(float64(lo)+7.25, 'f', -1, 64), lo+15)
	}, !withQuantities)
	if withQuantities {
		metric("step_count", "count", func(b []byte, i int, _ string) []byte {
			return fmt.Appendf(b, "      \"qty\": %d,\n", i%120)
		}, false)
		metric("active_energy", "kcal", func(b []byte, i int, _ string) []byte {
			return fmt.Appendf(b, "      \"qty\": %s,\n", strconv.FormatFloat(0.5+float64(i%17)/10, 'f', -1, 64))
		}, true)
	}
	b = append(b, "  ]\n }\n}\n"...)
	return b, points
}

// minutesFor is how many minutes make a body of about size bytes.
func minutesFor(size int, withQuantities bool) int {
	body, _ := hrBody("bench device 00", 0, 100, withQuantities)
	per := float64(len(body)) / 100
	return max(1, int(float64(size)/per))
}
