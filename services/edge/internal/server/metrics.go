package server

import (
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are labelled by route pattern and status only: never a user or
// key id.
type metrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	bodyBytes prometheus.Histogram
	auth      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP requests by route and status code."}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "Time to answer, by route.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"route"}),
		bodyBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ingest_body_bytes", Help: "Decoded upload body sizes.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 10)}),
		auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auth_attempts_total", Help: "Authentication outcomes."}, []string{"outcome"}),
	}
	reg.MustRegister(m.requests, m.latency, m.bodyBytes, m.auth)
	// Known outcomes start at zero, so rates and alerts see them before
	// the first event.
	for _, o := range []string{"ok", "missing", "invalid", "throttled", "busy", "unavailable", "rate_limited"} {
		m.auth.WithLabelValues(o)
	}
	return m
}

func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		// Render the error now so the recorded status is the one sent.
		if herr := s.errorHandler(c, err); herr != nil {
			return herr
		}
	}
	closeIfUnread(c)
	route := c.Route().Path
	if route == "/" && c.Path() != "/" {
		route = "unmatched"
	}
	s.metrics.requests.WithLabelValues(route, strconv.Itoa(c.Response().StatusCode())).Inc()
	s.metrics.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	return nil
}
