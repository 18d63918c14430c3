package kind_test

import (
	"context"
	"testing"

	"github.com/healthexport/libs/testenv"
	"github.com/healthexport/migrations"
)

// schemaBeforeCanonical is the last schema version without canonical values.
const schemaBeforeCanonical = 6

// TestBackfillMigration runs the canonical-values migration over rows
// stored before it (schema 6) and checks their canonical values, the same
// the writer gives new rows.
func TestBackfillMigration(t *testing.T) {
	db := testenv.NewDatabase(t)
	ctx := context.Background()
	// Back to schema 6, the last without canonical columns.
	st, err := migrations.Current(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrations.Down(db.URL, int(st.Latest)-schemaBeforeCanonical); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `
INSERT INTO health_events (user_id, kind, started_at, event_key, name, value, ingestion_id, stream_seq) VALUES
 ('00000000-0000-0000-0000-000000000001', 'medication', '2026-08-10T07:00:00Z', 'Ibuprofeno', 'Ibuprofeno', 'Tomado', 'i', 1),
 ('00000000-0000-0000-0000-000000000001', 'medication', '2026-08-10T08:00:00Z', 'Ibuprofeno', 'Ibuprofeno', 'NO INTERACTUADO', 'i', 1),
 ('00000000-0000-0000-0000-000000000001', 'medication', '2026-08-10T09:00:00Z', 'Ibuprofeno', 'Ibuprofeno', 'Übersprungen', 'i', 1),
 ('00000000-0000-0000-0000-000000000001', 'medication', '2026-08-10T10:00:00Z', 'Ibuprofeno', 'Ibuprofeno', 'ÜBERSPRUNGEN', 'i', 1),
 ('00000000-0000-0000-0000-000000000001', 'medication', '2026-08-10T11:00:00Z', 'Ibuprofeno', 'Ibuprofeno', 'who knows', 'i', 1),
 ('00000000-0000-0000-0000-000000000001', 'symptom', '2026-08-10T07:00:00Z', 'Dolor de cabeza', 'Dolor de cabeza', 'Leve', 'i', 1),
 ('00000000-0000-0000-0000-000000000001', 'symptom', '2026-08-10T07:00:00Z', 'Headache', 'Headache', 'Moderate', 'i', 2),
 ('00000000-0000-0000-0000-000000000001', 'symptom', '2026-08-10T09:00:00Z', 'Fatiga', 'Fatiga', 'Leve', 'i', 1),
 ('00000000-0000-0000-0000-000000000001', 'symptom', '2026-08-10T10:00:00Z', 'Dolor de muelas', 'Dolor de muelas', 'Leve', 'i', 1),
 ('00000000-0000-0000-0000-000000000001', 'state_of_mind', '2026-08-10T07:00:00Z', '', 'dailyMood', 'slightlyPleasant', 'i', 1),
 ('00000000-0000-0000-0000-000000000001', 'state_of_mind', '2026-08-11T07:00:00Z', '', 'dailyMood', '2', 'i', 1),
 ('00000000-0000-0000-0000-000000000001', 'cycle_tracking', '2026-08-10T07:00:00Z', 'Menstrual Flow', 'Menstrual Flow', 'Light', 'i', 1);
INSERT INTO ecg_recordings (user_id, started_at, source, classification, ingestion_id, stream_seq) VALUES
 ('00000000-0000-0000-0000-000000000001', '2026-08-10T07:00:00Z', 'a', 'Ritmo Sinusal', 'i', 1),
 ('00000000-0000-0000-0000-000000000001', '2026-08-10T08:00:00Z', 'a', 'Fibrilación auricular', 'i', 1),
 ('00000000-0000-0000-0000-000000000001', '2026-08-10T09:00:00Z', 'a', '心房細動', 'i', 1),
 ('00000000-0000-0000-0000-000000000001', '2026-08-10T10:00:00Z', 'a', 'Heart Rate Over 150', 'i', 1),
 ('00000000-0000-0000-0000-000000000001', '2026-08-10T11:00:00Z', 'a', NULL, 'i', 1);`); err != nil {
		t.Fatal(err)
	}
	if err := migrations.Up(db.URL); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ sql, want string }{
		{`SELECT string_agg(coalesce(value_canonical, '-'), ',' ORDER BY started_at) FROM health_events WHERE kind = 'medication'`,
			"taken,not_interacted,skipped,skipped,-"},
		// One headache (the later write) keyed on its canonical name; a name
		// without one keeps its key as sent.
		{`SELECT string_agg(event_key || '/' || name || '/' || coalesce(name_canonical, '-') || '/' || value_canonical, ',' ORDER BY started_at) FROM health_events WHERE kind = 'symptom'`,
			"headache/Headache/headache/moderate,fatigue/Fatiga/fatigue/mild,Dolor de muelas/Dolor de muelas/-/mild"},
		{`SELECT string_agg(value_canonical, ',' ORDER BY started_at) FROM health_events WHERE kind = 'state_of_mind'`, "slightly_pleasant,unpleasant"},
		{`SELECT coalesce(value_canonical, '-') FROM health_events WHERE kind = 'cycle_tracking'`, "-"},
		{`SELECT string_agg(coalesce(classification_canonical, '-'), ',' ORDER BY started_at) FROM ecg_recordings`,
			"sinus_rhythm,atrial_fibrillation,atrial_fibrillation,inconclusive_high_heart_rate,-"},
	} {
		var got string
		if err := db.Pool.QueryRow(ctx, c.sql).Scan(&got); err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		if got != c.want {
			t.Errorf("%s = %q, want %q", c.sql, got, c.want)
		}
	}
}
