package stream

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// ConsumerLag is one consumer's position, as operators read it.
type ConsumerLag struct {
	Consumer      string     `json:"consumer"`
	Pending       uint64     `json:"pending"`     // matching messages not yet delivered
	AckPending    int        `json:"ack_pending"` // delivered, not yet acknowledged
	MaxAckPending int        `json:"max_ack_pending"`
	Redelivered   int        `json:"redelivered"` // delivered more than once, not yet acknowledged
	Acked         uint64     `json:"acked"`       // consumer sequence of the ack floor
	AckFloorSeq   uint64     `json:"ack_floor_stream_seq"`
	LastActive    *time.Time `json:"last_active,omitempty"`
}

// Backlog is what is left to do: pending plus unacknowledged.
func (c ConsumerLag) Backlog() uint64 { return c.Pending + uint64(max(c.AckPending, 0)) }

// StreamState is the stream's fill, for the "stream 80 % full" alert.
type StreamState struct {
	Name     string    `json:"stream"`
	Messages uint64    `json:"messages"`
	Bytes    uint64    `json:"bytes"`
	MaxBytes int64     `json:"max_bytes"`
	FirstSeq uint64    `json:"first_seq"`
	LastSeq  uint64    `json:"last_seq"`
	FirstAt  time.Time `json:"first_at"`
}

// Lag reads every consumer of the stream.
func Lag(ctx context.Context, js jetstream.JetStream, streamName string) (StreamState, []ConsumerLag, error) {
	s, err := js.Stream(ctx, streamName)
	if err != nil {
		return StreamState{}, nil, fmt.Errorf("stream %s: %w", streamName, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return StreamState{}, nil, fmt.Errorf("stream %s: %w", streamName, err)
	}
	st := StreamState{Name: streamName, Messages: info.State.Msgs, Bytes: info.State.Bytes, MaxBytes: info.Config.MaxBytes,
		FirstSeq: info.State.FirstSeq, LastSeq: info.State.LastSeq, FirstAt: info.State.FirstTime}
	var out []ConsumerLag
	lister := s.ListConsumers(ctx)
	for c := range lister.Info() {
		out = append(out, lagOf(c))
	}
	if err := lister.Err(); err != nil {
		return st, out, fmt.Errorf("consumers of %s: %w", streamName, err)
	}
	return st, out, nil
}

func lagOf(c *jetstream.ConsumerInfo) ConsumerLag {
	l := ConsumerLag{
		Consumer:      c.Name,
		Pending:       c.NumPending,
		AckPending:    c.NumAckPending,
		MaxAckPending: c.Config.MaxAckPending,
		Redelivered:   c.NumRedelivered,
		Acked:         c.AckFloor.Consumer,
		AckFloorSeq:   c.AckFloor.Stream,
		LastActive:    c.Delivered.Last,
	}
	if a := c.AckFloor.Last; a != nil && (l.LastActive == nil || a.After(*l.LastActive)) {
		l.LastActive = a
	}
	return l
}

// LagCollector exports consumer and stream gauges on every scrape, so
// Prometheus sees lag as JetStream has it, not as a process remembers it.
type LagCollector struct {
	log       *slog.Logger
	js        jetstream.JetStream
	stream    string
	consumers map[string]bool // "" = all of the stream's
	withState bool

	pending, ackPending, maxAckPending, redelivered *prometheus.Desc
	bytes, maxBytes, messages                       *prometheus.Desc
}

// NewLagCollector exports the named consumers (all when none is named);
// withStream adds the stream's fill. Its names get the service's prefix from
// the registerer (obs.Subsystem.Registerer): healthexport_writer_consumer_pending.
func NewLagCollector(log *slog.Logger, js jetstream.JetStream, streamName string, withStream bool, consumers ...string) *LagCollector {
	c := &LagCollector{log: log, js: js, stream: streamName, consumers: map[string]bool{}, withState: withStream,
		pending:       prometheus.NewDesc("consumer_pending", "Messages matching the consumer not yet delivered.", []string{"consumer"}, nil),
		ackPending:    prometheus.NewDesc("consumer_ack_pending", "Messages delivered and not yet acknowledged.", []string{"consumer"}, nil),
		maxAckPending: prometheus.NewDesc("consumer_max_ack_pending", "The consumer's MaxAckPending: ack-pending at this value stalls delivery.", []string{"consumer"}, nil),
		redelivered:   prometheus.NewDesc("consumer_redelivered", "Messages delivered more than once and not yet acknowledged.", []string{"consumer"}, nil),
		bytes:         prometheus.NewDesc("stream_bytes", "Bytes held by the stream.", []string{"stream"}, nil),
		maxBytes:      prometheus.NewDesc("stream_max_bytes", "The stream's MaxBytes (DiscardNew: uploads are refused when full).", []string{"stream"}, nil),
		messages:      prometheus.NewDesc("stream_messages", "Messages held by the stream.", []string{"stream"}, nil),
	}
	for _, n := range consumers {
		c.consumers[n] = true
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *LagCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.pending, c.ackPending, c.maxAckPending, c.redelivered, c.bytes, c.maxBytes, c.messages} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *LagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	st, lags, err := Lag(ctx, c.js, c.stream)
	if err != nil {
		c.log.Warn("consumer lag not read for metrics", "err", err)
		return
	}
	if c.withState {
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(st.Bytes), st.Name)
		ch <- prometheus.MustNewConstMetric(c.maxBytes, prometheus.GaugeValue, float64(st.MaxBytes), st.Name)
		ch <- prometheus.MustNewConstMetric(c.messages, prometheus.GaugeValue, float64(st.Messages), st.Name)
	}
	for _, l := range lags {
		if len(c.consumers) > 0 && !c.consumers[l.Consumer] {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(l.Pending), l.Consumer)
		ch <- prometheus.MustNewConstMetric(c.ackPending, prometheus.GaugeValue, float64(l.AckPending), l.Consumer)
		ch <- prometheus.MustNewConstMetric(c.maxAckPending, prometheus.GaugeValue, float64(l.MaxAckPending), l.Consumer)
		ch <- prometheus.MustNewConstMetric(c.redelivered, prometheus.GaugeValue, float64(l.Redelivered), l.Consumer)
	}
}
