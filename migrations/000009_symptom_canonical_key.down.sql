-- Back to symptoms keyed on their name as sent. Rows merged by the up
-- migration stay merged.
UPDATE health_events SET event_key = name
WHERE kind = 'symptom' AND name IS NOT NULL AND event_key <> name;
