// Package builder turns a LeapTerm into the objects that serve it. Every
// function here is pure: it reads the LeapTerm and the operator's settings
// and returns server-side apply configurations, never touching the API
// server, so each object can be unit-tested by comparison.
package builder

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// Component names, used in object names and the component label.
const (
	Ingestion = "ingestion"
	Scoring   = "scoring"
	Portal    = "portal"
	Redis     = "redis"
	Policy    = "policy"
)

// Services are the three stateless components, in the order they are reconciled.
var Services = []string{Ingestion, Scoring, Portal}

// Labels and annotations the operator sets.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelVersion   = "app.kubernetes.io/version"

	// ManagedBy is the value of LabelManagedBy on everything the operator
	// creates; the operator's caches select on it.
	ManagedBy = "leap-operator"

	// AnnotationPolicyHash on a pod template names the policy its pods run
	// under; changing it rolls the Deployment.
	AnnotationPolicyHash = "leap.dev/policy-hash"
)

// Ports.
const (
	// HTTPPort is where every service serves its API and probes inside
	// its pod.
	HTTPPort = 8080
	// ServicePort is the port of each service's Service.
	ServicePort = 80
	// MetricsPort is where every service serves /metrics alone, inside its
	// pod and on its Service (port name PortNameMetrics), so that a
	// NetworkPolicy can admit scrapers there without admitting them to the
	// API.
	MetricsPort = 9090
	// PortNameHTTP and PortNameMetrics name the ports of the service
	// containers and Services; a ServiceMonitor or PodMonitor selects
	// "metrics".
	PortNameHTTP    = "http"
	PortNameMetrics = "metrics"
	// RedisPort is the port of the Managed Redis.
	RedisPort = 6379
)

// Paths inside the service pods.
const (
	PolicyDir        = "/etc/leap/policy"
	IngestTokensDir  = "/etc/leap/ingest-tokens"
	PortalUsersDir   = "/etc/leap/portal-users"
	EnvPolicyFile    = "LEAP_POLICY_FILE"
	EnvRedisURL      = "REDIS_URL"
	EnvRedisPassword = "REDIS_PASSWORD"
)

// Images are the default images of the components: an operator of version V
// runs services of version V unless a LeapTerm names other images.
type Images struct {
	Ingestion string
	Scoring   string
	Portal    string
	Notifier  string
	Redis     string
	// Backup runs leap-backup: the backup CronJob and the restore of a new Redis.
	Backup string
}

// DefaultImages are the images of an operator built as version under registry.
func DefaultImages(registry, version string) Images {
	return Images{
		Ingestion: registry + "/leap-ingestion:" + version,
		Scoring:   registry + "/leap-scoring:" + version,
		Portal:    registry + "/leap-portal:" + version,
		Notifier:  registry + "/leap-notifier:" + version,
		Redis:     "redis:7.4-alpine",
		Backup:    registry + "/leap-backup:" + version,
	}
}

// Names are the names of the objects of one LeapTerm.
type Names struct{ term string }

// NamesOf gives the names of the objects of t.
func NamesOf(t *v1alpha1.LeapTerm) Names { return Names{term: t.Name} }

// Component is the name of the Deployment and Service of a component.
func (n Names) Component(c string) string { return n.term + "-" + c }

// PolicyConfigMap holds the policy document.
func (n Names) PolicyConfigMap() string { return n.term + "-policy" }

// IngestTokens is the Secret of per-source ingest tokens.
func (n Names) IngestTokens() string { return n.term + "-ingest-tokens" }

// PortalSession is the Secret of the portal's session key.
func (n Names) PortalSession() string { return n.term + "-portal-session" }

// PortalUsers is the Secret of the portal's local accounts, which the
// university creates (key users.yaml); the operator never writes it.
func (n Names) PortalUsers() string { return n.term + "-portal-users" }

// RedisAuth is the Secret of the Managed Redis password.
func (n Names) RedisAuth() string { return n.term + "-redis-auth" }

// PortalAccount is the portal's ServiceAccount, Role and RoleBinding.
func (n Names) PortalAccount() string { return n.term + "-portal" }

// Labels are the labels of every object of component c of t.
func Labels(t *v1alpha1.LeapTerm, c string) map[string]string {
	l := SelectorLabels(t, c)
	l[LabelManagedBy] = ManagedBy
	l[LabelPartOf] = "leap"
	return l
}

// SelectorLabels select the pods of component c of t.
func SelectorLabels(t *v1alpha1.LeapTerm, c string) map[string]string {
	return map[string]string{
		LabelName:      "leap",
		LabelInstance:  t.Name,
		LabelComponent: c,
	}
}

// OwnerReference makes t the controlling owner of everything the operator
// creates, so that deleting t deletes everything built from it.
func OwnerReference(t *v1alpha1.LeapTerm) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{
		APIVersion:         v1alpha1.GroupVersion.String(),
		Kind:               "LeapTerm",
		Name:               t.Name,
		UID:                t.UID,
		Controller:         &yes,
		BlockOwnerDeletion: &yes,
	}
}

// ownerReference is OwnerReference as the apply configurations take it.
func ownerReference(t *v1alpha1.LeapTerm) *metav1ac.OwnerReferenceApplyConfiguration {
	o := OwnerReference(t)
	return metav1ac.OwnerReference().
		WithAPIVersion(o.APIVersion).
		WithKind(o.Kind).
		WithName(o.Name).
		WithUID(o.UID).
		WithController(*o.Controller).
		WithBlockOwnerDeletion(*o.BlockOwnerDeletion)
}
