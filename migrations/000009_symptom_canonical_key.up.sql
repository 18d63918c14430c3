-- Symptoms are keyed on their canonical name when they have one
-- (headache), not on the name as sent (Headache, Dolor de cabeza): a phone
-- whose language changes re-sends the previous day, and its symptoms must
-- not be stored twice. Where re-keying makes two rows one, the later write
-- (higher stream_seq) stays, as with any other key.
DELETE FROM health_events e
USING health_events o
WHERE e.kind = 'symptom' AND o.kind = 'symptom'
  AND e.user_id = o.user_id AND e.started_at = o.started_at
  AND coalesce(e.name_canonical, e.event_key) = coalesce(o.name_canonical, o.event_key)
  AND (e.stream_seq, e.event_key) < (o.stream_seq, o.event_key);

UPDATE health_events SET event_key = name_canonical
WHERE kind = 'symptom' AND name_canonical IS NOT NULL AND event_key <> name_canonical;
