// Package partwrite turns parts (from the stream or from raw_ingestions)
// into rows and writes them: one transaction per batch with the rows, the
// rejected items and the parts' bookkeeping, data errors isolated by
// bisection. The metric-writer and healthctl replay share it, so a replay
// decides exactly as the first write did.
package partwrite

import (
	"errors"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"fmt"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/stream"
)

// Part is one published part and what its headers said.
type Part struct {
	Meta    stream.Meta
	MetaErr error // the headers could not be read
	Items   int   // the Health-Items header, for an undecodable part's bookkeeping
	Payload []byte
}

// Decoded is a part turned into rows and rejections. Parts are decoded as
// they arrive, so batches are cut on real row counts.
type Decoded struct {
	Part  *Part
	env   kind.Env
	items []*itemResult
	// undecodable is set when the part cannot be read at all: it is stored
	// as one rejected row (and terminated in the stream).
	undecodable error
	rows        int
	// unknown counts localised text the vocabulary did not know, by
	// vocabulary field (kind.UnknownTermSink).
	unknown map[string]int64
	// slab is where rows are laid out: one allocation per many rows.
	slab []any
}

// slabValues is how many row values one slab allocation holds.
const slabValues = 4096

// rowSpace is an empty slice with room for n values, from the slab.
func (d *Decoded) rowSpace(n int) []any {
	if cap(d.slab)-len(d.slab) < n {
		d.slab = make([]any, 0, max(n, slabValues))
	}
	start := len(d.slab)
	d.slab = d.slab[:start+n]
	return d.slab[start : start : start+n]
}

// Rows is how many rows the part yields.
func (d *Decoded) Rows() int { return d.rows }

// Undecodable reports a part that could not be read at all.
func (d *Decoded) Undecodable() bool { return d.undecodable != nil }

// itemResult is what one item decoded to; it is the unit a failing batch
// is bisected down to.
type itemResult struct {
	d       *Decoded
	w       *Writer
	item    *hae.Item
	raw     []byte
	rows    []tableRow
	one     [1]tableRow // room for the one row most items make
	rejects []rejection
	ptr     string // the item's JSON Pointer, built when first needed
}

// pointer is the item's JSON Pointer: only rejections need it, so it is
// not built for the items that are simply stored.
func (r *itemResult) pointer() string {
	if r.ptr == "" {
		r.ptr = r.item.Pointer()
	}
	return r.ptr
}

type tableRow struct {
	table *pgstore.Table
	row   []any
}

type rejection struct {
	pointer, reason string
	item            []byte
}

// Row implements kind.Sink.
func (r *itemResult) Row(t *pgstore.Table, ordinal int64, values ...any) {
	if r.rows == nil {
		r.rows = r.one[:0]
	}
	row := kind.AppendFullRow(r.d.rowSpace(kind.FullRowLen(values)), &r.d.env, ordinal, values)
	r.rows = append(r.rows, tableRow{table: r.w.target(t), row: row})
}

// UnknownTerm implements kind.UnknownTermSink.
func (r *itemResult) UnknownTerm(field string) {
	if r.d.unknown == nil {
		r.d.unknown = map[string]int64{}
	}
	r.d.unknown[field]++
}

// Reject implements kind.Sink.
func (r *itemResult) Reject(pointer, reason string, item []byte) {
	r.rejects = append(r.rejects, rejection{pointer: pointer, reason: reason, item: item})
}

// Decode reads a part of the writer's kind.
func (w *Writer) Decode(p *Part) *Decoded {
	d := &Decoded{Part: p}
	if p.MetaErr != nil {
		d.undecodable = p.MetaErr
		return d
	}
	m := p.Meta
	origin, _ := kind.OriginCode(m.From) // stream.MetaFromHeaders refused any other
	d.env = kind.Env{UserID: m.UserID, StreamSeq: int64(m.Seq), ReceivedAt: m.ReceivedAt, Origin: origin}
	partKind, items, err := hae.DecodePart(p.Payload)
	if err != nil {
		d.undecodable = err
		return d
	}
	if partKind != w.kind.Name {
		d.undecodable = fmt.Errorf("part of kind %q where %s was expected", partKind, w.kind.Name)
		return d
	}
	d.items = make([]*itemResult, len(items))
	results := make([]itemResult, len(items)) // one allocation for the part's items
	for i := range items {
		it := &items[i]
		r := &results[i]
		*r = itemResult{d: d, w: w, item: it, raw: it.Raw}
		w.kind.Decode(&d.env, it, r)
		d.items[i] = r
		d.rows += len(r.rows)
	}
	return d
}

// rejectedItems counts items whose own pointer was rejected (route points
// and samples are rejected inside an accepted workout).
func (d *Decoded) rejectedItems() int {
	n := 0
	for _, it := range d.items {
		for _, r := range it.rejects {
			if r.pointer == it.pointer() {
				n++
				break
			}
		}
	}
	return n
}

// FromMsg reads a stream message as a part.
func FromMsg(msg jetstream.Msg) *Part {
	meta, err := stream.ReadMeta(msg)
	payload, perr := stream.PartPayload(msg.Headers(), msg.Data())
	return &Part{Meta: meta, MetaErr: errors.Join(err, perr), Items: stream.Items(msg), Payload: payload}
}

// FromArchive reads a raw_ingestions row as the part it archived: the
// payload as published (s2 when the stored headers say so, or the JSON
// itself as archives made before parts were kept encoded hold it).
func FromArchive(headers nats.Header, seq uint64, subject string, stored []byte) *Part {
	meta, err := stream.MetaFromHeaders(headers, seq, subject)
	payload, perr := stream.PartPayload(headers, stored) // as FromMsg decides
	items, _ := strconv.Atoi(headers.Get(stream.HeaderItems))
	return &Part{Meta: meta, MetaErr: errors.Join(err, perr), Items: items, Payload: payload}
}
