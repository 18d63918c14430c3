package query

import (
	"archive/zip"
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/pgstore"
)

// Format is an export's format.
type Format string

// The export formats.
const (
	NDJSON Format = "ndjson" // one JSON object per line: {"type": <table>, <column>: <value>, ...}
	ZipCSV Format = "zip"    // a zip holding <table>.csv per table, with a header row
)

// hidden columns are not exported: whose rows they are (the caller's) and
// the stream's bookkeeping.
var hidden = map[string]bool{"user_id": true, "stream_seq": true}

// exportTable is a table an export reads, in its key's order.
type exportTable struct {
	name string
	key  []string
	// bySeq: the table's rows name their message by stream_seq only, and
	// the export adds the ingestion_id that message belonged to.
	bySeq bool
}

// ingestionColumn is the column an export adds to a data table's rows.
const ingestionColumn = "ingestion_id"

// ExportTables names the tables an export reads: every table of the kind
// registry, then rejected_points (items that were sent but not stored, with
// the reason and the bytes as sent).
func (s *Store) ExportTables() []string {
	var out []string
	for _, t := range s.exportTables() {
		out = append(out, t.name)
	}
	return out
}

func (s *Store) exportTables() []exportTable {
	var out []exportTable
	for _, t := range s.reg.Tables() {
		bySeq := slices.Contains(t.Columns, pgstore.SeqColumn) && !slices.Contains(t.Columns, ingestionColumn)
		out = append(out, exportTable{name: t.Name, key: t.Key, bySeq: bySeq})
	}
	return append(out, exportTable{name: "rejected_points", key: []string{"user_id", ingestionColumn, "pointer"}})
}

// ExportFilter narrows an export to the rows the reads' canonical filters
// select. Its zero value exports everything.
type ExportFilter struct {
	// Value keeps the health_events whose canonical value it is, in any
	// wording the vocabulary knows, as GET /v1/events?value= does.
	Value string
	// Classification keeps the ecg_recordings whose canonical
	// classification it is, as GET /v1/ecg?classification= does.
	Classification string
}

// Export is an export under way: one read-only snapshot of the user's rows.
type Export struct {
	ctx    context.Context
	tx     pgx.Tx
	tables []exportTable
	conds  map[string][]cond // per table
	uid    uuid.UUID
	format Format
}

// OpenExport starts an export: it takes the snapshot (so an unreachable
// database is an error before anything is sent). ctx must outlive Stream;
// Close ends the export. A filter makes it an export of the filtered
// tables alone (value=taken asks for the doses taken, not for them beside
// every heart beat), each holding only the rows its filter selects.
func (s *Store) OpenExport(ctx context.Context, uid uuid.UUID, format Format, filter ExportFilter) (*Export, error) {
	if format != NDJSON && format != ZipCSV {
		return nil, fmt.Errorf("export: unknown format %q", format)
	}
	tables, conds := s.exportTables(), map[string][]cond{}
	if filter.Value != "" {
		conds[eventList.table] = []cond{{col: "value", val: s.canonicalOf(filter.Value, eventValueFields("")...), canonical: "value_canonical"}}
	}
	if filter.Classification != "" {
		conds[ecgList.table] = []cond{{col: "classification", val: s.canonicalOf(filter.Classification, kind.FieldECGClassification), canonical: "classification_canonical"}}
	}
	if len(conds) > 0 {
		tables = slices.DeleteFunc(tables, func(t exportTable) bool { return conds[t.name] == nil })
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	// A big user's data table costs the planner enough (a lookup per row,
	// selectRows) to compile the query (JIT): 0.75-0.95 s for 185,000
	// heart-rate rows, against 0.3-0.4 s for the query without it.
	if _, err := tx.Exec(ctx, "SET LOCAL jit = off"); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("export: %w", err)
	}
	return &Export{ctx: ctx, tx: tx, tables: tables, conds: conds, uid: uid, format: format}, nil
}

// Close ends the snapshot.
func (e *Export) Close() { _ = e.tx.Rollback(context.WithoutCancel(e.ctx)) }

// Stream writes everything stored for the user to w, one table after the
// other, row by row: nothing is collected in memory beyond a row. Columns
// are the tables' own but user_id and stream_seq; timestamps in the offset
// they were recorded in. NDJSON ends with {"type": "end", "rows": {<table>:
// n}}, so a cut-off export is told from a complete one; a zip without its
// central directory is unreadable. It returns the rows written per table;
// an error from w (the client went away) ends it.
func (e *Export) Stream(w io.Writer) (map[string]int64, error) {
	ctx, tx, uid := e.ctx, e.tx, e.uid
	counts := map[string]int64{}
	switch e.format {
	case NDJSON:
		bw := bufio.NewWriterSize(w, 64<<10)
		var line []byte
		for _, t := range e.tables {
			n, err := eachRow(ctx, tx, t, uid, e.conds[t.name], nil, func(cols []string, vals []any, off *int16) error {
				line = append(line[:0], `{"type":`...)
				line = hae.AppendString(line, t.name)
				for i, c := range cols {
					if c == "" {
						continue
					}
					line = append(line, ',')
					line = hae.AppendString(line, c)
					line = append(line, ':')
					line = appendJSON(line, vals[i], off)
				}
				line = append(line, "}\n"...)
				_, err := bw.Write(line)
				return err
			})
			counts[t.name] = n
			if err != nil {
				return counts, err
			}
		}
		line = append(line[:0], `{"type":"end","rows":{`...)
		for i, t := range e.tables {
			if i > 0 {
				line = append(line, ',')
			}
			line = hae.AppendString(line, t.name)
			line = append(line, ':')
			line = strconv.AppendInt(line, counts[t.name], 10)
		}
		line = append(line, "}}\n"...)
		if _, err := bw.Write(line); err != nil {
			return counts, err
		}
		if err := bw.Flush(); err != nil {
			return counts, err
		}
	case ZipCSV:
		zw := zip.NewWriter(w)
		now := time.Now()
		for _, t := range e.tables {
			f, err := zw.CreateHeader(&zip.FileHeader{Name: t.name + ".csv", Method: zip.Deflate, Modified: now})
			if err != nil {
				return counts, err
			}
			cw := csv.NewWriter(f)
			var (
				record []string
				cell   []byte
			)
			n, err := eachRow(ctx, tx, t, uid, e.conds[t.name],
				func(cols []string) error {
					var header []string
					for _, c := range cols {
						if c != "" {
							header = append(header, c)
						}
					}
					return cw.Write(header)
				},
				func(cols []string, vals []any, off *int16) error {
					record = record[:0]
					for i, c := range cols {
						if c == "" {
							continue
						}
						cell = appendText(cell[:0], vals[i], off)
						record = append(record, spreadsheetSafe(cell))
					}
					return cw.Write(record)
				})
			counts[t.name] = n
			if err != nil {
				return counts, err
			}
			cw.Flush()
			if err := cw.Error(); err != nil {
				return counts, err
			}
		}
		if err := zw.Close(); err != nil {
			return counts, err
		}
	}
	return counts, nil
}

// eachRow reads the user's rows of a table that meet conds in key order
// and hands each to fn with the column names ("" for a hidden column) and
// the row's offset. header, when set, gets the names before any row.
func eachRow(ctx context.Context, tx pgx.Tx, t exportTable, uid uuid.UUID, conds []cond, header func(cols []string) error,
	fn func(cols []string, vals []any, off *int16) error) (int64, error) {
	var b strings.Builder
	args := []any{uid}
	b.WriteString(selectRows(t) + " WHERE t.user_id = $1")
	args = appendConds(&b, args, conds)
	b.WriteString(" ORDER BY ")
	for i, k := range t.key {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("t." + ident(k))
	}
	rows, err := tx.Query(ctx, b.String(), args...)
	if err != nil {
		return 0, fmt.Errorf("export %s: %w", t.name, err)
	}
	defer rows.Close()
	fds := rows.FieldDescriptions()
	cols := make([]string, len(fds))
	offIx := -1
	for i, fd := range fds {
		if !hidden[fd.Name] {
			cols[i] = fd.Name
		}
		if fd.Name == "recorded_offset_min" {
			offIx = i
		}
	}
	if header != nil {
		if err := header(cols); err != nil {
			return 0, err
		}
	}
	vals := make([]any, len(fds))
	var n int64
	for rows.Next() {
		if err := decodeRow(rows, vals); err != nil {
			return n, fmt.Errorf("export %s: %w", t.name, err)
		}
		var off *int16
		if offIx >= 0 {
			off = offsetOf(vals[offIx])
		}
		if err := fn(cols, vals, off); err != nil {
			return n, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("export %s: %w", t.name, err)
	}
	return n, nil
}

// selectRows reads every column of t's rows, and for a data table the
// ingestion of the message each row came from: the part that stream
// sequence wrote (ingestion_parts, committed with the rows), else the
// archived part (raw_ingestions: a part sent again in a later upload of the
// same body keeps its first ingestion_parts row). A lateral join keeps the
// key order, and PostgreSQL memoizes it per sequence: a message's rows are
// mostly neighbours in key order, so few rows cost a lookup.
func selectRows(t exportTable) string {
	from := " FROM " + ident(t.name) + " t"
	if !t.bySeq {
		return "SELECT t.*" + from
	}
	return "SELECT t.*, i." + ident(ingestionColumn) + from + ` LEFT JOIN LATERAL (
		(SELECT p.ingestion_id FROM ingestion_parts p WHERE p.stream_seq = t.stream_seq AND p.user_id = t.user_id LIMIT 1)
		UNION ALL
		(SELECT r.ingestion_id FROM raw_ingestions r WHERE r.stream_seq = t.stream_seq AND r.user_id = t.user_id LIMIT 1)
		LIMIT 1) i ON true`
}

// number is a plain decimal number, as the export writes numbers.
var number = regexp.MustCompile(`^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$`)

// spreadsheetSafe neutralises a CSV cell a spreadsheet would run as a
// formula (one starting with =, +, -, @, a tab or a carriage return: a
// source or a name is whatever the sender wrote) by prefixing a ', as
// OWASP advises; numbers, negative ones included, are left alone.
func spreadsheetSafe(cell []byte) string {
	if len(cell) == 0 || !strings.ContainsRune("=+-@\t\r", rune(cell[0])) || number.Match(cell) {
		return string(cell)
	}
	return "'" + string(cell)
}
