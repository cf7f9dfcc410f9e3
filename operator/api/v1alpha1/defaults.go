package v1alpha1

import (
	"maps"

	"k8s.io/apimachinery/pkg/runtime"
)

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
		"xapi": DefaultXAPIDocument(),
		"redis": map[string]any{"mode": string(RedisManaged), "storage": "1Gi", "topology": string(RedisStandalone), "replicas": int64(1),
			"backup": ifPresent{"retention": int64(7)}},
		"ingestion":      maps.Clone(component),
		"scoringService": maps.Clone(component),
		"notifications": ifPresent{
			"enabled":  false,
			"digest":   map[string]any{"days": []any{"Monday", "Thursday"}, "time": "08:00"},
			"notifier": maps.Clone(component),
			"smtp":     ifPresent{"port": int64(587), "tls": string(SMTPStartTLS)},
		},
		"portal": map[string]any{
			"replicas":      int64(DefaultReplicas),
			"localAccounts": false,
			"oidc": ifPresent{
				"personClaim":  "preferred_username",
				"staffClaim":   "groups",
				"staffValues":  []any{"staff"},
				"scopes":       []any{"openid", "profile", "email"},
				"clientSecret": ifPresent{"key": DefaultClientSecretKey},
			},
		},
	}
}

// ifPresent holds the defaults of an optional object: they fill it when it
// is given and never create it, as the schema's defaults inside an
// optional field do.
type ifPresent map[string]any

// DefaultWeightsDocument is the default of spec.scoring.weights.
func DefaultWeightsDocument() map[string]any {
	return map[string]any{
		string(TapIn): int64(3), string(FaserUpload): int64(3), string(FaserView): int64(1),
		string(ListenAgain): int64(2), string(PCLabLogin): int64(1), string(MoodleCourse): int64(2),
		string(MoodleLogin): int64(1), string(MoodleMobile): int64(1),
	}
}

// xAPI verbs and activity types of the default mapping table.
const (
	VerbAttended     IRI = "http://adlnet.gov/expapi/verbs/attended"
	VerbBorrowed     IRI = "http://activitystrea.ms/schema/1.0/borrowed"
	VerbViewed       IRI = "http://id.tincanapi.com/verb/viewed"
	VerbAccessed     IRI = "http://activitystrea.ms/schema/1.0/access"
	VerbPlayed       IRI = "https://w3id.org/xapi/video/verbs/played"
	VerbSubmitted    IRI = "http://activitystrea.ms/schema/1.0/submit"
	VerbCompleted    IRI = "http://adlnet.gov/expapi/verbs/completed"
	VerbAttempted    IRI = "http://adlnet.gov/expapi/verbs/attempted"
	VerbStarted      IRI = "http://activitystrea.ms/schema/1.0/start"
	VerbReplied      IRI = "http://id.tincanapi.com/verb/replied"
	VerbLoggedIn     IRI = "https://brindlewaye.com/xAPITerms/verbs/loggedin/"
	VerbLoggedInADL  IRI = "https://w3id.org/xapi/adl/verbs/logged-in"
	TypeTimetabled   IRI = "http://xapi.jisc.ac.uk/event_timetabled"
	TypeUntimetabled IRI = "http://xapi.jisc.ac.uk/event_non-timetabled"
	TypeReadingList  IRI = "http://xapi.jisc.ac.uk/reading-list"
	TypeVideo        IRI = "https://w3id.org/xapi/video/activity-type/video"
	TypeMoodleCourse IRI = "http://id.tincanapi.com/activitytype/lms/course"
	TypeMoodleModule IRI = "http://id.tincanapi.com/activitytype/lms/module"
	TypeAssessment   IRI = "http://adlnet.gov/expapi/activities/assessment"
)

// DefaultXAPI is the default of spec.xapi: what the schema's default
// markers on XAPI, XAPIMobile and their fields say, as Go. The order of
// Mappings matters: the first that matches wins, so the specific rules
// (attendance, library, reading lists, recordings, FASER) come before the
// Moodle ones, and Moodle on a phone before Moodle on a desktop.
func DefaultXAPI() XAPI {
	yes := true
	moodleVerbs := []IRI{VerbViewed, VerbAttempted, VerbStarted, VerbCompleted, VerbSubmitted, VerbReplied}
	return XAPI{
		Mobile: XAPIMobile{
			Platforms: []string{"mobile", "moodle app"},
			Extensions: []XAPIExtensionMatch{
				{Key: "http://xapi.jisc.ac.uk/extensions/user-agent", Contains: []string{"Mobile", "Android", "iPhone", "iPad"}},
				{Key: "http://xapi.jisc.ac.uk/captured_from", Equals: []string{"android", "ios"}},
			},
		},
		Mappings: []XAPIMapping{
			// Jisc attendance: result.completion false records an absence.
			{Verbs: []IRI{VerbAttended}, ActivityTypes: []IRI{TypeTimetabled, TypeUntimetabled, "http://xapi.jisc.ac.uk/event_non-timetable"},
				SkipIncomplete: true, Activity: TapIn},
			{Verbs: []IRI{VerbBorrowed}, Activity: LibraryLoan},
			{Verbs: []IRI{VerbViewed, VerbAccessed}, ActivityTypes: []IRI{TypeReadingList}, Activity: ReadingList},
			{Verbs: []IRI{VerbViewed, VerbPlayed}, ActivityTypes: []IRI{TypeVideo, "https://w3id.org/xapi/acrossx/activities/video", "http://activitystrea.ms/schema/1.0/video"},
				Activity: ListenAgain},
			// The assignment system, when it sends xAPI itself; Moodle's own
			// assignment submissions are Moodle course activity.
			{Verbs: []IRI{VerbSubmitted, VerbCompleted}, Platform: "FASER", Activity: FaserUpload},
			{Verbs: []IRI{VerbViewed}, Platform: "FASER", Activity: FaserView},
			{Verbs: append([]IRI{VerbViewed, VerbLoggedIn, VerbLoggedInADL}, moodleVerbs[1:]...), Platform: "moodle", Mobile: &yes, Activity: MoodleMobile},
			{Verbs: []IRI{VerbLoggedIn, VerbLoggedInADL}, Platform: "moodle", Activity: MoodleLogin},
			{Verbs: moodleVerbs, ActivityTypes: []IRI{
				TypeMoodleCourse, "http://adlnet.gov/expapi/activities/course", TypeMoodleModule, "http://adlnet.gov/expapi/activities/module",
				"https://w3id.org/xapi/acrossx/activities/page", "http://id.tincanapi.com/activitytype/resource",
				"http://id.tincanapi.com/activitytype/book", "http://id.tincanapi.com/activitytype/chapter",
				"http://id.tincanapi.com/activitytype/discussion", TypeAssessment, "http://adlnet.gov/expapi/activities/lesson",
				"http://activitystrea.ms/schema/1.0/file", "http://xapi.jisc.ac.uk/vle/content", "http://xapi.jisc.ac.uk/vle/page",
				"http://xapi.jisc.ac.uk/vle/forum", "http://xapi.jisc.ac.uk/vle/quiz", "http://xapi.jisc.ac.uk/activities/quiz",
			}, Platform: "moodle", Activity: MoodleCourse},
		},
	}
}

// DefaultXAPIDocument is DefaultXAPI as a document, the default of spec.xapi.
func DefaultXAPIDocument() map[string]any {
	x := DefaultXAPI()
	doc, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&x)
	if err != nil {
		panic(err) // a plain struct of strings, lists and booleans always converts
	}
	return doc
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
	// Each earlier policy is defaulted as the API server defaults the
	// items of a list: its attendance always, its scoring when given.
	history, _ := spec["policyHistory"].([]any)
	for _, item := range history {
		if era, ok := item.(map[string]any); ok {
			defs := specDefaults()
			mergeDefaults(era, map[string]any{"attendance": defs["attendance"], "scoring": ifPresent(defs["scoring"].(map[string]any))}, "")
		}
	}
}

func mergeDefaults(dst, defaults map[string]any, path string) {
	for k, def := range defaults {
		p := k
		if path != "" {
			p = path + "." + k
		}
		cur, present := dst[k]
		optional, isOptional := def.(ifPresent)
		if !present || cur == nil {
			if !isOptional {
				dst[k] = withoutOptional(def)
			}
			continue
		}
		curMap, curIsMap := cur.(map[string]any)
		defMap, defIsMap := def.(map[string]any)
		if isOptional {
			defMap, defIsMap = optional, true
		}
		if curIsMap && defIsMap && !atomicDefaults[p] {
			mergeDefaults(curMap, defMap, p)
		}
	}
}

// withoutOptional is a default as the API server would write it where the
// field is absent: the defaults of the optional objects inside it create
// nothing.
func withoutOptional(def any) any {
	m, ok := def.(map[string]any)
	if !ok {
		return def
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if _, optional := v.(ifPresent); !optional {
			out[k] = withoutOptional(v)
		}
	}
	return out
}

// Defaults of optional fields whose zero value is meaningful; they match the
// schema defaults above.
const (
	DefaultReplicas        int32 = 2
	DefaultLateArrivalDays int32 = 7
	// DefaultAuditRetentionDays keeps the audit log a year and a month, so
	// the whole academic year is always kept. It has no schema default:
	// a LeapTerm that sets nothing keeps its policy hash, and its pods.
	DefaultAuditRetentionDays int32 = 400
	// DefaultClientSecretKey is the key of an OIDC client secret in its Secret.
	DefaultClientSecretKey = "client-secret"
)
