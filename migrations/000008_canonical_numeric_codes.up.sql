-- HealthKit's raw numbers as wordings: ECG classifications (0 not set, 1
-- sinus rhythm, ..., 100 unrecognized) and state-of-mind valence
-- classifications (1 very unpleasant ... 7 very pleasant), for apps that
-- send the number. Rows stored before get their canonical value as in
-- 000007 (only where they have none).

CREATE TEMPORARY TABLE canonical_vocabulary (field text, term text, canonical text);
INSERT INTO canonical_vocabulary (field, term, canonical) VALUES
-- vocabulary begin
    ('ecg_classification', '0', 'not_set'),
    ('ecg_classification', '1', 'sinus_rhythm'),
    ('ecg_classification', '100', 'unrecognized'),
    ('ecg_classification', '2', 'atrial_fibrillation'),
    ('ecg_classification', '3', 'inconclusive_low_heart_rate'),
    ('ecg_classification', '4', 'inconclusive_high_heart_rate'),
    ('ecg_classification', '5', 'inconclusive_poor_reading'),
    ('ecg_classification', '6', 'inconclusive_other'),
    ('valence_classification', '1', 'very_unpleasant'),
    ('valence_classification', '2', 'unpleasant'),
    ('valence_classification', '3', 'slightly_unpleasant'),
    ('valence_classification', '4', 'neutral'),
    ('valence_classification', '5', 'slightly_pleasant'),
    ('valence_classification', '6', 'pleasant'),
    ('valence_classification', '7', 'very_pleasant')
-- vocabulary end
;

UPDATE health_events e SET value_canonical = v.canonical
FROM canonical_vocabulary v
WHERE e.value_canonical IS NULL AND v.field = CASE e.kind
        WHEN 'medication' THEN 'medication_status'
        WHEN 'symptom' THEN 'symptom_severity'
        WHEN 'state_of_mind' THEN 'valence_classification'
    END
  AND v.term = regexp_replace(translate(lower(e.value), 'ÁÀÂÄÃÅÉÈÊËÍÌÎÏÓÒÔÖÕÚÙÛÜÇÑáàâäãåéèêëíìîïóòôöõúùûüçñß', 'aaaaaaeeeeiiiiooooouuuucnaaaaaaeeeeiiiiooooouuuucns'), '[[:space:][:punct:]  ]', '', 'g');

UPDATE health_events e SET name_canonical = v.canonical
FROM canonical_vocabulary v
WHERE e.name_canonical IS NULL AND v.field = CASE e.kind
        WHEN 'symptom' THEN 'symptom_name'
        WHEN 'heart_rate_notification' THEN 'heart_notification'
    END
  AND v.term = regexp_replace(translate(lower(e.name), 'ÁÀÂÄÃÅÉÈÊËÍÌÎÏÓÒÔÖÕÚÙÛÜÇÑáàâäãåéèêëíìîïóòôöõúùûüçñß', 'aaaaaaeeeeiiiiooooouuuucnaaaaaaeeeeiiiiooooouuuucns'), '[[:space:][:punct:]  ]', '', 'g');

UPDATE ecg_recordings r SET classification_canonical = v.canonical
FROM canonical_vocabulary v
WHERE r.classification_canonical IS NULL AND v.field = 'ecg_classification'
  AND v.term = regexp_replace(translate(lower(r.classification), 'ÁÀÂÄÃÅÉÈÊËÍÌÎÏÓÒÔÖÕÚÙÛÜÇÑáàâäãåéèêëíìîïóòôöõúùûüçñß', 'aaaaaaeeeeiiiiooooouuuucnaaaaaaeeeeiiiiooooouuuucns'), '[[:space:][:punct:]  ]', '', 'g');

DROP TABLE canonical_vocabulary;
