// Package kind is the registry of every kind of health data: for each its
// subject, durable consumer, tables and keys, how items are told apart, and
// how one item is validated and decoded to rows. It is the only place a kind
// is named; services range over it.
package kind

import (
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/stream"
)

// Env is what a decoder knows about the message an item came in. Everything
// time-dependent uses ReceivedAt (the upload's Health-Received-At), never
// the clock, so a replay decides exactly as the first delivery did.
type Env struct {
	UserID     uuid.UUID
	StreamSeq  int64
	ReceivedAt time.Time
	// Origin is how the message's data arrived (OriginUpload or
	// OriginImport), stored with every row.
	Origin int16
	// Validating is set where items are only judged (the edge, for the
	// reply's counts): decoders check and reject as always but build no
	// rows, whose boxed values were most of the edge's allocations.
	Validating bool

	// The values every row of the message shares, boxed once per message
	// rather than once per row (see FullRow).
	boxed *boxedEnv
	// scratch holds the members of the item being decoded.
	scratch []hae.Member
	// sources are the message's sources seen so far (sourceOf).
	sources map[string]string
}

type boxedEnv struct{ user, origin, seq any }

// Origins, as the origin column of every data table stores them: two
// bytes a row rather than a word.
const (
	OriginUpload int16 = 0 // POST /v1/ingest (Health Auto Export, tagged JSON)
	OriginImport int16 = 1 // the Health app's export.zip
)

// origins names the codes, for the read API (index = code).
var origins = [...]string{OriginUpload: stream.OriginUpload, OriginImport: stream.OriginImport}

// OriginCode is the column value of an origin name (stream.OriginUpload,
// stream.OriginImport); false for any other name.
func OriginCode(name string) (int16, bool) {
	for code, n := range origins {
		if n == name {
			return int16(code), true
		}
	}
	return 0, false
}

// OriginName names an origin column value ("" for a code never written).
func OriginName(code int16) string {
	if code < 0 || int(code) >= len(origins) {
		return ""
	}
	return origins[code]
}

// Origins lists the origin names, in code order.
func Origins() []string { return origins[:] }

// Sink receives what decoding an item produces.
type Sink interface {
	// Row adds a row to t: the values of t's columns after user_id and
	// before origin/stream_seq, in order. ordinal orders versions of
	// one key within a message (later wins). Not called when the Env is
	// Validating.
	Row(t *pgstore.Table, ordinal int64, values ...any)
	// Reject records an item (or a part of one, such as a route point) as
	// rejected: its JSON Pointer in the original body, a reason a person
	// understands, and the item as sent.
	Reject(pointer, reason string, item []byte)
}

// UnknownTermSink is a Sink that also hears of localised text the
// vocabulary does not know (its canonical value is left NULL): the
// metric-writer counts them, so missing wording is noticed.
type UnknownTermSink interface {
	UnknownTerm(field string)
}

// Kind is one kind of data.
type Kind struct {
	Name string
	// Tables the kind writes (empty until its writer exists).
	Tables []*pgstore.Table
	// Metrics are the canonical Health Auto Export metric names it claims.
	Metrics []string
	// Tagged are the spec format's "type" values it claims.
	Tagged []string
	// Arrays are the keys of "data" whose elements are its items.
	Arrays []string
	// CatchAll takes every metric element and tagged type nobody claims.
	CatchAll bool
	// Split, when set, lets the edge publish an item too big for one part
	// in pieces (a workout: its summary, route points and samples).
	Split *Split
	// Summary, when set, says how the kind's rows make daily summaries.
	Summary *Summary

	decode func(env *Env, it *hae.Item, s Sink)
}

// Split says how to cut an item into pieces.
type Split struct {
	// Sections maps an item's member keys to hae.SectionRoute or
	// hae.SectionSeries; every other member stays in the summary.
	Sections map[string]string
	// Ref reads what every piece carries (key, name, start, end); it fails
	// for an item the kind would reject.
	Ref func(raw []byte, tagged bool) (hae.WorkoutRef, error)
}

// HasWriter reports whether the metric-writer stores this kind yet; parts
// of kinds without a writer wait in the stream (archived raw meanwhile).
func (k *Kind) HasWriter() bool { return k.decode != nil }

// Decode validates one item and turns it into rows or rejections.
func (k *Kind) Decode(env *Env, it *hae.Item, s Sink) { k.decode(env, it, s) }

// Subject is where the edge publishes this kind's parts for a user.
func (k *Kind) Subject(prefix, userID string) string {
	return prefix + ".ingest." + k.Name + "." + userID
}

// Filter matches every part of this kind.
func (k *Kind) Filter(prefix string) string { return prefix + ".ingest." + k.Name + ".>" }

// Durable names this kind's writer consumer.
func (k *Kind) Durable(durablePrefix string) string { return durablePrefix + "writer-" + k.Name }

// Registry holds every kind.
type Registry struct {
	kinds    []*Kind
	byName   map[string]*Kind
	metrics  map[string]string
	tagged   map[string]string
	arrays   map[string]string
	catchAll string
	aliases  map[string]string
	vocab    *Vocabulary
}

// New returns the registry of all kinds.
func New() *Registry {
	r := &Registry{
		byName:  map[string]*Kind{},
		metrics: map[string]string{},
		tagged:  map[string]string{},
		arrays:  map[string]string{},
		aliases: metricAliases(),
		vocab:   NewVocabulary(),
	}
	for _, k := range []*Kind{
		heartRate(), bloodPressure(), quantity(r.aliases),
		sleep(), workout(), ecg(r.vocab), event(r.vocab),
		activitySummary(), importRecord(),
	} {
		r.kinds = append(r.kinds, k)
		r.byName[k.Name] = k
		for _, m := range k.Metrics {
			r.metrics[m] = k.Name
		}
		for _, t := range k.Tagged {
			r.tagged[t] = k.Name
		}
		for _, a := range k.Arrays {
			r.arrays[a] = k.Name
		}
		if k.CatchAll {
			r.catchAll = k.Name
		}
	}
	return r
}

// Vocabulary maps localised values to canonical ones.
func (r *Registry) Vocabulary() *Vocabulary { return r.vocab }

// Kinds lists every kind in a fixed order.
func (r *Registry) Kinds() []*Kind { return r.kinds }

// Lookup finds a kind by name.
func (r *Registry) Lookup(name string) (*Kind, bool) {
	k, ok := r.byName[name]
	return k, ok
}

// Tables lists every table of every kind with a writer.
func (r *Registry) Tables() []*pgstore.Table {
	var out []*pgstore.Table
	for _, k := range r.kinds {
		out = append(out, k.Tables...)
	}
	return out
}

// MetricKind routes a Health Auto Export metric element by its name.
func (r *Registry) MetricKind(name string) string {
	if k, ok := r.metrics[r.CanonicalMetric(name)]; ok {
		return k
	}
	return r.catchAll
}

// TaggedKind routes a spec-format element by its "type".
func (r *Registry) TaggedKind(typ string) string {
	if k, ok := r.tagged[typ]; ok {
		return k
	}
	return r.catchAll
}

// ArrayKind routes the elements of data.<key>; "" means not health data.
func (r *Registry) ArrayKind(key string) string { return r.arrays[key] }

// Ensure the registry satisfies the walker's router.
var _ hae.Router = (*Registry)(nil)

// splitMargin leaves room for a part's wrapping around a single item.
const splitMargin = 1024

// Cut hands an item to the cutter: an item of a splittable kind too big
// for one part (a long workout) goes in pieces, and when rejected as its
// summary alone, so the rejection is recorded but nothing else is
// published.
func (k *Kind) Cut(c *hae.Cutter, it *hae.Item, partMax int, rejected bool) error {
	if k.Split != nil && it.Key == "" && it.Chunk == nil && len(it.Raw) > partMax-splitMargin {
		ref, _ := k.Split.Ref(it.Raw, it.Tagged)
		_, err := c.AddSplit(it, ref, k.Split.Sections, rejected)
		return err
	}
	_, err := c.Add(it)
	return err
}

// ReasonClass files a rejection reason under a few classes, for a metric
// label of bounded cardinality.
func ReasonClass(reason string) string {
	switch {
	case strings.Contains(reason, "could not be decoded"):
		return "undecodable"
	case strings.Contains(reason, "database refused"):
		return "database"
	case strings.Contains(reason, "before 1900"), strings.Contains(reason, "24 h after"), strings.Contains(reason, "outside its workout"):
		return "time_window"
	case strings.Contains(reason, "timestamp"):
		return "timestamp"
	case strings.Contains(reason, "must be between"), strings.Contains(reason, "must be ≥"), strings.Contains(reason, "is before"):
		return "out_of_range"
	case strings.Contains(reason, "must be a"), strings.Contains(reason, "expected a"), strings.Contains(reason, "not a valid"):
		return "wrong_type"
	case strings.Contains(reason, "missing"), strings.Contains(reason, "needs"), strings.Contains(reason, "no name"), strings.Contains(reason, "no heart rate"), strings.Contains(reason, "no value"):
		return "missing_field"
	case strings.Contains(reason, "unknown type"):
		return "unknown_type"
	}
	return "invalid"
}
