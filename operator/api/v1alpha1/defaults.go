package v1alpha1

import "maps"

// Defaults of the LeapTerm spec, as a document. The CRD schema carries the
// same values as +kubebuilder:default markers, and the API server applies
// them in a cluster; ApplyDefaults applies these to a LeapTerm read from a
// file (make run). A test creates LeapTerms on a real API server and checks
// that both give the same spec.
func specDefaults() map[string]any {
	component := map[string]any{"replicas": int64(DefaultReplicas)}
	return map[string]any{
		"timezone":   "Europe/London",
		"attendance": map[string]any{"enabled": true, "renormalize": false},
		"scoring": map[string]any{
			"windowDays":            int64(7),
			"partTimeWindowDays":    int64(21),
			"weights":               DefaultWeightsDocument(),
			"displayOnly":           []any{string(LibraryLoan), string(ReadingList)},
			"bands":                 map[string]any{"high": int64(70), "good": int64(50), "partial": int64(30), "low": int64(10)},
			"noEngagementAlertDays": int64(7),
		},
		"privacy": map[string]any{
			"minCohortSize":            int64(10),
			"exchangeStudentsCanLogIn": false,
			"noIndicatorFor":           []any{string(PostgraduateResearch)},
			"lateArrivalDays":          int64(DefaultLateArrivalDays),
		},
		"redis":          map[string]any{"mode": string(RedisManaged), "storage": "1Gi", "topology": string(RedisStandalone)},
		"ingestion":      maps.Clone(component),
		"scoringService": maps.Clone(component),
		"portal":         maps.Clone(component),
	}
}

// DefaultWeightsDocument is the default of spec.scoring.weights.
func DefaultWeightsDocument() map[string]any {
	return map[string]any{
		string(TapIn): int64(3), string(FaserUpload): int64(3), string(FaserView): int64(1),
		string(ListenAgain): int64(2), string(PCLabLogin): int64(1), string(MoodleCourse): int64(2),
		string(MoodleLogin): int64(1), string(MoodleMobile): int64(1),
	}
}

// atomicDefaults are defaults that apply whole or not at all, as OpenAPI
// defaults of maps and lists do: a university that lists its own weights
// gets exactly those weights.
var atomicDefaults = map[string]bool{
	"scoring.weights": true, "scoring.bands": true,
}

// ApplyDefaults fills, in the spec of an unstructured LeapTerm, every field
// that the API server would default. Lists are never merged into.
func ApplyDefaults(obj map[string]any) {
	spec, ok := obj["spec"].(map[string]any)
	if !ok {
		spec = map[string]any{}
		obj["spec"] = spec
	}
	mergeDefaults(spec, specDefaults(), "")
}

func mergeDefaults(dst, defaults map[string]any, path string) {
	for k, def := range defaults {
		p := k
		if path != "" {
			p = path + "." + k
		}
		cur, present := dst[k]
		if !present || cur == nil {
			dst[k] = def
			continue
		}
		curMap, curIsMap := cur.(map[string]any)
		defMap, defIsMap := def.(map[string]any)
		if curIsMap && defIsMap && !atomicDefaults[p] {
			mergeDefaults(curMap, defMap, p)
		}
	}
}

// Defaults of optional fields whose zero value is meaningful; they match the
// schema defaults above.
const (
	DefaultReplicas        int32 = 2
	DefaultLateArrivalDays int32 = 7
)
