-- Canonical English values beside localised text. Health Auto Export
-- writes medication statuses, ECG classifications and symptom wording in
-- the phone's language ("Tomado", "Ritmo sinusal"); rows keep the text as
-- sent and gain a canonical value (taken, sinus_rhythm), so reads filter
-- the same whatever the phone's language. The writer fills them from the
-- vocabulary in libs/kind; this migration fills the rows already stored,
-- matching the text as the writer does (lower case, accents, spaces and
-- punctuation folded away). Text the vocabulary does not know stays NULL.

ALTER TABLE health_events ADD COLUMN name_canonical text, ADD COLUMN value_canonical text;
ALTER TABLE ecg_recordings ADD COLUMN classification_canonical text;

-- Reads filter events on (kind, canonical value).
CREATE INDEX health_events_value_canonical_idx ON health_events (user_id, kind, value_canonical);

CREATE TEMPORARY TABLE canonical_vocabulary (field text, term text, canonical text);
INSERT INTO canonical_vocabulary (field, term, canonical) VALUES
-- vocabulary begin
    ('ecg_classification', 'atrialfibrillation', 'atrial_fibrillation'),
    ('ecg_classification', 'atriumfibrilleren', 'atrial_fibrillation'),
    ('ecg_classification', 'boezemfibrilleren', 'atrial_fibrillation'),
    ('ecg_classification', 'enregistrementdemauvaisequalite', 'inconclusive_poor_reading'),
    ('ecg_classification', 'fibrilacaoatrial', 'atrial_fibrillation'),
    ('ecg_classification', 'fibrilacionauricular', 'atrial_fibrillation'),
    ('ecg_classification', 'fibrilhacaoauricular', 'atrial_fibrillation'),
    ('ecg_classification', 'fibrillationauriculaire', 'atrial_fibrillation'),
    ('ecg_classification', 'fibrillazioneatriale', 'atrial_fibrillation'),
    ('ecg_classification', 'frecuenciacardiacaalta', 'inconclusive_high_heart_rate'),
    ('ecg_classification', 'frecuenciacardiacabaja', 'inconclusive_low_heart_rate'),
    ('ecg_classification', 'frequencecardiaquebasse', 'inconclusive_low_heart_rate'),
    ('ecg_classification', 'frequencecardiaqueelevee', 'inconclusive_high_heart_rate'),
    ('ecg_classification', 'frequenciacardiacaalta', 'inconclusive_high_heart_rate'),
    ('ecg_classification', 'frequenciacardiacabaixa', 'inconclusive_low_heart_rate'),
    ('ecg_classification', 'frequenzacardiacaalta', 'inconclusive_high_heart_rate'),
    ('ecg_classification', 'frequenzacardiacabassa', 'inconclusive_low_heart_rate'),
    ('ecg_classification', 'frequenzacardiacaelevata', 'inconclusive_high_heart_rate'),
    ('ecg_classification', 'geenbeoordelingmogelijk', 'inconclusive_other'),
    ('ecg_classification', 'gravacaodeficiente', 'inconclusive_poor_reading'),
    ('ecg_classification', 'heartrateover120', 'inconclusive_high_heart_rate'),
    ('ecg_classification', 'heartrateover150', 'inconclusive_high_heart_rate'),
    ('ecg_classification', 'heartrateunder50', 'inconclusive_low_heart_rate'),
    ('ecg_classification', 'highheartrate', 'inconclusive_high_heart_rate'),
    ('ecg_classification', 'hogehartslag', 'inconclusive_high_heart_rate'),
    ('ecg_classification', 'hoheherzfrequenz', 'inconclusive_high_heart_rate'),
    ('ecg_classification', 'inconclusive', 'inconclusive_other'),
    ('ecg_classification', 'inconclusivehighheartrate', 'inconclusive_high_heart_rate'),
    ('ecg_classification', 'inconclusivelowheartrate', 'inconclusive_low_heart_rate'),
    ('ecg_classification', 'inconclusiveother', 'inconclusive_other'),
    ('ecg_classification', 'inconclusivepoorreading', 'inconclusive_poor_reading'),
    ('ecg_classification', 'inconclusivo', 'inconclusive_other'),
    ('ecg_classification', 'lagehartslag', 'inconclusive_low_heart_rate'),
    ('ecg_classification', 'lowheartrate', 'inconclusive_low_heart_rate'),
    ('ecg_classification', 'malregistro', 'inconclusive_poor_reading'),
    ('ecg_classification', 'nichteindeutig', 'inconclusive_other'),
    ('ecg_classification', 'niedrigeherzfrequenz', 'inconclusive_low_heart_rate'),
    ('ecg_classification', 'noconcluyente', 'inconclusive_other'),
    ('ecg_classification', 'nonconcluant', 'inconclusive_other'),
    ('ecg_classification', 'nonconclusivo', 'inconclusive_other'),
    ('ecg_classification', 'nonsoddisfacente', 'inconclusive_other'),
    ('ecg_classification', 'notset', 'not_set'),
    ('ecg_classification', 'peuconcluant', 'inconclusive_other'),
    ('ecg_classification', 'poorreading', 'inconclusive_poor_reading'),
    ('ecg_classification', 'poorrecording', 'inconclusive_poor_reading'),
    ('ecg_classification', 'registrazionediqualitainsufficiente', 'inconclusive_poor_reading'),
    ('ecg_classification', 'registrazionescadente', 'inconclusive_poor_reading'),
    ('ecg_classification', 'registrodeficiente', 'inconclusive_poor_reading'),
    ('ecg_classification', 'registronoconcluyente', 'inconclusive_other'),
    ('ecg_classification', 'ritmosinusal', 'sinus_rhythm'),
    ('ecg_classification', 'ritmosinusale', 'sinus_rhythm'),
    ('ecg_classification', 'rythmesinusal', 'sinus_rhythm'),
    ('ecg_classification', 'schlechteaufzeichnung', 'inconclusive_poor_reading'),
    ('ecg_classification', 'sinusrhythm', 'sinus_rhythm'),
    ('ecg_classification', 'sinusrhythmus', 'sinus_rhythm'),
    ('ecg_classification', 'sinusritme', 'sinus_rhythm'),
    ('ecg_classification', 'slechteopname', 'inconclusive_poor_reading'),
    ('ecg_classification', 'unrecognized', 'unrecognized'),
    ('ecg_classification', 'vorhofflimmern', 'atrial_fibrillation'),
    ('ecg_classification', '低心拍数', 'inconclusive_low_heart_rate'),
    ('ecg_classification', '判定不能', 'inconclusive_other'),
    ('ecg_classification', '心房細動', 'atrial_fibrillation'),
    ('ecg_classification', '洞調律', 'sinus_rhythm'),
    ('ecg_classification', '記録不良', 'inconclusive_poor_reading'),
    ('ecg_classification', '高心拍数', 'inconclusive_high_heart_rate'),
    ('heart_notification', 'highheartrate', 'high_heart_rate'),
    ('heart_notification', 'highheartratenotification', 'high_heart_rate'),
    ('heart_notification', 'irregularheartrhythmnotification', 'irregular_rhythm'),
    ('heart_notification', 'irregularrhythm', 'irregular_rhythm'),
    ('heart_notification', 'irregularrhythmnotification', 'irregular_rhythm'),
    ('heart_notification', 'lowheartrate', 'low_heart_rate'),
    ('heart_notification', 'lowheartratenotification', 'low_heart_rate'),
    ('medication_status', 'assunto', 'taken'),
    ('medication_status', 'ausgelassen', 'skipped'),
    ('medication_status', 'eingenommen', 'taken'),
    ('medication_status', 'ignorado', 'skipped'),
    ('medication_status', 'ignore', 'skipped'),
    ('medication_status', 'ingenomen', 'taken'),
    ('medication_status', 'nointeractuado', 'not_interacted'),
    ('medication_status', 'notificationnotsent', 'notification_not_sent'),
    ('medication_status', 'notinteracted', 'not_interacted'),
    ('medication_status', 'notlogged', 'not_logged'),
    ('medication_status', 'omitido', 'skipped'),
    ('medication_status', 'overgeslagen', 'skipped'),
    ('medication_status', 'presa', 'taken'),
    ('medication_status', 'preso', 'taken'),
    ('medication_status', 'pris', 'taken'),
    ('medication_status', 'prise', 'taken'),
    ('medication_status', 'pulado', 'skipped'),
    ('medication_status', 'saltata', 'skipped'),
    ('medication_status', 'saltato', 'skipped'),
    ('medication_status', 'saute', 'skipped'),
    ('medication_status', 'skipped', 'skipped'),
    ('medication_status', 'snoozed', 'snoozed'),
    ('medication_status', 'taken', 'taken'),
    ('medication_status', 'tomado', 'taken'),
    ('medication_status', 'ubersprungen', 'skipped'),
    ('medication_status', 'スキップ', 'skipped'),
    ('medication_status', 'スキップ済み', 'skipped'),
    ('medication_status', '服用済み', 'taken'),
    ('symptom_name', 'abdominalcramps', 'abdominal_cramps'),
    ('symptom_name', 'acne', 'acne'),
    ('symptom_name', 'appetitechanges', 'appetite_changes'),
    ('symptom_name', 'bladderincontinence', 'bladder_incontinence'),
    ('symptom_name', 'bloating', 'bloating'),
    ('symptom_name', 'breastpain', 'breast_pain'),
    ('symptom_name', 'chesttightnessorpain', 'chest_tightness_or_pain'),
    ('symptom_name', 'chills', 'chills'),
    ('symptom_name', 'constipation', 'constipation'),
    ('symptom_name', 'coughing', 'coughing'),
    ('symptom_name', 'diarrhea', 'diarrhea'),
    ('symptom_name', 'dizziness', 'dizziness'),
    ('symptom_name', 'dolordecabeza', 'headache'),
    ('symptom_name', 'dryskin', 'dry_skin'),
    ('symptom_name', 'fainting', 'fainting'),
    ('symptom_name', 'fatiga', 'fatigue'),
    ('symptom_name', 'fatigue', 'fatigue'),
    ('symptom_name', 'fever', 'fever'),
    ('symptom_name', 'fiebre', 'fever'),
    ('symptom_name', 'generalizedbodyache', 'generalized_body_ache'),
    ('symptom_name', 'hairloss', 'hair_loss'),
    ('symptom_name', 'headache', 'headache'),
    ('symptom_name', 'heartburn', 'heartburn'),
    ('symptom_name', 'hotflashes', 'hot_flashes'),
    ('symptom_name', 'lossofsmell', 'loss_of_smell'),
    ('symptom_name', 'lossoftaste', 'loss_of_taste'),
    ('symptom_name', 'lowerbackpain', 'lower_back_pain'),
    ('symptom_name', 'mareo', 'dizziness'),
    ('symptom_name', 'mareos', 'dizziness'),
    ('symptom_name', 'memorylapse', 'memory_lapse'),
    ('symptom_name', 'moodchanges', 'mood_changes'),
    ('symptom_name', 'nausea', 'nausea'),
    ('symptom_name', 'nauseas', 'nausea'),
    ('symptom_name', 'nightsweats', 'night_sweats'),
    ('symptom_name', 'pelvicpain', 'pelvic_pain'),
    ('symptom_name', 'rapidpoundingorflutteringheartbeat', 'rapid_pounding_or_fluttering_heartbeat'),
    ('symptom_name', 'runnynose', 'runny_nose'),
    ('symptom_name', 'shortnessofbreath', 'shortness_of_breath'),
    ('symptom_name', 'sinuscongestion', 'sinus_congestion'),
    ('symptom_name', 'skippedheartbeat', 'skipped_heartbeat'),
    ('symptom_name', 'sleepchanges', 'sleep_changes'),
    ('symptom_name', 'sorethroat', 'sore_throat'),
    ('symptom_name', 'tos', 'coughing'),
    ('symptom_name', 'vaginaldryness', 'vaginal_dryness'),
    ('symptom_name', 'vomiting', 'vomiting'),
    ('symptom_name', 'wheezing', 'wheezing'),
    ('symptom_severity', 'grave', 'severe'),
    ('symptom_severity', 'leve', 'mild'),
    ('symptom_severity', 'mild', 'mild'),
    ('symptom_severity', 'moderado', 'moderate'),
    ('symptom_severity', 'moderate', 'moderate'),
    ('symptom_severity', 'nopresente', 'not_present'),
    ('symptom_severity', 'notpresent', 'not_present'),
    ('symptom_severity', 'present', 'present'),
    ('symptom_severity', 'presente', 'present'),
    ('symptom_severity', 'severe', 'severe'),
    ('symptom_severity', 'severo', 'severe'),
    ('symptom_severity', 'unspecified', 'unspecified'),
    ('valence_classification', 'neutral', 'neutral'),
    ('valence_classification', 'pleasant', 'pleasant'),
    ('valence_classification', 'slightlypleasant', 'slightly_pleasant'),
    ('valence_classification', 'slightlyunpleasant', 'slightly_unpleasant'),
    ('valence_classification', 'unpleasant', 'unpleasant'),
    ('valence_classification', 'verypleasant', 'very_pleasant'),
    ('valence_classification', 'veryunpleasant', 'very_unpleasant')
-- vocabulary end
;

UPDATE health_events e SET value_canonical = v.canonical
FROM canonical_vocabulary v
WHERE v.field = CASE e.kind
        WHEN 'medication' THEN 'medication_status'
        WHEN 'symptom' THEN 'symptom_severity'
        WHEN 'state_of_mind' THEN 'valence_classification'
    END
  AND v.term = regexp_replace(translate(lower(e.value), 'ÁÀÂÄÃÅÉÈÊËÍÌÎÏÓÒÔÖÕÚÙÛÜÇÑáàâäãåéèêëíìîïóòôöõúùûüçñß', 'aaaaaaeeeeiiiiooooouuuucnaaaaaaeeeeiiiiooooouuuucns'), '[[:space:][:punct:]  ]', '', 'g');

UPDATE health_events e SET name_canonical = v.canonical
FROM canonical_vocabulary v
WHERE v.field = CASE e.kind
        WHEN 'symptom' THEN 'symptom_name'
        WHEN 'heart_rate_notification' THEN 'heart_notification'
    END
  AND v.term = regexp_replace(translate(lower(e.name), 'ÁÀÂÄÃÅÉÈÊËÍÌÎÏÓÒÔÖÕÚÙÛÜÇÑáàâäãåéèêëíìîïóòôöõúùûüçñß', 'aaaaaaeeeeiiiiooooouuuucnaaaaaaeeeeiiiiooooouuuucns'), '[[:space:][:punct:]  ]', '', 'g');

UPDATE ecg_recordings r SET classification_canonical = v.canonical
FROM canonical_vocabulary v
WHERE v.field = 'ecg_classification'
  AND v.term = regexp_replace(translate(lower(r.classification), 'ÁÀÂÄÃÅÉÈÊËÍÌÎÏÓÒÔÖÕÚÙÛÜÇÑáàâäãåéèêëíìîïóòôöõúùûüçñß', 'aaaaaaeeeeiiiiooooouuuucnaaaaaaeeeeiiiiooooouuuucns'), '[[:space:][:punct:]  ]', '', 'g');

DROP TABLE canonical_vocabulary;
