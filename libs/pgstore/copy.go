package pgstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// The writers' rows hold a few Go types (a time, a string, a float, a
// UUID), one value per column of a known type. pgx's generic CopyFrom
// describes the table on every call and plans each value's encoding
// through its type map: a tenth of the metric-writer's CPU per point. Rows
// of those types are encoded here, straight into COPY's binary format;
// anything else goes through pgx as before.

// copyer is what the direct encoding needs of a Querier: the connection
// under a transaction (pgx.Tx has it).
type copyer interface {
	Conn() *pgx.Conn
}

// Column type OIDs the encoder writes.
const (
	oidBool        = 16
	oidBytea       = 17
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidFloat8      = 701
	oidVarchar     = 1043
	oidTimestamptz = 1184
	oidUUID        = 2950
	oidJSONB       = 3802
)

// copySignature starts every binary COPY stream: the signature, no flags,
// no header extension.
var copySignature = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// microsecFromUnixEpochToY2K is where PostgreSQL's timestamps count from.
const microsecFromUnixEpochToY2K = 946684800 * 1000000

// errUnencodable says a value is not one the direct encoding knows: the
// whole COPY goes through pgx instead.
var errUnencodable = errors.New("value the direct COPY encoding does not know")

// copyBufs keeps encoding buffers between batches.
var copyBufs = sync.Pool{New: func() any { return new([]byte) }}

// columnTypes are a table's column type OIDs in Columns order, read once
// per Table (a rebuild's renamed copy reads its own).
func (t *Table) columnTypes(ctx context.Context, c *pgx.Conn) ([]uint32, error) {
	if types := t.types.Load(); types != nil {
		return *types, nil
	}
	rows, err := c.Query(ctx, `SELECT a.atttypid FROM unnest($2::text[]) WITH ORDINALITY AS c(name, i)
		LEFT JOIN pg_attribute a ON a.attrelid = $1::regclass AND a.attname = c.name AND NOT a.attisdropped ORDER BY c.i`,
		ident(t.Name), t.Columns)
	if err != nil {
		return nil, err
	}
	types, err := pgx.CollectRows(rows, pgx.RowTo[*uint32])
	if err != nil {
		return nil, err
	}
	out := make([]uint32, len(types))
	for i, oid := range types {
		if oid == nil {
			return nil, fmt.Errorf("table %s has no column %s", t.Name, t.Columns[i])
		}
		out[i] = *oid
	}
	t.types.Store(&out)
	return out, nil
}

// copyRows copies rows into table (t, or its staging table with the
// ordinal when withOrdinal; rows are cut to len(cols) values) through the
// direct binary encoding when q is a transaction and every value is one
// it knows, else through pgx.
func copyRows(ctx context.Context, q Querier, t *Table, table string, cols []string, withOrdinal bool, rows [][]any) (int64, error) {
	if c, ok := q.(copyer); ok {
		n, err := copyBinary(ctx, c.Conn(), t, table, cols, withOrdinal, rows)
		if err != errUnencodable {
			var pgErr *pgconn.PgError
			if err != nil && !(errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "23")) {
				// Not a key met again: the table may have changed under
				// the cached types, so read them again for the next
				// attempt (bisection retries).
				t.types.Store(nil)
			}
			return n, err
		}
	}
	width := len(cols)
	i := 0
	return q.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromFunc(func() ([]any, error) {
		if i == len(rows) {
			return nil, nil
		}
		i++
		return rows[i-1][:width], nil
	}))
}

func copyBinary(ctx context.Context, c *pgx.Conn, t *Table, table string, cols []string, withOrdinal bool, rows [][]any) (int64, error) {
	types, err := t.columnTypes(ctx, c)
	if err != nil {
		return 0, err
	}
	if withOrdinal {
		types = append(types[:len(types):len(types)], oidInt8)
	}
	if len(types) != len(cols) {
		return 0, errUnencodable
	}
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	b := append((*buf)[:0], copySignature...)
	for _, row := range rows {
		if len(row) < len(types) {
			return 0, fmt.Errorf("copy into %s: a row of %d values for %d columns", table, len(row), len(types))
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(cols)))
		for i, oid := range types {
			if b, err = appendValue(b, oid, row[i]); err != nil {
				return 0, err
			}
		}
	}
	b = binary.BigEndian.AppendUint16(b, math.MaxUint16) // the trailer: -1
	*buf = b
	sql := "COPY " + ident(table) + " (" + joinIdents(cols) + ") FROM STDIN BINARY"
	tag, err := c.PgConn().CopyFrom(ctx, bytes.NewReader(b), sql)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// appendValue appends one field: its length, then its binary form (-1 for
// NULL). It knows the Go types the writers put in rows, as pgx encodes
// them, and nothing else.
func appendValue(b []byte, oid uint32, v any) ([]byte, error) {
	if v == nil {
		return binary.BigEndian.AppendUint32(b, math.MaxUint32), nil
	}
	switch oid {
	case oidFloat8:
		if f, ok := v.(float64); ok {
			b = binary.BigEndian.AppendUint32(b, 8)
			return binary.BigEndian.AppendUint64(b, math.Float64bits(f)), nil
		}
	case oidTimestamptz:
		switch x := v.(type) {
		case time.Time:
			return appendTime(b, x), nil
		case *time.Time:
			if x == nil {
				return binary.BigEndian.AppendUint32(b, math.MaxUint32), nil
			}
			return appendTime(b, *x), nil
		}
	case oidText, oidVarchar:
		if s, ok := v.(string); ok {
			b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
			return append(b, s...), nil
		}
	case oidUUID:
		switch x := v.(type) {
		case pgtype.UUID:
			if !x.Valid {
				return binary.BigEndian.AppendUint32(b, math.MaxUint32), nil
			}
			b = binary.BigEndian.AppendUint32(b, 16)
			return append(b, x.Bytes[:]...), nil
		case uuid.UUID:
			b = binary.BigEndian.AppendUint32(b, 16)
			return append(b, x[:]...), nil
		}
	case oidInt2:
		if x, ok := v.(int16); ok {
			b = binary.BigEndian.AppendUint32(b, 2)
			return binary.BigEndian.AppendUint16(b, uint16(x)), nil
		}
	case oidInt4:
		switch x := v.(type) {
		case int32:
			return appendInt4(b, int64(x)), nil
		case int16:
			return appendInt4(b, int64(x)), nil
		case int:
			if x >= math.MinInt32 && x <= math.MaxInt32 {
				return appendInt4(b, int64(x)), nil
			}
		}
	case oidInt8:
		switch x := v.(type) {
		case int64:
			return appendInt8(b, x), nil
		case int:
			return appendInt8(b, int64(x)), nil
		case int32:
			return appendInt8(b, int64(x)), nil
		}
	case oidBytea:
		if x, ok := v.([]byte); ok {
			if x == nil {
				return binary.BigEndian.AppendUint32(b, math.MaxUint32), nil
			}
			b = binary.BigEndian.AppendUint32(b, uint32(len(x)))
			return append(b, x...), nil
		}
	case oidBool:
		if x, ok := v.(bool); ok {
			b = binary.BigEndian.AppendUint32(b, 1)
			if x {
				return append(b, 1), nil
			}
			return append(b, 0), nil
		}
	case oidJSONB:
		// Version 1, then the JSON text, as pgx sends a string or raw
		// JSON bytes.
		switch x := v.(type) {
		case string:
			return appendJSONB(b, x), nil
		case []byte:
			if x == nil {
				return binary.BigEndian.AppendUint32(b, math.MaxUint32), nil
			}
			return appendJSONB(b, string(x)), nil
		case json.RawMessage:
			if x == nil {
				return binary.BigEndian.AppendUint32(b, math.MaxUint32), nil
			}
			return appendJSONB(b, string(x)), nil
		}
	}
	return b, errUnencodable
}

func appendTime(b []byte, t time.Time) []byte {
	us := t.Unix()*1000000 + int64(t.Nanosecond())/1000 - microsecFromUnixEpochToY2K
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(us))
}

func appendInt4(b []byte, x int64) []byte {
	b = binary.BigEndian.AppendUint32(b, 4)
	return binary.BigEndian.AppendUint32(b, uint32(int32(x)))
}

func appendInt8(b []byte, x int64) []byte {
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(x))
}

func appendJSONB(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)+1))
	b = append(b, 1)
	return append(b, s...)
}
