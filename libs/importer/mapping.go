package importer

import (
	"strings"
	"unicode"
)

// HealthKit's type names carry these prefixes; the rest names the type.
const (
	quantityPrefix    = "HKQuantityTypeIdentifier"
	categoryPrefix    = "HKCategoryTypeIdentifier"
	correlationPrefix = "HKCorrelationTypeIdentifier"
	dataTypePrefix    = "HKDataType"
	categoryValue     = "HKCategoryValue"
	workoutPrefix     = "HKWorkoutActivityType"
)

// quantityMetrics maps HealthKit quantity types (without their prefix) to
// the metric names Health Auto Export gives them, so a sample that arrives
// both ways meets itself in one series. This is the one table of them;
// TestQuantityMetricsAreCanonical checks every name against the kind
// registry's aliases. A type not listed is stored under its own name in
// snake case (metricName), never dropped.
var quantityMetrics = map[string]string{
	"ActiveEnergyBurned":                 "active_energy",
	"AppleExerciseTime":                  "apple_exercise_time",
	"AppleMoveTime":                      "apple_move_time",
	"AppleStandTime":                     "apple_stand_time",
	"AppleSleepingWristTemperature":      "apple_sleeping_wrist_temperature",
	"AppleSleepingBreathingDisturbances": "breathing_disturbances",
	"AppleWalkingSteadiness":             "walking_steadiness",
	"AtrialFibrillationBurden":           "atrial_fibrillation_burden",
	"BasalBodyTemperature":               "basal_body_temperature",
	"BasalEnergyBurned":                  "basal_energy_burned",
	"BloodAlcoholContent":                "blood_alcohol_content",
	"BloodGlucose":                       "blood_glucose",
	"BodyFatPercentage":                  "body_fat_percentage",
	"BodyMass":                           "weight_body_mass",
	"BodyMassIndex":                      "body_mass_index",
	"BodyTemperature":                    "body_temperature",
	"CyclingCadence":                     "cycling_cadence",
	"CyclingFunctionalThresholdPower":    "cycling_functional_threshold_power",
	"CyclingPower":                       "cycling_power",
	"CyclingSpeed":                       "cycling_speed",
	"DietaryBiotin":                      "dietary_biotin",
	"DietaryCaffeine":                    "dietary_caffeine",
	"DietaryCalcium":                     "calcium",
	"DietaryCarbohydrates":               "carbohydrates",
	"DietaryChloride":                    "chloride",
	"DietaryCholesterol":                 "dietary_cholesterol",
	"DietaryChromium":                    "chromium",
	"DietaryCopper":                      "copper",
	"DietaryEnergyConsumed":              "dietary_energy",
	"DietaryFatMonounsaturated":          "monounsaturated_fat",
	"DietaryFatPolyunsaturated":          "polyunsaturated_fat",
	"DietaryFatSaturated":                "saturated_fat",
	"DietaryFatTotal":                    "total_fat",
	"DietaryFiber":                       "fiber",
	"DietaryFolate":                      "folate",
	"DietaryIodine":                      "iodine",
	"DietaryIron":                        "iron",
	"DietaryMagnesium":                   "magnesium",
	"DietaryManganese":                   "manganese",
	"DietaryMolybdenum":                  "molybdenum",
	"DietaryNiacin":                      "niacin",
	"DietaryPantothenicAcid":             "pantothenic_acid",
	"DietaryPhosphorus":                  "phosphorus",
	"DietaryPotassium":                   "potassium",
	"DietaryProtein":                     "protein",
	"DietaryRiboflavin":                  "riboflavin",
	"DietarySelenium":                    "selenium",
	"DietarySodium":                      "sodium",
	"DietarySugar":                       "dietary_sugar",
	"DietaryThiamin":                     "thiamin",
	"DietaryVitaminA":                    "vitamin_a",
	"DietaryVitaminB12":                  "vitamin_b12",
	"DietaryVitaminB6":                   "vitamin_b6",
	"DietaryVitaminC":                    "vitamin_c",
	"DietaryVitaminD":                    "vitamin_d",
	"DietaryVitaminE":                    "vitamin_e",
	"DietaryVitaminK":                    "vitamin_k",
	"DietaryWater":                       "dietary_water",
	"DietaryZinc":                        "zinc",
	"DistanceCycling":                    "cycling_distance",
	"DistanceDownhillSnowSports":         "downhill_snow_sports",
	"DistanceSwimming":                   "swimming_distance",
	"DistanceWalkingRunning":             "walking_running_distance",
	"DistanceWheelchair":                 "wheelchair_distance",
	"ElectrodermalActivity":              "electrodermal_activity",
	"EnvironmentalAudioExposure":         "environmental_audio_exposure",
	"EnvironmentalSoundReduction":        "environmental_sound_reduction",
	"FlightsClimbed":                     "flights_climbed",
	"ForcedExpiratoryVolume1":            "forced_expiratory_volume",
	"ForcedVitalCapacity":                "forced_vital_capacity",
	"HeadphoneAudioExposure":             "headphone_audio_exposure",
	"HeartRate":                          "heart_rate",
	"HeartRateRecoveryOneMinute":         "cardio_recovery",
	"HeartRateVariabilitySDNN":           "heart_rate_variability",
	"Height":                             "height",
	"InhalerUsage":                       "inhaler_usage",
	"InsulinDelivery":                    "insulin_delivery",
	"LeanBodyMass":                       "lean_body_mass",
	"NumberOfAlcoholicBeverages":         "number_of_alcoholic_beverages",
	"NumberOfTimesFallen":                "number_of_times_fallen",
	"OxygenSaturation":                   "blood_oxygen_saturation",
	"PeakExpiratoryFlowRate":             "peak_expiratory_flow_rate",
	"PeripheralPerfusionIndex":           "peripheral_perfusion_index",
	"PhysicalEffort":                     "physical_effort",
	"PushCount":                          "wheelchair_push_count",
	"RespiratoryRate":                    "respiratory_rate",
	"RestingHeartRate":                   "resting_heart_rate",
	"RunningGroundContactTime":           "running_ground_contact_time",
	"RunningPower":                       "running_power",
	"RunningSpeed":                       "running_speed",
	"RunningStrideLength":                "running_stride_length",
	"RunningVerticalOscillation":         "running_vertical_oscillation",
	"SixMinuteWalkTestDistance":          "six_minute_walking_test_distance",
	"StairAscentSpeed":                   "stair_speed_up",
	"StairDescentSpeed":                  "stair_speed_down",
	"StepCount":                          "step_count",
	"SwimmingStrokeCount":                "swim_stroke_count",
	"TimeInDaylight":                     "time_in_daylight",
	"UVExposure":                         "uv_exposure",
	"UnderwaterDepth":                    "underwater_depth",
	"VO2Max":                             "vo2_max",
	"WaistCircumference":                 "waist_circumference",
	"WalkingAsymmetryPercentage":         "walking_asymmetry_percentage",
	"WalkingDoubleSupportPercentage":     "walking_double_support_percentage",
	"WalkingHeartRateAverage":            "walking_heart_rate_average",
	"WalkingSpeed":                       "walking_speed",
	"WalkingStepLength":                  "walking_step_length",
	"WaterTemperature":                   "water_temperature",
}

// bloodPressureParts are the quantity types a blood-pressure correlation
// holds; the export repeats them as top-level records, which are skipped
// (the correlation is stored once, as blood_pressure).
var bloodPressureParts = map[string]string{
	"BloodPressureSystolic":  "systolic",
	"BloodPressureDiastolic": "diastolic",
}

// metricName is the metric a quantity (or HKDataType) record is stored
// under: the table's name, else the type's own name in snake case.
func metricName(typ string) string {
	if s, ok := strings.CutPrefix(typ, quantityPrefix); ok {
		if m, ok := quantityMetrics[s]; ok {
			return m
		}
		return snake(s)
	}
	if s, ok := strings.CutPrefix(typ, dataTypePrefix); ok {
		return snake(s)
	}
	return snake(typ)
}

// snake turns a HealthKit name into snake case: "SixMinuteWalkTestDistance"
// is six_minute_walk_test_distance, "UVExposure" uv_exposure, "VO2Max"
// vo2_max.
func snake(s string) string {
	var b strings.Builder
	r := []rune(s)
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 {
			prev := r[i-1]
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || unicode.IsUpper(prev) && nextLower {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

// words turns a HealthKit name into words, as the Health app shows them:
// "MenstrualFlow" is "Menstrual Flow", "AsleepREM" "Asleep REM".
func words(s string) string {
	var b strings.Builder
	r := []rune(s)
	for i, c := range r {
		if i > 0 && unicode.IsUpper(c) && (unicode.IsLower(r[i-1]) || i+1 < len(r) && unicode.IsLower(r[i+1]) && unicode.IsUpper(r[i-1])) {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}
