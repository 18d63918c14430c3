package query

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/healthexport/libs/hae"
	"github.com/healthexport/libs/kind"
	"github.com/healthexport/libs/pgstore"
)

// FormatTime renders an instant in the offset it was recorded in (RFC 3339,
// fractional seconds only when there are some): 2025-03-01T08:00:00-08:00.
// Without a recorded offset, or with offset 0, it is UTC ("Z").
func FormatTime(t time.Time, offsetMin *int16) string {
	return string(appendTime(nil, t, offsetMin))
}

func appendTime(b []byte, t time.Time, offsetMin *int16) []byte {
	off := 0
	if offsetMin != nil {
		off = int(*offsetMin)
	}
	b = t.UTC().Add(time.Duration(off)*time.Minute).AppendFormat(b, "2006-01-02T15:04:05.999999")
	if off == 0 {
		return append(b, 'Z')
	}
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	h, m := off/60, off%60
	return append(b, sign, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+m/10), byte('0'+m%10))
}

// date is a date column's value (sleep_date): rendered YYYY-MM-DD.
type date time.Time

// rawJSON is a json or jsonb column's text, valid JSON as PostgreSQL wrote it.
type rawJSON []byte

// appendFloat writes a number as encoding/json does; NaN and infinities,
// which JSON cannot hold (and the writers never store), become null.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 -> 1e-7, as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendJSON writes a decoded column value as JSON; timestamps in the
// row's offset.
func appendJSON(b []byte, v any, off *int16) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case time.Time:
		b = append(b, '"')
		b = appendTime(b, x, off)
		return append(b, '"')
	case date:
		b = append(b, '"')
		b = time.Time(x).AppendFormat(b, "2006-01-02")
		return append(b, '"')
	case rawJSON:
		return append(b, x...)
	case string:
		return hae.AppendString(b, x)
	case float64:
		return appendFloat(b, x)
	case float32:
		return appendFloat(b, float64(x))
	case int16:
		return strconv.AppendInt(b, int64(x), 10)
	case int32:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case bool:
		return strconv.AppendBool(b, x)
	case []byte:
		return hae.AppendString(b, string(x))
	case [16]byte:
		return hae.AppendString(b, uuidString(x))
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e, off)
		}
		return append(b, ']')
	}
	return hae.AppendString(b, fmt.Sprint(v))
}

// appendText writes a column value as a CSV cell's text: what appendJSON
// writes, without quotes around strings and times; NULL is empty.
func appendText(b []byte, v any, off *int16) []byte {
	switch x := v.(type) {
	case nil:
		return b
	case time.Time:
		return appendTime(b, x, off)
	case date:
		return time.Time(x).AppendFormat(b, "2006-01-02")
	case string:
		return append(b, x...)
	case []byte:
		return append(b, strings.ToValidUTF8(string(x), "\uFFFD")...)
	case [16]byte:
		return append(b, uuidString(x)...)
	}
	return appendJSON(b, v, off)
}

func uuidString(u [16]byte) string {
	var buf [36]byte
	hex.Encode(buf[0:8], u[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], u[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], u[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], u[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], u[10:])
	return string(buf[:])
}

// decodeRow decodes the current row into dst (one value per column):
// json and jsonb stay the text PostgreSQL sent (a view of the row's buffer,
// valid until the next row), dates become date, the rest what pgx decodes.
func decodeRow(rows pgx.Rows, dst []any) error {
	fds := rows.FieldDescriptions()
	raw := rows.RawValues()
	m := rows.Conn().TypeMap()
	for i := range fds {
		fd := &fds[i]
		buf := raw[i]
		if buf == nil {
			dst[i] = nil
			continue
		}
		switch fd.DataTypeOID {
		case pgtype.JSONBOID:
			if fd.Format == pgtype.BinaryFormatCode && len(buf) > 0 {
				buf = buf[1:] // the jsonb version byte
			}
			dst[i] = rawJSON(buf)
			continue
		case pgtype.JSONOID:
			dst[i] = rawJSON(buf)
			continue
		}
		t, ok := m.TypeForOID(fd.DataTypeOID)
		if !ok {
			if fd.Format == pgtype.TextFormatCode {
				dst[i] = string(buf)
			} else {
				dst[i] = append([]byte(nil), buf...)
			}
			continue
		}
		v, err := t.Codec.DecodeValue(m, fd.DataTypeOID, fd.Format, buf)
		if err != nil {
			return fmt.Errorf("column %s: %w", fd.Name, err)
		}
		if fd.DataTypeOID == pgtype.DateOID {
			if tv, ok := v.(time.Time); ok {
				v = date(tv)
			}
		}
		// How the row arrived, by name: upload or import.
		if code, ok := v.(int16); ok && fd.Name == pgstore.OriginColumn {
			v = kind.OriginName(code)
		}
		dst[i] = v
	}
	return nil
}
