package kind

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
)

// Localised values. Health Auto Export writes some values in the phone's
// language (a medication dose "Tomado", an ECG "Ritmo sinusal"). Rows keep
// the text as sent and add a canonical English value from this table, so
// reads filter the same way whatever the phone's language. Text the table
// does not know keeps a NULL canonical value and is counted (see
// UnknownTermSink), so missing wording shows up on a dashboard.
//
// The wording is the Health app's and Health Auto Export's own, per
// language; docs/data-rules.md lists what each language covers.

// Vocabulary fields: which value a term belongs to.
const (
	FieldMedicationStatus  = "medication_status"
	FieldECGClassification = "ecg_classification"
	FieldSymptomSeverity   = "symptom_severity"
	FieldSymptomName       = "symptom_name"
	FieldValence           = "valence_classification"
	FieldHeartNotification = "heart_notification"
)

// vocabularyKeySeparator joins a field and a folded term in the index.
const vocabularyKeySeparator = "\x00"

// Term is one wording of a canonical value in one language ("*": the
// app's own codes, the same in every language: snake or camel case names,
// and HealthKit's raw numbers where the app sends those).
type Term struct {
	Field, Canonical, Lang, Text string
}

// vocab lists the wordings: per field, per canonical value, per language.
type vocab map[string]map[string]map[string][]string

func vocabulary() vocab {
	return vocab{
		FieldMedicationStatus: {
			"taken": {
				"en": {"Taken"}, "es": {"Tomado"}, "pt": {"Tomado"}, "de": {"Eingenommen"},
				"fr": {"Pris", "Prise"}, "it": {"Preso", "Presa", "Assunto"}, "nl": {"Ingenomen"}, "ja": {"服用済み"},
			},
			"skipped": {
				"en": {"Skipped"}, "es": {"Omitido"}, "pt": {"Ignorado", "Pulado"}, "de": {"Übersprungen", "Ausgelassen"},
				"fr": {"Sauté", "Ignoré"}, "it": {"Saltato", "Saltata"}, "nl": {"Overgeslagen"}, "ja": {"スキップ", "スキップ済み"},
			},
			"not_interacted":        {"en": {"Not Interacted"}, "es": {"No Interactuado"}},
			"snoozed":               {"en": {"Snoozed"}},
			"notification_not_sent": {"en": {"Notification Not Sent"}},
			"not_logged":            {"en": {"Not Logged"}},
		},
		FieldECGClassification: {
			"sinus_rhythm": {
				"*": {"1"}, "en": {"Sinus Rhythm"}, "es": {"Ritmo sinusal"}, "pt": {"Ritmo sinusal"}, "de": {"Sinusrhythmus"},
				"fr": {"Rythme sinusal"}, "it": {"Ritmo sinusale"}, "nl": {"Sinusritme"}, "ja": {"洞調律"},
			},
			"atrial_fibrillation": {
				"*": {"2"}, "en": {"Atrial Fibrillation"}, "es": {"Fibrilación auricular"}, "pt": {"Fibrilação atrial", "Fibrilhação auricular"},
				"de": {"Vorhofflimmern"}, "fr": {"Fibrillation auriculaire"}, "it": {"Fibrillazione atriale"},
				"nl": {"Atriumfibrilleren", "Boezemfibrilleren"}, "ja": {"心房細動"},
			},
			"inconclusive_low_heart_rate": {
				"*": {"3"}, "en": {"Low Heart Rate", "Heart Rate Under 50", "Inconclusive Low Heart Rate"},
				"es": {"Frecuencia cardíaca baja", "Frecuencia cardiaca baja"}, "pt": {"Frequência cardíaca baixa"},
				"de": {"Niedrige Herzfrequenz"}, "fr": {"Fréquence cardiaque basse"}, "it": {"Frequenza cardiaca bassa"},
				"nl": {"Lage hartslag"}, "ja": {"低心拍数"},
			},
			"inconclusive_high_heart_rate": {
				"*": {"4"}, "en": {"High Heart Rate", "Heart Rate Over 120", "Heart Rate Over 150", "Inconclusive High Heart Rate"},
				"es": {"Frecuencia cardíaca alta", "Frecuencia cardiaca alta"}, "pt": {"Frequência cardíaca alta"},
				"de": {"Hohe Herzfrequenz"}, "fr": {"Fréquence cardiaque élevée"},
				"it": {"Frequenza cardiaca alta", "Frequenza cardiaca elevata"}, "nl": {"Hoge hartslag"}, "ja": {"高心拍数"},
			},
			"inconclusive_poor_reading": {
				"*": {"5"}, "en": {"Poor Recording", "Poor Reading", "Inconclusive Poor Reading"},
				"es": {"Registro deficiente", "Mal registro"}, "pt": {"Gravação deficiente"},
				"de": {"Schlechte Aufzeichnung"}, "fr": {"Enregistrement de mauvaise qualité"},
				"it": {"Registrazione scadente", "Registrazione di qualità insufficiente"}, "nl": {"Slechte opname"}, "ja": {"記録不良"},
			},
			"inconclusive_other": {
				"*": {"6"}, "en": {"Inconclusive", "Inconclusive Other"}, "es": {"No concluyente", "Registro no concluyente"},
				"pt": {"Inconclusivo"}, "de": {"Nicht eindeutig"}, "fr": {"Non concluant", "Peu concluant"},
				"it": {"Non soddisfacente", "Non conclusivo"}, "nl": {"Geen beoordeling mogelijk"}, "ja": {"判定不能"},
			},
			"unrecognized": {"*": {"100"}, "en": {"Unrecognized"}},
			"not_set":      {"*": {"0"}, "en": {"Not Set"}},
		},
		FieldSymptomSeverity: {
			"unspecified": {"en": {"Unspecified"}},
			"not_present": {"en": {"Not Present"}, "es": {"No presente"}},
			"present":     {"en": {"Present"}, "es": {"Presente"}},
			"mild":        {"en": {"Mild"}, "es": {"Leve"}},
			"moderate":    {"en": {"Moderate"}, "es": {"Moderado"}},
			"severe":      {"en": {"Severe"}, "es": {"Grave", "Severo"}},
		},
		FieldSymptomName: symptomNames(),
		FieldValence: {
			"very_unpleasant":     {"*": {"1", "very_unpleasant", "veryUnpleasant"}},
			"unpleasant":          {"*": {"2", "unpleasant"}},
			"slightly_unpleasant": {"*": {"3", "slightly_unpleasant", "slightlyUnpleasant"}},
			"neutral":             {"*": {"4", "neutral"}},
			"slightly_pleasant":   {"*": {"5", "slightly_pleasant", "slightlyPleasant"}},
			"pleasant":            {"*": {"6", "pleasant"}},
			"very_pleasant":       {"*": {"7", "very_pleasant", "veryPleasant"}},
		},
		FieldHeartNotification: {
			"high_heart_rate":  {"*": {"high_heart_rate_notification", "high_heart_rate"}, "en": {"High Heart Rate"}},
			"low_heart_rate":   {"*": {"low_heart_rate_notification", "low_heart_rate"}, "en": {"Low Heart Rate"}},
			"irregular_rhythm": {"*": {"irregular_rhythm_notification", "irregular_heart_rhythm_notification", "irregular_rhythm"}, "en": {"Irregular Rhythm"}},
		},
	}
}

// symptomNames are HealthKit's symptom types as the Health app names them
// in English (canonical: the type's name in snake case), with the Spanish
// names of the common ones.
func symptomNames() map[string]map[string][]string {
	en := map[string]string{
		"abdominal_cramps": "Abdominal Cramps", "acne": "Acne", "appetite_changes": "Appetite Changes",
		"bladder_incontinence": "Bladder Incontinence", "bloating": "Bloating", "breast_pain": "Breast Pain",
		"chest_tightness_or_pain": "Chest Tightness or Pain", "chills": "Chills", "constipation": "Constipation",
		"coughing": "Coughing", "diarrhea": "Diarrhea", "dizziness": "Dizziness", "dry_skin": "Dry Skin",
		"fainting": "Fainting", "fatigue": "Fatigue", "fever": "Fever", "generalized_body_ache": "Generalized Body Ache",
		"hair_loss": "Hair Loss", "headache": "Headache", "heartburn": "Heartburn", "hot_flashes": "Hot Flashes",
		"loss_of_smell": "Loss of Smell", "loss_of_taste": "Loss of Taste", "lower_back_pain": "Lower Back Pain",
		"memory_lapse": "Memory Lapse", "mood_changes": "Mood Changes", "nausea": "Nausea", "night_sweats": "Night Sweats",
		"pelvic_pain": "Pelvic Pain", "rapid_pounding_or_fluttering_heartbeat": "Rapid, Pounding, or Fluttering Heartbeat",
		"runny_nose": "Runny Nose", "shortness_of_breath": "Shortness of Breath", "sinus_congestion": "Sinus Congestion",
		"skipped_heartbeat": "Skipped Heartbeat", "sleep_changes": "Sleep Changes", "sore_throat": "Sore Throat",
		"vaginal_dryness": "Vaginal Dryness", "vomiting": "Vomiting", "wheezing": "Wheezing",
	}
	es := map[string][]string{
		"headache": {"Dolor de cabeza"}, "fatigue": {"Fatiga"}, "fever": {"Fiebre"}, "nausea": {"Náuseas"},
		"coughing": {"Tos"}, "dizziness": {"Mareo", "Mareos"},
	}
	out := map[string]map[string][]string{}
	for canon, text := range en {
		out[canon] = map[string][]string{"en": {text}}
		if words, ok := es[canon]; ok {
			out[canon]["es"] = words
		}
	}
	return out
}

// Terms lists every wording, for the migration that backfills canonical
// values and for documentation.
func Terms() []Term {
	var out []Term
	for field, canons := range vocabulary() {
		for canon, langs := range canons {
			for lang, words := range langs {
				for _, w := range words {
					out = append(out, Term{Field: field, Canonical: canon, Lang: lang, Text: w})
				}
			}
		}
	}
	return out
}

// Vocabulary maps localised text to canonical values.
type Vocabulary struct {
	byKey map[string]string
	// english is each canonical value's first English wording, by field
	// and canonical value.
	english map[string]string
}

// NewVocabulary indexes the table. Every canonical value also matches
// itself, in snake or camel case (the app's codes).
func NewVocabulary() *Vocabulary {
	v := &Vocabulary{byKey: map[string]string{}, english: map[string]string{}}
	for field, canons := range vocabulary() {
		for canon, langs := range canons {
			if en := langs["en"]; len(en) > 0 {
				v.english[field+vocabularyKeySeparator+canon] = en[0]
			}
			v.byKey[field+vocabularyKeySeparator+FoldTerm(canon)] = canon
			for _, words := range langs {
				for _, w := range words {
					v.byKey[field+vocabularyKeySeparator+FoldTerm(w)] = canon
				}
			}
		}
	}
	return v
}

// Canonical is the canonical value of text in field, or "" when the table
// does not know it.
func (v *Vocabulary) Canonical(field, text string) string {
	return v.byKey[field+vocabularyKeySeparator+FoldTerm(text)]
}

// English is how the Health app words a canonical value in English
// ("Chest Tightness or Pain" for chest_tightness_or_pain), or "" when the
// table has no English wording of it.
func (v *Vocabulary) English(field, canonical string) string {
	return v.english[field+vocabularyKeySeparator+canonical]
}

// FoldTerm is the form text is matched in: lower case, without spaces
// (any kind, the no-break ones included), underscores, hyphens and
// punctuation, and Latin letters without their accents, so
// "Not Interacted", "not_interacted", "notInteracted" and "NOT INTERACTED"
// are one term, and "Fibrilacion" matches "Fibrilación".
func FoldTerm(text string) string {
	var b strings.Builder
	b.Grow(len(text))
	for _, r := range strings.ToLower(text) {
		switch {
		case unicode.IsSpace(r), unicode.IsPunct(r), r == '\u202f', r == '\u00a0':
			continue
		}
		b.WriteRune(unaccent(r))
	}
	return b.String()
}

// unaccent maps the accented Latin letters of the table's languages to
// their base letters.
func unaccent(r rune) rune {
	switch r {
	case 'á', 'à', 'â', 'ä', 'ã', 'å':
		return 'a'
	case 'é', 'è', 'ê', 'ë':
		return 'e'
	case 'í', 'ì', 'î', 'ï':
		return 'i'
	case 'ó', 'ò', 'ô', 'ö', 'õ':
		return 'o'
	case 'ú', 'ù', 'û', 'ü':
		return 'u'
	case 'ç':
		return 'c'
	case 'ñ':
		return 'n'
	case 'ß':
		return 's'
	}
	return r
}

// Folded lists the index: every (field, folded wording, canonical value),
// sorted. The migration that backfills canonical values carries the same
// list (a test keeps them equal).
func (v *Vocabulary) Folded() []Term {
	out := make([]Term, 0, len(v.byKey))
	for key, canon := range v.byKey {
		field, text, _ := strings.Cut(key, vocabularyKeySeparator)
		out = append(out, Term{Field: field, Canonical: canon, Text: text})
	}
	slices.SortFunc(out, func(a, b Term) int {
		return cmp.Or(strings.Compare(a.Field, b.Field), strings.Compare(a.Text, b.Text))
	})
	return out
}
