package synth

import (
	"io"
	"math"
)

// Sizing of ForSize.
const (
	// bytesPerDay is how much body a day of the app's minute-level backfill
	// weighs: 29–30 MB for 15 days has been measured. ForSize gives the
	// days this share and the workouts' routes the rest.
	bytesPerDay = 2 << 20
	// maxRoutePoints caps one workout at about 7 hours of 1 Hz fixes (a
	// long hike): a bigger target gets more days instead.
	maxRoutePoints = 25_000
	forSizeSeed    = 1
)

// ForSize returns a Spec whose body is about targetBytes (within 10 % for
// targets of 2 MiB and more; smaller targets get one day and no workouts,
// about 1.2 MB): DefaultStart, DefaultSources, sleep every night, a day per
// 2 MiB of target, and two workouts whose routes fill the rest. 30 MiB is
// 15 days of minute-level heart rate, steps and energy from two devices,
// 15 nights of sleep and two workouts of about 22,000 route points each.
//
// It measures the generator (a few small bodies written to io.Discard)
// rather than trusting constants, so it stays right when the layout changes.
func ForSize(targetBytes int64) Spec {
	s := Spec{Start: DefaultStart, Sources: DefaultSources, SleepNights: true, Seed: forSizeSeed}
	size := func(days, workouts, route int) float64 {
		t := s
		t.Days, t.Workouts, t.RoutePoints = days, workouts, route
		c, _ := Write(io.Discard, t)
		return float64(c.Bytes)
	}
	envelope := size(0, 0, 0)
	perDay := size(2, 0, 0) - size(1, 0, 0)
	workout := size(0, 1, 2000) - envelope                     // one workout of 2,000 points
	perPoint := (size(0, 1, 4000) - envelope - workout) / 2000 // route point + its share of series
	workoutBase := workout - 2000*perPoint

	target := float64(targetBytes)
	s.Days = max(1, int(math.Round(target/bytesPerDay)))
	rest := target - envelope - float64(s.Days)*perDay
	if rest < 2*(workoutBase+1000*perPoint) {
		// Too small for two real workouts: days only, as close as they get.
		s.Days = max(1, int(math.Round((target-envelope)/perDay)))
		return s
	}
	s.Workouts = 2
	points := (rest/2 - workoutBase) / perPoint
	if points > maxRoutePoints {
		// Long enough routes: the rest in more days.
		extra := rest - 2*(workoutBase+maxRoutePoints*perPoint)
		s.Days += int(math.Round(extra / perDay))
		rest = target - envelope - float64(s.Days)*perDay
		points = min(maxRoutePoints, max(0, (rest/2-workoutBase)/perPoint))
	}
	s.RoutePoints = int(points)
	return s
}
