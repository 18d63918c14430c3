package writer

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/healthexport/libs/pgstore"
)

// Metrics are the batch writer's counters, labelled by kind only (never by
// user or key).
type Metrics struct {
	Batches       *prometheus.CounterVec
	RowsWritten   *prometheus.CounterVec
	RowsUnchanged *prometheus.CounterVec
	Rejected      *prometheus.CounterVec
	Retries       *prometheus.CounterVec
	GivenUp       *prometheus.CounterVec
	Skipped       *prometheus.CounterVec
	FlushSeconds  *prometheus.HistogramVec
	UnknownTerms  *prometheus.CounterVec
}

// NewMetrics registers the writer's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "batches_total", Help: "Batches committed."}, []string{"kind"}),
		RowsWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rows_written_total", Help: "Rows inserted or changed by the upsert."}, []string{"kind"}),
		RowsUnchanged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rows_unchanged_total", Help: "Rows the upsert left alone: duplicates, resends and older replays."}, []string{"kind"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rejected_total", Help: "Rejected items recorded, by class of reason."}, []string{"kind", "reason"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "retries_total", Help: "Batch retries, by cause (unavailable, unexpected, conflict, data)."}, []string{"kind", "cause"}),
		GivenUp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parts_given_up_total", Help: "Parts given up after WRITE_MAX_ATTEMPTS failed deliveries, recorded in failed_parts, by reason (unexpected, data)."}, []string{"kind", "reason"}),
		Skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parts_skipped_total", Help: "Parts of users deleted meanwhile, acknowledged without writing anything."}, []string{"kind"}),
		FlushSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "flush_seconds", Help: "Time to write one batch.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}, []string{"kind"}),
		UnknownTerms: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "unknown_terms_total", Help: "Localised values stored without a canonical value (text the vocabulary does not know), by vocabulary field."}, []string{"kind", "field"}),
	}
	reg.MustRegister(m.Batches, m.RowsWritten, m.RowsUnchanged, m.Rejected, m.Retries, m.GivenUp, m.Skipped, m.FlushSeconds, m.UnknownTerms)
	return m
}

// Init makes a kind's series exist at zero before its first batch, so
// rates and alerts see them from the start.
func (m *Metrics) Init(kindName string) {
	m.Batches.WithLabelValues(kindName)
	m.RowsWritten.WithLabelValues(kindName)
	m.RowsUnchanged.WithLabelValues(kindName)
	m.Skipped.WithLabelValues(kindName)
	for _, c := range []pgstore.Class{pgstore.Conflict, pgstore.Unavailable, pgstore.Unexpected, pgstore.Data} {
		m.Retries.WithLabelValues(kindName, c.String())
	}
	for _, c := range []pgstore.Class{pgstore.Unexpected, pgstore.Data} {
		m.GivenUp.WithLabelValues(kindName, c.String())
	}
	for _, r := range []string{"undecodable", "database", "time_window", "timestamp", "out_of_range", "wrong_type", "missing_field", "unknown_type", "invalid"} {
		m.Rejected.WithLabelValues(kindName, r)
	}
	m.FlushSeconds.WithLabelValues(kindName)
}
