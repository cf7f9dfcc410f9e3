package v1alpha1

// IRI is an internationalized resource identifier with a scheme, as xAPI
// uses for verbs, activity types, extension keys and account home pages.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=512
// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z][A-Za-z0-9+.-]*:[^ ]+$')",message="must be an IRI with a scheme and no spaces, such as http://adlnet.gov/expapi/verbs/attended"
type IRI string

// XAPI says how xAPI statements, as learning systems send them to
// POST /xapi/statements, become LEAP activities.
// +kubebuilder:validation:XValidation:rule="!has(self.mappings) || !self.mappings.exists(m, has(m.mobile) && m.mobile) || (has(self.mobile) && ((has(self.mobile.platforms) && size(self.mobile.platforms) > 0) || (has(self.mobile.extensions) && size(self.mobile.extensions) > 0)))",message="a mapping with mobile: true needs spec.xapi.mobile to name the platforms or extensions that mark mobile use"
type XAPI struct {
	// AccountHomePages are the actor.account.homePage values whose
	// account names are LEAP student ids. Empty (the default) accepts an
	// account of any home page: every source authenticates with its own
	// token and the name must still be a student in the roster. List the
	// home pages when a source sends accounts that are not student ids
	// (a Moodle sending its internal user ids, say). Compared ignoring
	// case and a trailing slash.
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	// +optional
	AccountHomePages []IRI `json:"accountHomePages,omitempty"`
	// Mobile says how a statement shows that it was made on a phone or a
	// tablet; mappings with mobile: true or false test it.
	// +kubebuilder:default={}
	// +optional
	Mobile XAPIMobile `json:"mobile,omitzero"`
	// Mappings turn statements into activities. The first mapping that
	// matches a statement gives its activity; a statement that no mapping
	// matches is acknowledged and counted as ignored, never rejected. The
	// default covers Moodle's logstore_xapi plugin and the Jisc learning
	// analytics recipes.
	// +kubebuilder:default={{verbs: {"http://adlnet.gov/expapi/verbs/attended"}, activityTypes: {"http://xapi.jisc.ac.uk/event_timetabled", "http://xapi.jisc.ac.uk/event_non-timetabled", "http://xapi.jisc.ac.uk/event_non-timetable"}, skipIncomplete: true, activity: tap_in}, {verbs: {"http://activitystrea.ms/schema/1.0/borrowed"}, activity: library_loan}, {verbs: {"http://id.tincanapi.com/verb/viewed", "http://activitystrea.ms/schema/1.0/access"}, activityTypes: {"http://xapi.jisc.ac.uk/reading-list"}, activity: reading_list}, {verbs: {"http://id.tincanapi.com/verb/viewed", "https://w3id.org/xapi/video/verbs/played"}, activityTypes: {"https://w3id.org/xapi/video/activity-type/video", "https://w3id.org/xapi/acrossx/activities/video", "http://activitystrea.ms/schema/1.0/video"}, activity: listen_again}, {verbs: {"http://activitystrea.ms/schema/1.0/submit", "http://adlnet.gov/expapi/verbs/completed"}, platform: FASER, activity: faser_upload}, {verbs: {"http://id.tincanapi.com/verb/viewed"}, platform: FASER, activity: faser_view}, {verbs: {"http://id.tincanapi.com/verb/viewed", "https://brindlewaye.com/xAPITerms/verbs/loggedin/", "https://w3id.org/xapi/adl/verbs/logged-in", "http://adlnet.gov/expapi/verbs/attempted", "http://activitystrea.ms/schema/1.0/start", "http://adlnet.gov/expapi/verbs/completed", "http://activitystrea.ms/schema/1.0/submit", "http://id.tincanapi.com/verb/replied"}, platform: moodle, mobile: true, activity: moodle_mobile}, {verbs: {"https://brindlewaye.com/xAPITerms/verbs/loggedin/", "https://w3id.org/xapi/adl/verbs/logged-in"}, platform: moodle, activity: moodle_login}, {verbs: {"http://id.tincanapi.com/verb/viewed", "http://adlnet.gov/expapi/verbs/attempted", "http://activitystrea.ms/schema/1.0/start", "http://adlnet.gov/expapi/verbs/completed", "http://activitystrea.ms/schema/1.0/submit", "http://id.tincanapi.com/verb/replied"}, activityTypes: {"http://id.tincanapi.com/activitytype/lms/course", "http://adlnet.gov/expapi/activities/course", "http://id.tincanapi.com/activitytype/lms/module", "http://adlnet.gov/expapi/activities/module", "https://w3id.org/xapi/acrossx/activities/page", "http://id.tincanapi.com/activitytype/resource", "http://id.tincanapi.com/activitytype/book", "http://id.tincanapi.com/activitytype/chapter", "http://id.tincanapi.com/activitytype/discussion", "http://adlnet.gov/expapi/activities/assessment", "http://adlnet.gov/expapi/activities/lesson", "http://activitystrea.ms/schema/1.0/file", "http://xapi.jisc.ac.uk/vle/content", "http://xapi.jisc.ac.uk/vle/page", "http://xapi.jisc.ac.uk/vle/forum", "http://xapi.jisc.ac.uk/vle/quiz", "http://xapi.jisc.ac.uk/activities/quiz"}, platform: moodle, activity: moodle_course}}
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	Mappings []XAPIMapping `json:"mappings,omitempty"`
}

// XAPIMobile says how a statement marks mobile use: by its context.platform
// or by a context extension.
type XAPIMobile struct {
	// Platforms: a statement whose context.platform contains one of these,
	// ignoring case, was made on a mobile device ("Moodle Mobile").
	// +kubebuilder:default={mobile, "moodle app"}
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	// +listType=set
	// +optional
	Platforms []string `json:"platforms,omitempty"`
	// Extensions: a statement with a context extension that matches one of
	// these was made on a mobile device (the Jisc profile's user agent and
	// captured_from extensions, by default).
	// +kubebuilder:default={{key: "http://xapi.jisc.ac.uk/extensions/user-agent", contains: {Mobile, Android, iPhone, iPad}}, {key: "http://xapi.jisc.ac.uk/captured_from", equals: {android, ios}}}
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	Extensions []XAPIExtensionMatch `json:"extensions,omitempty"`
}

// XAPIExtensionMatch matches a context extension of a statement by its
// value, which must be a string.
// +kubebuilder:validation:XValidation:rule="(has(self.equals) && size(self.equals) > 0) || (has(self.contains) && size(self.contains) > 0)",message="an extension match needs equals or contains values"
type XAPIExtensionMatch struct {
	// Key is the IRI of the extension, a key of context.extensions.
	Key IRI `json:"key"`
	// Equals: the value equals one of these, ignoring case.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	// +listType=set
	// +optional
	Equals []string `json:"equals,omitempty"`
	// Contains: the value contains one of these, ignoring case.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	// +listType=set
	// +optional
	Contains []string `json:"contains,omitempty"`
}

// XAPIMapping is one rule of the mapping table: a statement that matches
// every condition given counts as Activity.
type XAPIMapping struct {
	// Verbs: the statement's verb.id is one of these. A trailing slash is
	// not significant.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	Verbs []IRI `json:"verbs"`
	// ActivityTypes: the statement's object.definition.type is one of
	// these (a trailing slash is not significant). Absent matches any type,
	// and statements whose object has none.
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	// +optional
	ActivityTypes []IRI `json:"activityTypes,omitempty"`
	// Platform: the statement's context.platform contains this, ignoring
	// case ("moodle" matches "Moodle" and "Moodle Mobile").
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Platform string `json:"platform,omitempty"`
	// Mobile: true matches only statements that spec.xapi.mobile marks as
	// made on a mobile device, false only the others; absent matches both.
	// +optional
	Mobile *bool `json:"mobile,omitempty"`
	// SkipIncomplete: the rule does not match a statement whose
	// result.completion is false. Jisc attendance statements record an
	// absence that way.
	// +optional
	SkipIncomplete bool `json:"skipIncomplete,omitempty"`
	// Activity is what a matching statement counts as.
	Activity Activity `json:"activity"`
}
