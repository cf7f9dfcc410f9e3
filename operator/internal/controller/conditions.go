package controller

// Condition types of a LeapTerm.
const (
	// ConditionReady is True when every component is ready and runs the
	// policy in force.
	ConditionReady = "Ready"
	// ConditionRedisReady is True when Redis is running (Managed) or configured (External).
	ConditionRedisReady = "RedisReady"
	// ConditionIngestionReady, ConditionScoringReady and ConditionPortalReady
	// are True when the component's Deployment is fully available.
	ConditionIngestionReady = "IngestionReady"
	ConditionScoringReady   = "ScoringReady"
	ConditionPortalReady    = "PortalReady"
	// ConditionPolicyApplied is True when every Deployment has rolled out
	// pods carrying the current policy hash and they are available.
	ConditionPolicyApplied = "PolicyApplied"
	// ConditionPaused is True while the leap.dev/reconcile annotation is "disabled".
	ConditionPaused = "Paused"
	// ConditionSecretsRegenerated is True once a generated Secret was found
	// missing and made anew (its message says which, when, and what
	// follows); False while every generated Secret is the first one made.
	ConditionSecretsRegenerated = "SecretsRegenerated"
)

// Condition reasons, CamelCase as Kubernetes asks.
const (
	ReasonAvailable          = "Available"
	ReasonProgressing        = "Progressing"
	ReasonScaledToZero       = "ScaledToZero"
	ReasonExternal           = "External"
	ReasonRolledOut          = "RolledOut"
	ReasonRollingOut         = "RollingOut"
	ReasonComponentsNotReady = "ComponentsNotReady"
	ReasonAllReady           = "AllReady"
	ReasonInvalidCalendar    = "InvalidCalendar"
	ReasonReconcileError     = "ReconcileError"
	ReasonReconcileEnabled   = "ReconcileEnabled"
	ReasonPausedByAnnotation = "PausedByAnnotation"
	ReasonPaused             = "Paused"
	ReasonAsCreated          = "AsCreated"
	ReasonSecretRegenerated  = "SecretRegenerated"
)

// ReasonServiceRecreated is the Event of a Service that could not be
// patched back to its desired state and was deleted and made anew.
const ReasonServiceRecreated = "ServiceRecreated"

// Event reasons for the portal's sign-in, which no condition's status
// carries: a portal nobody can sign in to still serves ingestion and scoring,
// so PortalReady follows the rollout and says so in its message.
const (
	ReasonNoSignIn         = "NoSignIn"
	ReasonSignInConfigured = "SignInConfigured"
)

// noSignInMessage ends PortalReady's message while the LeapTerm sets
// neither way of signing in to the portal.
const noSignInMessage = "nobody can sign in: set spec.portal.oidc for the university's single sign-on, or spec.portal.localAccounts: true"

// componentCondition is the condition type of each service component.
var componentCondition = map[string]string{
	"ingestion": ConditionIngestionReady,
	"scoring":   ConditionScoringReady,
	"portal":    ConditionPortalReady,
}

// Reasons of the Events of an ingest token rotation.
const (
	ReasonIngestTokenRotated         = "IngestTokenRotated"
	ReasonIngestTokenRetired         = "IngestTokenRetired"
	ReasonIngestTokenRotationRefused = "IngestTokenRotationRefused"
)
