package testenv

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/pgstore"
	"github.com/healthexport/libs/stream"
)

// PublishBody cuts a body into parts the way the edge does and publishes
// them with the origin's headers, without the HTTP layer: consumer tests
// get realistic messages. It returns the published part ids. With dedupe
// false the Nats-Msg-Id is left off, so the stream takes a second copy, as
// it would a redelivery or a resend after the duplicate window.
func PublishBody(t testing.TB, js jetstream.JetStream, cfg stream.Config, reg *kind.Registry, o stream.Origin, body []byte, partMax int, dedupe bool) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	cut := hae.NewCutter(partMax, func(p *hae.Part) error {
		k, _ := reg.Lookup(p.Kind)
		id := o.IngestionID + ":" + p.Key()
		msg := o.PartMsg(k.Subject(cfg.SubjectPrefix, o.UserID), p.Kind, id, p.Pointer, p.Items, p.Payload)
		var opts []jetstream.PublishOpt
		if dedupe {
			opts = append(opts, jetstream.WithMsgID(id))
		}
		if _, err := js.PublishMsg(ctx, msg, opts...); err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	})
	env := &kind.Env{ReceivedAt: o.ReceivedAt, Validating: true} // judged as the edge judges
	err := hae.Walk(body, reg, func(it *hae.Item) error {
		k, _ := reg.Lookup(it.Kind)
		var v verdict
		v.self = it.Pointer()
		k.Decode(env, it, &v)
		return k.Cut(cut, it, partMax, v.rejected)
	})
	if err == nil {
		err = cut.Flush()
	}
	if err != nil {
		t.Fatalf("publish body: %v", err)
	}
	return ids
}

// verdict records whether an item itself was rejected, as the edge needs
// to know before cutting it.
type verdict struct {
	self     string
	rejected bool
}

func (v *verdict) Row(*pgstore.Table, int64, ...any) {}

func (v *verdict) Reject(pointer, _ string, _ []byte) { v.rejected = v.rejected || pointer == v.self }
