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
	ReasonReconciling        = "Reconciling"
	ReasonPausedByAnnotation = "PausedByAnnotation"
)

// componentCondition is the condition type of each service component.
var componentCondition = map[string]string{
	"ingestion": ConditionIngestionReady,
	"scoring":   ConditionScoringReady,
	"portal":    ConditionPortalReady,
}
