package kind

import (
	"slices"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/pgstore"
)

// Import states, in the order an import goes through them.
const (
	ImportReceiving  = "receiving"  // stored, waiting for an importer
	ImportConverting = "converting" // being read and published
	ImportDone       = "done"       // every part and the manifest published
	ImportFailed     = "failed"     // stopped: the reason says why
)

// ImportRejected is the member of an import item that rejects it, with
// its value as the reason.
const ImportRejected = "rejected"

// ImportStates lists the states.
func ImportStates() []string {
	return []string{ImportReceiving, ImportConverting, ImportDone, ImportFailed}
}

// importRecord is where an import of the Health app's export stands, as
// its importer records it: one row per import, the later record winning.
// It travels like data so a record is archived and replayed like the rest.
func importRecord() *Kind {
	t := dataTable("imports", "", []string{"import_id"},
		[]string{"state", "file_name", "file_bytes", "records_read", "parts_published", "reason", "received_at", "updated_at", "details"})
	return &Kind{
		Name:   "import",
		Tables: []*pgstore.Table{t},
		decode: func(env *Env, it *hae.Item, s Sink) {
			if err := decodeImportRecord(env, it, s, t); err != nil {
				s.Reject(it.Pointer(), rejectReason(err), it.Raw)
			}
		},
	}
}

func decodeImportRecord(env *Env, it *hae.Item, s Sink, t *pgstore.Table) error {
	o, err := decodeItem(env, it.Raw)
	if err != nil {
		return err
	}
	// An element of the export the importer could not make an item of:
	// rejected here, so it is recorded with its pointer like any item.
	if reason, ok, _ := o.str(ImportRejected); ok {
		return reasonError(reason)
	}
	id, ok, err := o.str("import_id")
	if err != nil {
		return err
	}
	if !ok || id == "" {
		return reasonf("import_id: missing")
	}
	state, _, err := o.str("state")
	if err != nil {
		return err
	}
	if !slices.Contains(ImportStates(), state) {
		return reasonf("state: %q is not one of %v", state, ImportStates())
	}
	file, _, err := o.str("file")
	if err != nil {
		return err
	}
	values := []any{id, state, file}
	for _, k := range [...]string{"bytes", "records", "parts"} {
		v, err := o.optNum(k)
		if err != nil {
			return err
		}
		if !v.ok {
			values = append(values, nil)
			continue
		}
		if v.v < 0 {
			return reasonf("%s: must be ≥ 0, got %g", k, v.v)
		}
		values = append(values, int64(v.v))
	}
	reason, _, err := o.str("reason")
	if err != nil {
		return err
	}
	values = append(values, nullable(reason))
	for _, k := range [...]string{"received_at", "updated_at"} {
		at, err := o.strictOptTime(k)
		if err != nil {
			return err
		}
		values = append(values, instant(at))
	}
	details, err := o.rest("import_id", "state", "file", "bytes", "records", "parts", "reason", "received_at", "updated_at")
	if err != nil {
		return err
	}
	if !env.Validating {
		s.Row(t, int64(it.Ordinal), append(values, details)...)
	}
	return nil
}
