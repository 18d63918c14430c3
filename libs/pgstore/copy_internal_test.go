package pgstore

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// The writers' values take the direct encoding (TestDirectCopyStoresWhatPgxStores
// checks what it stores); others are left to pgx.
func TestAppendValueKnowsTheWritersTypes(t *testing.T) {
	now := time.Now()
	tests := []struct {
		oid   uint32
		v     any
		known bool
	}{
		{oidUUID, pgtype.UUID{Bytes: uuid.New(), Valid: true}, true},
		{oidUUID, uuid.New(), true},
		{oidTimestamptz, now, true},
		{oidTimestamptz, &now, true},
		{oidText, "Apple Watch", true},
		{oidFloat8, 72.5, true},
		{oidInt2, int16(-480), true},
		{oidInt8, int64(9), true},
		{oidInt4, 3, true},
		{oidBytea, []byte("{}"), true},
		{oidJSONB, `{"a":1}`, true},
		{oidJSONB, json.RawMessage(`{}`), true},
		{oidBool, true, true},
		{oidText, nil, true},
		{oidFloat8, float32(1), false},
		{oidInt2, 1, false},
		{oidJSONB, map[string]any{}, false},
		{oidTimestamptz, "2025-01-01", false},
		{1082, now, false}, // date
	}
	for _, tc := range tests {
		_, err := appendValue(nil, tc.oid, tc.v)
		if known := err == nil; known != tc.known {
			t.Errorf("oid %d, %T: direct %v, want %v", tc.oid, tc.v, known, tc.known)
		}
	}
}
