package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Date is a calendar day written as YYYY-MM-DD. Days are compared as strings,
// which orders them correctly because the format is fixed.
// The pattern admits days 29 to 31 in every month; the rule refuses those a
// month does not have (2026-02-31, 2027-02-29), so the API server, not the
// operator, says so.
// +kubebuilder:validation:Pattern=`^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$`
// +kubebuilder:validation:MaxLength=10
// +kubebuilder:validation:XValidation:rule="!self.matches('^[0-9]{4}-[0-9]{2}-[0-9]{2}$') || int(self.substring(5, 7)) < 1 || int(self.substring(5, 7)) > 12 || int(self.substring(8, 10)) <= [31, (int(self.substring(0, 4)) % 4 == 0 && (int(self.substring(0, 4)) % 100 != 0 || int(self.substring(0, 4)) % 400 == 0)) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][int(self.substring(5, 7)) - 1]",messageExpression="self + ' is not a day of the calendar: that month has fewer days'"
type Date string

// DateRange is a named span of days, both ends included.
// +kubebuilder:validation:XValidation:rule="self.end >= self.start",message="a term or break must not end before it starts"
type DateRange struct {
	// Name identifies the term or break, for people and in status.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// Start is the first day.
	Start Date `json:"start"`
	// End is the last day, included.
	End Date `json:"end"`
}

// Attendance is the switch a university flips when there is no physical
// teaching: with it off, card taps are neither stored nor scored.
type Attendance struct {
	// Enabled says whether card taps at attendance readers count.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// Reason is shown to students on the attendance tab while attendance is off.
	// +kubebuilder:validation:MaxLength=500
	// +optional
	Reason string `json:"reason,omitempty"`
	// Renormalize, when attendance is off, re-weights the remaining activities
	// so that indicators keep their usual range. False (the default) lets the
	// indicator run lower, which is what staff are told to expect.
	// +kubebuilder:default=false
	// +optional
	Renormalize bool `json:"renormalize,omitempty"`
}

// Bands are the lower edges of the engagement bands, as daily-score points
// 0..100. A score at or above High is high, at or above Good is good, and so
// on; below Low is very low.
// +kubebuilder:validation:XValidation:rule="self.high > self.good && self.good > self.partial && self.partial > self.low",message="band thresholds must be strictly descending: high > good > partial > low"
type Bands struct {
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	High int32 `json:"high"`
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Good int32 `json:"good"`
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Partial int32 `json:"partial"`
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Low int32 `json:"low"`
}

// Scoring says which activities count, how much, and over what window.
// +kubebuilder:validation:XValidation:rule="!has(self.displayOnly) || !has(self.weights) || self.displayOnly.all(a, !(a in self.weights) || self.weights[a] == 0)",message="a display-only activity cannot have a weight above zero"
type Scoring struct {
	// WindowDays is the number of teaching days the indicator averages over.
	// +kubebuilder:default=7
	// +kubebuilder:validation:XValidation:rule="self >= 1 && self <= 56",message="windowDays must be between 1 and 56 teaching days"
	// +optional
	WindowDays int32 `json:"windowDays,omitempty"`
	// PartTimeWindowDays is the window for part-time students.
	// +kubebuilder:default=21
	// +kubebuilder:validation:XValidation:rule="self >= 1 && self <= 56",message="partTimeWindowDays must be between 1 and 56 teaching days"
	// +optional
	PartTimeWindowDays int32 `json:"partTimeWindowDays,omitempty"`
	// Weights of the activities that count toward the indicator. An activity
	// not listed here does not count. Keys are activity keys of the catalogue.
	// +kubebuilder:default={tap_in: 3, faser_upload: 3, faser_view: 1, listen_again: 2, pc_lab_login: 1, moodle_course: 2, moodle_login: 1, moodle_mobile: 1}
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, k in ['tap_in', 'faser_upload', 'faser_view', 'listen_again', 'pc_lab_login', 'moodle_course', 'moodle_login', 'moodle_mobile', 'library_loan', 'reading_list'])",message="weights name an unknown activity; known activities are tap_in, faser_upload, faser_view, listen_again, pc_lab_login, moodle_course, moodle_login, moodle_mobile, library_loan, reading_list"
	// +kubebuilder:validation:XValidation:rule="self.all(k, self[k] >= 0)",message="weights must not be negative"
	// +kubebuilder:validation:XValidation:rule="self.exists(k, self[k] > 0)",message="at least one activity must have a weight above zero"
	// +optional
	Weights map[string]int32 `json:"weights,omitempty"`
	// DisplayOnly activities are stored and shown to the student but never
	// scored: library loans and reading lists, by default.
	// +kubebuilder:default={library_loan, reading_list}
	// +kubebuilder:validation:MaxItems=10
	// +listType=set
	// +optional
	DisplayOnly []Activity `json:"displayOnly,omitempty"`
	// Bands are the thresholds of the five engagement bands.
	// +kubebuilder:default={high: 70, good: 50, partial: 30, low: 10}
	// +optional
	Bands Bands `json:"bands,omitzero"`
	// NoEngagementAlertDays is the number of consecutive teaching days with
	// nothing counted after which a student's tutor is alerted.
	// +kubebuilder:default=7
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=56
	// +optional
	NoEngagementAlertDays int32 `json:"noEngagementAlertDays,omitempty"`
}

// StudyLevel is a student's level of study.
// +kubebuilder:validation:Enum=ug;pgt;pgr
type StudyLevel string

// Study levels.
const (
	Undergraduate        StudyLevel = "ug"
	PostgraduateTaught   StudyLevel = "pgt"
	PostgraduateResearch StudyLevel = "pgr"
)

// Privacy holds the data-protection rules of the installation.
type Privacy struct {
	// MinCohortSize is the smallest group about which a comparison figure is shown.
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=1000
	// +optional
	MinCohortSize int32 `json:"minCohortSize,omitempty"`
	// ExchangeStudentsCanLogIn lets students on exchange into the portal.
	// +kubebuilder:default=false
	// +optional
	ExchangeStudentsCanLogIn bool `json:"exchangeStudentsCanLogIn,omitempty"`
	// NoIndicatorFor lists study levels that get activity but no indicator.
	// +kubebuilder:default={pgr}
	// +kubebuilder:validation:MaxItems=3
	// +listType=set
	// +optional
	NoIndicatorFor []StudyLevel `json:"noIndicatorFor,omitempty"`
	// LateArrivalDays is how many days after the fact an event is still taken.
	// +kubebuilder:default=7
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=365
	// +optional
	LateArrivalDays *int32 `json:"lateArrivalDays,omitempty"`
	// AuditRetentionDays is how long the audit log keeps an entry (who saw
	// or wrote what about whom). Unset keeps DefaultAuditRetentionDays: at
	// least a whole academic year, so a student's complaint about last
	// year's access can still be answered.
	// +kubebuilder:validation:Minimum=30
	// +kubebuilder:validation:Maximum=3650
	// +optional
	AuditRetentionDays *int32 `json:"auditRetentionDays,omitempty"`
}

// RedisMode says who runs Redis.
// +kubebuilder:validation:Enum=Managed;External
type RedisMode string

// Redis modes.
const (
	// RedisManaged: the operator runs Redis with AOF persistence on a volume.
	RedisManaged RedisMode = "Managed"
	// RedisExternal: the services use a Redis the university runs.
	RedisExternal RedisMode = "External"
)

// RedisTopology is the shape of an External Redis.
// +kubebuilder:validation:Enum=Standalone;Sentinel;Cluster
type RedisTopology string

// Redis topologies.
const (
	RedisStandalone RedisTopology = "Standalone"
	RedisSentinel   RedisTopology = "Sentinel"
	RedisCluster    RedisTopology = "Cluster"
)

// SecretKeyRef names one key of a Secret in the LeapTerm's namespace.
type SecretKeyRef struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// Redis is where the services keep counts, roster, notes, audit and cache.
// +kubebuilder:validation:XValidation:rule="!has(self.mode) || self.mode != 'External' || (has(self.address) && self.address.size() > 0)",message="External Redis needs an address"
// +kubebuilder:validation:XValidation:rule="!has(self.mode) || self.mode != 'External' || (!has(self.backup) && !has(self.restoreFrom))",message="spec.redis.backup and restoreFrom are for a Managed Redis; back up an External Redis where it runs"
// +kubebuilder:validation:XValidation:rule="!has(self.address) || !self.address.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#@]*:[^/?#@]*@')",message="spec.redis.address must not hold a password (it would reach every pod's environment in plain text): put the password in a Secret and name it in spec.redis.passwordSecret"
// A StatefulSet's volume claim template cannot change, so a new size or
// class would freeze the Redis phase; the API server refuses it instead.
// +kubebuilder:validation:XValidation:rule="(has(oldSelf.mode) && oldSelf.mode == 'External') || (has(self.mode) && self.mode == 'External') || (has(self.storage) == has(oldSelf.storage) && (!has(self.storage) || self.storage == oldSelf.storage) && has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName))",message="spec.redis.storage and storageClassName cannot change while the Managed Redis exists: its volume claim is fixed when it is created. To grow the volume, patch the PersistentVolumeClaim data-NAME-redis-0 (its StorageClass must allow volume expansion) and leave these fields as they are; see docs/platform.md, Resizing Redis"
type Redis struct {
	// Mode is Managed (the operator runs Redis) or External.
	// +kubebuilder:default=Managed
	// +optional
	Mode RedisMode `json:"mode,omitempty"`
	// Storage is the size of the Managed Redis volume.
	// +kubebuilder:default="1Gi"
	// +optional
	Storage resource.Quantity `json:"storage,omitzero"`
	// StorageClassName of the Managed Redis volume; empty for the cluster default.
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
	// Image of the Managed Redis; empty for the operator's default.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Image string `json:"image,omitempty"`
	// Resources of the Managed Redis container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	// Address of an External Redis, as a redis:// or rediss:// URL; for
	// Sentinel or Cluster, any one member (more with ?addr=host:port).
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Address string `json:"address,omitempty"`
	// Topology of an External Redis.
	// +kubebuilder:default=Standalone
	// +optional
	Topology RedisTopology `json:"topology,omitempty"`
	// SentinelMaster is the master name when Topology is Sentinel.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	SentinelMaster string `json:"sentinelMaster,omitempty"`
	// PasswordSecret holds the password of an External Redis.
	// +optional
	PasswordSecret *SecretKeyRef `json:"passwordSecret,omitempty"`
	// Replicas of the Managed Redis: 1, or 3 or more for high
	// availability (a master, replicas, and a Sentinel in every pod that
	// promotes a replica when the master fails; the services then reach
	// Redis through the Sentinels).
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=7
	// +kubebuilder:validation:XValidation:rule="self == 1 || self >= 3",message="spec.redis.replicas must be 1, or 3 or more: Sentinels need a majority to promote a replica, which two pods cannot give"
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// Backup takes scheduled snapshots of the Managed Redis to a bucket.
	// +optional
	Backup *RedisBackup `json:"backup,omitempty"`
	// RestoreFrom starts a new Managed Redis from a snapshot: its volume is
	// filled from the object before Redis first starts, and never when it
	// already holds data. Fixed when the LeapTerm is created.
	// +optional
	RestoreFrom *RedisRestore `json:"restoreFrom,omitempty"`
}

// Component is one of the services the operator runs.
type Component struct {
	// Replicas of the Deployment.
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// Image of the service; empty for the operator's default, which follows
	// the operator's own version.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Image string `json:"image,omitempty"`
	// Resources of the service container; empty for sensible defaults.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	// TrustedProxies are the CIDRs (or single addresses) of the proxies in
	// front of the service, such as the Ingress controller's pods, whose
	// X-Forwarded-For header the service believes. Empty: none, and the
	// client's address is the connection's, so nobody can forge it to dodge
	// the per-address sign-in limit.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.all(p, isCIDR(p) || isIP(p))",message="trustedProxies must be CIDRs such as 10.0.0.0/8, or single addresses"
	// +listType=set
	// +optional
	TrustedProxies []string `json:"trustedProxies,omitempty"`
}

// Ingress exposes the portal outside the cluster.
type Ingress struct {
	// Host name of the portal.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Host string `json:"host"`
	// ClassName of the ingress controller; empty for the cluster default.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ClassName *string `json:"className,omitempty"`
	// TLSSecretName holds the certificate for Host; empty serves plain HTTP.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	TLSSecretName string `json:"tlsSecretName,omitempty"`
}

// Portal is the web portal component.
// +kubebuilder:validation:XValidation:rule="!has(self.oidc) || has(self.ingress) || (has(self.oidc.redirectURL) && self.oidc.redirectURL.size() > 0)",message="single sign-on needs to know the portal's address: set spec.portal.oidc.redirectURL, or spec.portal.ingress so that it is derived from the host"
type Portal struct {
	Component `json:",inline"`
	// Ingress, when set, exposes the portal at a host name.
	// +optional
	Ingress *Ingress `json:"ingress,omitempty"`
	// LocalAccounts turns on sign-in with local passwords, from the
	// optional Secret NAME-portal-users (key users.yaml). Off by default: a
	// university signs in through OIDC.
	// +kubebuilder:default=false
	// +optional
	LocalAccounts *bool `json:"localAccounts,omitempty"`
	// OIDC, when set, signs people in through the university's OpenID
	// Connect provider (authorization code flow with PKCE).
	// +optional
	OIDC *PortalOIDC `json:"oidc,omitempty"`
}

// PortalOIDC is the portal's OpenID Connect client: which provider, who the
// portal is to it, and how a signed-in person maps to the roster.
type PortalOIDC struct {
	// IssuerURL is the provider's issuer, exactly as its ID tokens name it;
	// the portal discovers the rest from IssuerURL/.well-known/openid-configuration.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() == 'https' && url(self).getHostname().size() > 0",message="issuerURL must be an https:// URL"
	IssuerURL string `json:"issuerURL"`
	// ClientID is the portal's client id at the provider.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	ClientID string `json:"clientID"`
	// ClientSecret holds the portal's client secret; absent for a public
	// client, which relies on PKCE alone.
	// +optional
	ClientSecret *ClientSecretRef `json:"clientSecret,omitempty"`
	// RedirectURL is the portal's callback as registered at the provider,
	// https://HOST/auth/callback. Empty: derived from spec.portal.ingress
	// (https when it has a TLS secret, http otherwise).
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && (url(self).getScheme() == 'https' || url(self).getScheme() == 'http') && url(self).getHostname().size() > 0 && url(self).getEscapedPath() == '/auth/callback'",message="redirectURL must be an http:// or https:// URL of the portal ending in /auth/callback, such as https://leap.example.ac.uk/auth/callback"
	// +optional
	RedirectURL string `json:"redirectURL,omitempty"`
	// PersonClaim is the ID token claim whose value is the person's id in
	// the roster; with "email", their email address instead.
	// +kubebuilder:default="preferred_username"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	PersonClaim string `json:"personClaim,omitempty"`
	// StaffClaim is the claim, a string or a list of strings, that tells
	// staff from students.
	// +kubebuilder:default="groups"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	StaffClaim string `json:"staffClaim,omitempty"`
	// StaffValues: a person whose StaffClaim holds any of these is staff;
	// anyone else is a student. The portal takes them as one
	// comma-separated variable, so a value cannot hold a comma.
	// +kubebuilder:default={staff}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.all(v, !v.contains(','))",message="staffValues must not contain commas"
	// +listType=set
	// +optional
	StaffValues []string `json:"staffValues,omitempty"`
	// Scopes the portal asks for; openid is required. A scope is printable
	// ASCII without spaces, quotes, backslashes (RFC 6749) or commas (the
	// portal takes the list space- or comma-separated).
	// +kubebuilder:default={openid, profile, email}
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=128
	// +kubebuilder:validation:items:Pattern=`^[\x21\x23-\x2B\x2D-\x5B\x5D-\x7E]+$`
	// +kubebuilder:validation:XValidation:rule="self.exists(s, s == 'openid')",message="scopes must include openid"
	// +listType=set
	// +optional
	Scopes []string `json:"scopes,omitempty"`
}

// ClientSecretRef names the key of a Secret, in the LeapTerm's namespace,
// that holds an OIDC client secret.
type ClientSecretRef struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Key of the client secret in the Secret.
	// +kubebuilder:default="client-secret"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Key string `json:"key,omitempty"`
}

// PolicyEra is a policy that was in force up to a day.
type PolicyEra struct {
	// Until is the last day this policy was in force.
	Until Date `json:"until"`
	// Attendance is the attendance switch of those days.
	// +kubebuilder:default={}
	// +optional
	Attendance Attendance `json:"attendance,omitzero"`
	// Scoring, when set, is the scoring policy of those days; when absent
	// they are scored under spec.scoring (only attendance changed).
	// +optional
	Scoring *Scoring `json:"scoring,omitempty"`
}

// LeapTermSpec is the policy of one academic year and the components that serve it.
// +kubebuilder:validation:XValidation:rule="self.terms.all(a, self.terms.all(b, a.name == b.name || a.end < b.start || b.end < a.start))",message="terms must not overlap",fieldPath=".terms"
// +kubebuilder:validation:XValidation:rule="!has(self.breaks) || self.breaks.all(b, self.terms.exists(t, t.start <= b.start && b.end <= t.end))",message="every break must lie inside one term"
// A restore happens once, into the new volume: adding, changing or removing
// restoreFrom later would promise a restore that cannot happen.
// +kubebuilder:validation:XValidation:rule="(has(self.redis) && has(self.redis.restoreFrom)) == (has(oldSelf.redis) && has(oldSelf.redis.restoreFrom)) && (!has(self.redis) || !has(self.redis.restoreFrom) || self.redis.restoreFrom == oldSelf.redis.restoreFrom)",message="spec.redis.restoreFrom is fixed when the LeapTerm is created: to restore a snapshot, create a new LeapTerm with it (see docs/platform.md, Restoring Redis)"
type LeapTermSpec struct {
	// Timezone of the university, an IANA name; days begin and end in it.
	// +kubebuilder:default="Europe/London"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Timezone string `json:"timezone,omitempty"`
	// Terms are the teaching periods; outside them is vacation. They may be
	// listed in any order (the services sort them) but must not overlap.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=12
	// +listType=map
	// +listMapKey=name
	Terms []DateRange `json:"terms"`
	// Breaks are days inside terms without teaching (reading weeks): no
	// alerts, and the days do not count in the scoring window. Two breaks
	// that overlap are refused: it is a mistyped date far more often than
	// something meant.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.all(a, self.all(b, a.name == b.name || a.end < b.start || b.end < a.start))",message="breaks must not overlap"
	// +listType=map
	// +listMapKey=name
	// +optional
	Breaks []DateRange `json:"breaks,omitempty"`
	// Attendance switches card taps on or off.
	// +kubebuilder:default={}
	// +optional
	Attendance Attendance `json:"attendance,omitzero"`
	// Scoring says which activities count and how the indicator is made.
	// +kubebuilder:default={}
	// +optional
	Scoring Scoring `json:"scoring,omitzero"`
	// PolicyHistory lists the policies in force before the current one, so
	// that a change takes effect from a day and the days before it keep
	// being scored under the policy of their day. Each entry was in force
	// up to and including its until day, from the day after the previous
	// entry's; attendance and scoring above apply from the day after the
	// last. A change meant for the whole year (correcting a weight) adds no
	// entry. The portal's attendance switch adds one.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.all(a, self.exists_one(b, b.until == a.until))",message="policyHistory entries must end on different days"
	// +listType=atomic
	// +optional
	PolicyHistory []PolicyEra `json:"policyHistory,omitempty"`
	// Privacy holds the data-protection rules.
	// +kubebuilder:default={}
	// +optional
	Privacy Privacy `json:"privacy,omitzero"`
	// XAPI says how xAPI statements from learning systems become activities.
	// +kubebuilder:default={}
	// +optional
	XAPI XAPI `json:"xapi,omitzero"`
	// Redis is the store of every service.
	// +kubebuilder:default={}
	// +optional
	Redis Redis `json:"redis,omitzero"`
	// Ingestion takes events and rosters from the university's systems.
	// +kubebuilder:default={}
	// +optional
	Ingestion Component `json:"ingestion,omitzero"`
	// ScoringService computes daily scores, indicators and alerts.
	// +kubebuilder:default={}
	// +optional
	ScoringService Component `json:"scoringService,omitzero"`
	// Portal serves students, staff and the LEAP team.
	// +kubebuilder:default={}
	// +optional
	Portal Portal `json:"portal,omitzero"`
	// Telemetry says where the services send traces, and who may scrape
	// their metrics.
	// +optional
	Telemetry *Telemetry `json:"telemetry,omitempty"`
	// Notifications: tutors' digests, referrals and students' notices by
	// email. Off by default.
	// +optional
	Notifications *Notifications `json:"notifications,omitempty"`
}

// Telemetry reaches the service pods as the standard OTEL_* variables.
// Changing the trace settings rolls the pods but not the policy hash: it is
// not policy. MetricsFrom changes only scoring's NetworkPolicy.
type Telemetry struct {
	// OTLPEndpoint is an OTLP/HTTP collector, such as
	// http://otel-collector.monitoring:4318; empty exports no traces.
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="self.startsWith('http://') || self.startsWith('https://')",message="otlpEndpoint must be an http:// or https:// URL"
	// +optional
	OTLPEndpoint string `json:"otlpEndpoint,omitempty"`
	// SamplingRatio of the traces the services start, "0" to "1"; a
	// request that arrives with a sampled trace context is always traced.
	// Empty: 0.1.
	// +kubebuilder:validation:Pattern=`^(0(\.[0-9]{1,4})?|1(\.0{1,4})?)$`
	// +kubebuilder:validation:MaxLength=6
	// +optional
	SamplingRatio string `json:"samplingRatio,omitempty"`
	// MetricsFrom are the peers, such as Prometheus, that may scrape the
	// scoring pods. The operator's NetworkPolicy lets only the portal call
	// scoring's API (port 8080); a peer listed here reaches the metrics
	// port (9090, named "metrics", serving /metrics alone) and nothing
	// else, so it cannot call that API. Ingestion and the portal are open
	// to everyone and need no entry. Empty: scoring's metrics cannot be
	// scraped where NetworkPolicies are enforced.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(p, has(p.ipBlock) != (has(p.podSelector) || has(p.namespaceSelector)))",message="each metricsFrom peer names either an ipBlock, or a podSelector and/or a namespaceSelector"
	// +listType=atomic
	// +optional
	MetricsFrom []networkingv1.NetworkPolicyPeer `json:"metricsFrom,omitempty"`
}

// Period is where today falls in the academic calendar.
// +kubebuilder:validation:Enum=InTerm;Break;Vacation;Ended
type Period string

// Periods.
const (
	PeriodInTerm   Period = "InTerm"
	PeriodBreak    Period = "Break"
	PeriodVacation Period = "Vacation"
	// PeriodEnded: the last term is over; the LeapTerm's year is past.
	PeriodEnded Period = "Ended"
)

// ComponentStatus is the rollout state of one component.
type ComponentStatus struct {
	// Replicas desired.
	Replicas int32 `json:"replicas"`
	// ReadyReplicas running and ready.
	ReadyReplicas int32 `json:"readyReplicas"`
	// UpdatedReplicas running the current pod template.
	UpdatedReplicas int32 `json:"updatedReplicas"`
}

// LeapTermStatus is what the operator last saw and did.
type LeapTermStatus struct {
	// ObservedGeneration is the generation of the spec last reconciled successfully.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Ready is the Ready condition at a glance: "True" when it is True,
	// otherwise its reason (Paused, ComponentsNotReady, RedisFailed, ...).
	// +optional
	Ready string `json:"ready,omitempty"`
	// ObservedAt is when an operator last looked at this LeapTerm. While
	// one watches it, it is refreshed at least every ten minutes, whether or
	// not anything changed (paused included): an older ObservedAt means no
	// operator is watching, and the rest of the status may be stale.
	// +optional
	ObservedAt *metav1.Time `json:"observedAt,omitempty"`
	// Period is where today falls in the calendar, in the LeapTerm's timezone.
	// +optional
	Period Period `json:"period,omitempty"`
	// PeriodName names the term or break of Period; empty in vacation.
	// +optional
	PeriodName string `json:"periodName,omitempty"`
	// NextPeriodChange is when Period next changes; absent after the last term.
	// +optional
	NextPeriodChange *metav1.Time `json:"nextPeriodChange,omitempty"`
	// PolicyHash identifies the policy document in force.
	// +optional
	PolicyHash string `json:"policyHash,omitempty"`
	// AppliedAttendance is whether card taps count in the policy every
	// service runs: it follows spec.attendance.enabled once the policy has
	// rolled out (PolicyApplied), so it shows what runs, not what is asked.
	// +optional
	AppliedAttendance *bool `json:"appliedAttendance,omitempty"`
	// LastBackup is the newest snapshot of the Managed Redis that a backup
	// Job uploaded.
	// +optional
	LastBackup *BackupStatus `json:"lastBackup,omitempty"`
	// Redis, Ingestion, Scoring and Portal report each component's rollout.
	// +optional
	Redis *ComponentStatus `json:"redis,omitempty"`
	// +optional
	Ingestion *ComponentStatus `json:"ingestion,omitempty"`
	// +optional
	Scoring *ComponentStatus `json:"scoring,omitempty"`
	// +optional
	Portal *ComponentStatus `json:"portal,omitempty"`
	// Conditions: Ready, RedisReady, IngestionReady, ScoringReady,
	// PortalReady, PolicyApplied, Paused, and BackupReady when
	// spec.redis.backup is set.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// LeapTerm is one LEAP installation for an academic year: its calendar, its
// policy and the components that serve it.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=lt,categories=leap
// +kubebuilder:printcolumn:name="Attendance",type=boolean,JSONPath=`.status.appliedAttendance`,description="Card taps count in the policy the services run"
// +kubebuilder:printcolumn:name="Period",type=string,JSONPath=`.status.period`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.ready`,description="True, or the reason the Ready condition is not True"
// +kubebuilder:printcolumn:name="Paused",type=string,JSONPath=`.status.conditions[?(@.type=="Paused")].status`
// +kubebuilder:printcolumn:name="Seen",type=date,JSONPath=`.status.observedAt`,description="When an operator last looked; over ten minutes ago means none is watching"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Asked",type=boolean,JSONPath=`.spec.attendance.enabled`,priority=1,description="Card taps count in the spec"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 40",message="a LeapTerm name must be at most 40 characters, so that the names of its objects fit",fieldPath=".metadata.name"
type LeapTerm struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   LeapTermSpec   `json:"spec"`
	Status LeapTermStatus `json:"status,omitempty"`
}

// LeapTermList is a list of LeapTerms.
// +kubebuilder:object:root=true
type LeapTermList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LeapTerm `json:"items"`
}

// IsEnabled reports whether attendance counts; absent means enabled.
func (a Attendance) IsEnabled() bool { return a.Enabled == nil || *a.Enabled }

// LocalAccountsEnabled reports whether the portal takes local passwords;
// absent means off.
func (p Portal) LocalAccountsEnabled() bool { return p.LocalAccounts != nil && *p.LocalAccounts }

// ReplicasOr is the desired replica count, or def when absent.
func (c Component) ReplicasOr(def int32) int32 {
	if c.Replicas == nil {
		return def
	}
	return *c.Replicas
}

// LateArrivalDaysOr is how many days late an event is still taken, or def when absent.
func (p Privacy) LateArrivalDaysOr(def int32) int32 {
	if p.LateArrivalDays == nil {
		return def
	}
	return *p.LateArrivalDays
}

// AuditRetentionDaysOr is how many days the audit log keeps an entry, or def when absent.
func (p Privacy) AuditRetentionDaysOr(def int32) int32 {
	if p.AuditRetentionDays == nil {
		return def
	}
	return *p.AuditRetentionDays
}

// PauseAnnotation is the annotation that, set to "disabled", stops the operator changing anything
// for the LeapTerm; deletion still proceeds.
const PauseAnnotation = "leap.dev/reconcile"

// OperatorAnnotation names the operator instance (the chart's release, as
// NAMESPACE/NAME) that reconciles the LeapTerm; another instance leaves it
// alone. Removing it hands the LeapTerm to whichever instance sees it first.
const OperatorAnnotation = "leap.dev/operator"

// Paused reports whether reconciling is switched off by PauseAnnotation.
func (t *LeapTerm) Paused() bool {
	return t.Annotations[PauseAnnotation] == "disabled"
}

// RotateIngestTokenAnnotation asks for a new ingest token for one source
// (its value, such as "moodle"): the operator makes the new token, keeps the
// old one valid for an overlap (RotateIngestTokenOverlapAnnotation, 24h by
// default), then drops it. The operator removes the annotation once the
// rotation is under way, so each request rotates once.
const RotateIngestTokenAnnotation = "leap.dev/rotate-ingest-token"

// RotateIngestTokenOverlapAnnotation is how long the previous token keeps
// working, as a Go duration ("2h", "90m"); removed with the request.
const RotateIngestTokenOverlapAnnotation = "leap.dev/rotate-ingest-token-overlap"
