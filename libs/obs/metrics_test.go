package obs_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/healthexport/libs/obs"
)

func TestSubsystemRegisterer(t *testing.T) {
	cases := []struct {
		sub  obs.Subsystem
		want string
	}{
		{obs.Edge, "healthexport_edge_things_total"},
		{obs.Writer, "healthexport_writer_things_total"},
		{obs.Archiver, "healthexport_archiver_things_total"},
	}
	for _, c := range cases {
		reg := obs.NewRegistry()
		c.sub.Registerer(reg).MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "things_total", Help: "h"}))
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, f := range fams {
			found = found || f.GetName() == c.want
			if n := f.GetName(); n == "healthexport_go_goroutines" || n == c.sub.Prefix()+"go_goroutines" {
				t.Errorf("the Go collector was prefixed: %s", n)
			}
		}
		if !found {
			t.Errorf("%s: no family %s", c.sub, c.want)
		}
	}
}
