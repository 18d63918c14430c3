package writer

import (
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/stream"
)

// message is one part, decoded as soon as it arrives so batches are cut on
// real row counts.
type message struct {
	msg   jetstream.Msg
	meta  stream.Meta
	env   kind.Env
	items []*itemResult
	// undecodable is set when the part cannot be read at all: it is stored
	// as one rejected row and then terminated.
	undecodable error
	rows        int
}

// itemResult is what one item decoded to; it is the unit a failing batch
// is bisected down to.
type itemResult struct {
	msg     *message
	pointer string
	raw     []byte
	rows    []tableRow
	rejects []rejection
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
	r.rows = append(r.rows, tableRow{table: t, row: kind.FullRow(&r.msg.env, ordinal, values)})
}

// Reject implements kind.Sink.
func (r *itemResult) Reject(pointer, reason string, item []byte) {
	r.rejects = append(r.rejects, rejection{pointer: pointer, reason: reason, item: item})
}

func decodeMessage(k *kind.Kind, msg jetstream.Msg) *message {
	m := &message{msg: msg}
	meta, err := stream.ReadMeta(msg)
	m.meta = meta
	if err != nil {
		m.undecodable = err
		return m
	}
	m.env = kind.Env{UserID: meta.UserID, IngestionID: meta.IngestionID, StreamSeq: int64(meta.Seq), ReceivedAt: meta.ReceivedAt}
	partKind, items, err := hae.DecodePart(msg.Data())
	if err != nil {
		m.undecodable = err
		return m
	}
	if partKind != k.Name {
		m.undecodable = fmt.Errorf("part of kind %q on the %s subject", partKind, k.Name)
		return m
	}
	m.items = make([]*itemResult, len(items))
	for i := range items {
		it := &items[i]
		r := &itemResult{msg: m, pointer: it.Pointer(), raw: it.Raw}
		k.Decode(&m.env, it, r)
		m.items[i] = r
		m.rows += len(r.rows)
	}
	return m
}

// rejectedItems counts items whose own pointer was rejected (route points
// and samples are rejected inside an accepted workout).
func (m *message) rejectedItems() int {
	n := 0
	for _, it := range m.items {
		for _, r := range it.rejects {
			if r.pointer == it.pointer {
				n++
				break
			}
		}
	}
	return n
}
