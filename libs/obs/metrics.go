package obs

import "github.com/prometheus/client_golang/prometheus"

// Namespace begins the name of every metric the project defines, as
// Prometheus names its own prometheus_*: the Go and process collectors keep
// their standard go_* and process_* names.
const Namespace = "healthexport"

// Subsystem is the second part of a metric's name: the service that
// exports it.
type Subsystem string

// The services' subsystems.
const (
	Edge     Subsystem = "edge"
	Writer   Subsystem = "writer"
	Archiver Subsystem = "archiver"
)

// Prefix is what the subsystem's metric names begin with.
func (s Subsystem) Prefix() string { return Namespace + "_" + string(s) + "_" }

// Registerer returns reg with every metric registered through it named
// healthexport_<subsystem>_<name>. Packages shared by several services
// (stream's lag collector, apikey, ratelimit) name their metrics without a
// prefix and so take the subsystem of the service that runs them.
func (s Subsystem) Registerer(reg prometheus.Registerer) prometheus.Registerer {
	return prometheus.WrapRegistererWithPrefix(s.Prefix(), reg)
}
