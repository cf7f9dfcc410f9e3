package builder

import (
	"fmt"
	"maps"
	"net/url"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// serviceUID is the user the service containers run as: the "nonroot" user
// of distroless images.
const serviceUID = 65532

// redisUID is the redis user of the official Redis images.
const redisUID = 999

// componentSpec is the part of the LeapTerm spec about component c.
func componentSpec(t *v1alpha1.LeapTerm, c string) v1alpha1.Component {
	switch c {
	case Ingestion:
		return t.Spec.Ingestion
	case Scoring:
		return t.Spec.ScoringService
	case Notifier:
		return notifierComponent(t)
	default:
		return t.Spec.Portal.Component
	}
}

func (i Images) of(c string) string {
	switch c {
	case Ingestion:
		return i.Ingestion
	case Scoring:
		return i.Scoring
	case Portal:
		return i.Portal
	case Notifier:
		return i.Notifier
	default:
		return i.Redis
	}
}

// defaultResources are modest requests and a memory limit; a LeapTerm may
// set its own per component.
func defaultResources(cpu, memory, memoryLimit string) *corev1ac.ResourceRequirementsApplyConfiguration {
	return corev1ac.ResourceRequirements().
		WithRequests(corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(cpu),
			corev1.ResourceMemory: resource.MustParse(memory),
		}).
		WithLimits(corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(memoryLimit)})
}

func resources(r *corev1.ResourceRequirements, def *corev1ac.ResourceRequirementsApplyConfiguration) *corev1ac.ResourceRequirementsApplyConfiguration {
	if r == nil {
		return def
	}
	out := corev1ac.ResourceRequirements()
	if len(r.Requests) > 0 {
		out.WithRequests(r.Requests)
	}
	if len(r.Limits) > 0 {
		out.WithLimits(r.Limits)
	}
	return out
}

// restrictedPod is the pod security context of the "restricted" Pod Security
// Standard: non-root, seccomp RuntimeDefault.
func restrictedPod(uid int64) *corev1ac.PodSecurityContextApplyConfiguration {
	return corev1ac.PodSecurityContext().
		WithRunAsNonRoot(true).
		WithRunAsUser(uid).
		WithRunAsGroup(uid).
		WithFSGroup(uid).
		WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))
}

// restrictedContainer drops every capability, forbids privilege escalation
// and keeps the root filesystem read-only.
func restrictedContainer() *corev1ac.SecurityContextApplyConfiguration {
	return corev1ac.SecurityContext().
		WithAllowPrivilegeEscalation(false).
		WithReadOnlyRootFilesystem(true).
		WithRunAsNonRoot(true).
		WithCapabilities(corev1ac.Capabilities().WithDrop(corev1.Capability("ALL"))).
		WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))
}

func httpProbe(path string, period, failures int32) *corev1ac.ProbeApplyConfiguration {
	return corev1ac.Probe().
		WithHTTPGet(corev1ac.HTTPGetAction().WithPath(path).WithPort(intstr.FromString(PortNameHTTP)).WithScheme(corev1.URISchemeHTTP)).
		WithPeriodSeconds(period).
		WithTimeoutSeconds(2).
		WithFailureThreshold(failures)
}

// RedisURL is how the services reach Redis: the Managed Redis Service, or
// the External address as given.
func RedisURL(t *v1alpha1.LeapTerm) string {
	if t.Spec.Redis.Mode == v1alpha1.RedisExternal {
		return t.Spec.Redis.Address
	}
	if RedisHA(t) {
		return sentinelURL(t)
	}
	u := url.URL{Scheme: "redis", Host: fmt.Sprintf("%s.%s.svc:%d", NamesOf(t).Component(Redis), t.Namespace, RedisPort)}
	return u.String()
}

// redisEnv is the Redis configuration of a service container.
func redisEnv(t *v1alpha1.LeapTerm) []*corev1ac.EnvVarApplyConfiguration {
	r := t.Spec.Redis
	env := []*corev1ac.EnvVarApplyConfiguration{
		corev1ac.EnvVar().WithName(EnvRedisURL).WithValue(RedisURL(t)),
	}
	var password *v1alpha1.SecretKeyRef
	switch r.Mode {
	case v1alpha1.RedisManaged:
		password = &v1alpha1.SecretKeyRef{Name: NamesOf(t).RedisAuth(), Key: RedisPasswordKey}
		if RedisHA(t) {
			env = append(env, corev1ac.EnvVar().WithName("REDIS_TOPOLOGY").WithValue(string(v1alpha1.RedisSentinel)),
				corev1ac.EnvVar().WithName("REDIS_SENTINEL_MASTER").WithValue(SentinelMaster))
		}
	default:
		env = append(env, corev1ac.EnvVar().WithName("REDIS_TOPOLOGY").WithValue(string(r.Topology)))
		if r.SentinelMaster != "" {
			env = append(env, corev1ac.EnvVar().WithName("REDIS_SENTINEL_MASTER").WithValue(r.SentinelMaster))
		}
		password = r.PasswordSecret
	}
	if password != nil {
		env = append(env, corev1ac.EnvVar().WithName(EnvRedisPassword).WithValueFrom(
			corev1ac.EnvVarSource().WithSecretKeyRef(corev1ac.SecretKeySelector().WithName(password.Name).WithKey(password.Key))))
	}
	return env
}

// OIDCCallbackPath is where the portal takes the provider's answer.
const OIDCCallbackPath = "/auth/callback"

// OIDCRedirectURL is the portal's OIDC callback: spec.portal.oidc.redirectURL
// when given, otherwise derived from the ingress host (https when the
// ingress has a TLS secret). Empty when t has no OIDC or no way to derive it,
// which the API rejects.
func OIDCRedirectURL(t *v1alpha1.LeapTerm) string {
	p := t.Spec.Portal
	switch {
	case p.OIDC == nil:
		return ""
	case p.OIDC.RedirectURL != "":
		return p.OIDC.RedirectURL
	case p.Ingress == nil:
		return ""
	}
	scheme := "http"
	if p.Ingress.TLSSecretName != "" {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: p.Ingress.Host, Path: OIDCCallbackPath}
	return u.String()
}

// oidcEnv configures the portal's OpenID Connect client; nothing when the
// LeapTerm has no OIDC. Claims, staff values and scopes are as defaulted by
// the API server.
func oidcEnv(t *v1alpha1.LeapTerm) []*corev1ac.EnvVarApplyConfiguration {
	o := t.Spec.Portal.OIDC
	if o == nil {
		return nil
	}
	env := []*corev1ac.EnvVarApplyConfiguration{
		corev1ac.EnvVar().WithName("PORTAL_OIDC_ISSUER").WithValue(o.IssuerURL),
		corev1ac.EnvVar().WithName("PORTAL_OIDC_CLIENT_ID").WithValue(o.ClientID),
	}
	if s := o.ClientSecret; s != nil {
		key := s.Key
		if key == "" {
			key = v1alpha1.DefaultClientSecretKey
		}
		env = append(env, corev1ac.EnvVar().WithName("PORTAL_OIDC_CLIENT_SECRET").WithValueFrom(
			corev1ac.EnvVarSource().WithSecretKeyRef(corev1ac.SecretKeySelector().WithName(s.Name).WithKey(key))))
	}
	return append(env,
		corev1ac.EnvVar().WithName("PORTAL_OIDC_REDIRECT_URL").WithValue(OIDCRedirectURL(t)),
		corev1ac.EnvVar().WithName("PORTAL_OIDC_PERSON_CLAIM").WithValue(o.PersonClaim),
		corev1ac.EnvVar().WithName("PORTAL_OIDC_STAFF_CLAIM").WithValue(o.StaffClaim),
		corev1ac.EnvVar().WithName("PORTAL_OIDC_STAFF_VALUES").WithValue(strings.Join(o.StaffValues, ",")),
		corev1ac.EnvVar().WithName("PORTAL_OIDC_SCOPES").WithValue(strings.Join(o.Scopes, " ")))
}

// ServiceDeployment runs component c (ingestion, scoring or portal) of t
// under the policy of hash policyHash.
func ServiceDeployment(t *v1alpha1.LeapTerm, c string, images Images, policyHash string) *appsv1ac.DeploymentApplyConfiguration {
	n := NamesOf(t)
	spec := componentSpec(t, c)
	image := spec.Image
	if image == "" {
		image = images.of(c)
	}

	env := []*corev1ac.EnvVarApplyConfiguration{
		corev1ac.EnvVar().WithName("PORT").WithValue(fmt.Sprint(HTTPPort)),
		corev1ac.EnvVar().WithName("METRICS_PORT").WithValue(fmt.Sprint(MetricsPort)),
		corev1ac.EnvVar().WithName(EnvPolicyFile).WithValue(PolicyDir + "/" + policy.FileName),
	}
	env = append(env, redisEnv(t)...)
	env = append(env, telemetryEnv(t, c)...)
	if len(spec.TrustedProxies) > 0 {
		// Unset when none, so a LeapTerm without proxies keeps its pods.
		env = append(env, corev1ac.EnvVar().WithName("TRUSTED_PROXIES").WithValue(strings.Join(spec.TrustedProxies, ",")))
	}
	volumes := []*corev1ac.VolumeApplyConfiguration{
		corev1ac.Volume().WithName("policy").WithConfigMap(corev1ac.ConfigMapVolumeSource().WithName(n.PolicyConfigMap())),
		corev1ac.Volume().WithName("tmp").WithEmptyDir(corev1ac.EmptyDirVolumeSource().WithSizeLimit(resource.MustParse("64Mi"))),
	}
	mounts := []*corev1ac.VolumeMountApplyConfiguration{
		corev1ac.VolumeMount().WithName("policy").WithMountPath(PolicyDir).WithReadOnly(true),
		corev1ac.VolumeMount().WithName("tmp").WithMountPath("/tmp"),
	}
	serviceAccount := ""
	switch c {
	case Ingestion:
		env = append(env, corev1ac.EnvVar().WithName("INGEST_TOKENS_DIR").WithValue(IngestTokensDir))
		volumes = append(volumes, corev1ac.Volume().WithName("ingest-tokens").WithSecret(corev1ac.SecretVolumeSource().WithSecretName(n.IngestTokens())))
		mounts = append(mounts, corev1ac.VolumeMount().WithName("ingest-tokens").WithMountPath(IngestTokensDir).WithReadOnly(true))
	case Portal:
		serviceAccount = n.PortalAccount()
		local := t.Spec.Portal.LocalAccountsEnabled()
		env = append(env, corev1ac.EnvVar().WithName("PORTAL_LOCAL_ACCOUNTS").WithValue(strconv.FormatBool(local)))
		if local {
			// Local accounts come from an optional Secret the university
			// makes (key users.yaml); without it nobody has a password.
			volumes = append(volumes, corev1ac.Volume().WithName("portal-users").WithSecret(
				corev1ac.SecretVolumeSource().WithSecretName(n.PortalUsers()).WithOptional(true)))
			mounts = append(mounts, corev1ac.VolumeMount().WithName("portal-users").WithMountPath(PortalUsersDir).WithReadOnly(true))
			env = append(env, corev1ac.EnvVar().WithName("PORTAL_USERS_FILE").WithValue(PortalUsersDir+"/users.yaml"))
		}
		env = append(env, oidcEnv(t)...)
		env = append(env,
			corev1ac.EnvVar().WithName("SCORING_URL").WithValue(fmt.Sprintf("http://%s.%s.svc:%d", n.Component(Scoring), t.Namespace, ServicePort)),
			corev1ac.EnvVar().WithName("LEAP_TERM_NAME").WithValue(t.Name),
			corev1ac.EnvVar().WithName("LEAP_TERM_NAMESPACE").WithValue(t.Namespace),
			corev1ac.EnvVar().WithName("SESSION_KEY").WithValueFrom(corev1ac.EnvVarSource().WithSecretKeyRef(
				corev1ac.SecretKeySelector().WithName(n.PortalSession()).WithKey(SessionKeyKey))),
		)
	}

	pod := corev1ac.PodSpec().
		WithAutomountServiceAccountToken(c == Portal).
		WithSecurityContext(restrictedPod(serviceUID)).
		WithEnableServiceLinks(false).
		WithVolumes(volumes...).
		WithContainers(corev1ac.Container().
			WithName(c).
			WithImage(image).
			WithImagePullPolicy(corev1.PullIfNotPresent).
			WithPorts(
				corev1ac.ContainerPort().WithName(PortNameHTTP).WithContainerPort(HTTPPort).WithProtocol(corev1.ProtocolTCP),
				corev1ac.ContainerPort().WithName(PortNameMetrics).WithContainerPort(MetricsPort).WithProtocol(corev1.ProtocolTCP)).
			WithEnv(env...).
			WithVolumeMounts(mounts...).
			WithResources(resources(spec.Resources, defaultResources("100m", "128Mi", "512Mi"))).
			WithSecurityContext(restrictedContainer()).
			WithLivenessProbe(httpProbe("/healthz", 10, 3)).
			WithReadinessProbe(httpProbe("/readyz", 5, 2)))
	if serviceAccount != "" {
		pod.WithServiceAccountName(serviceAccount)
	}

	annotations := map[string]string{AnnotationPolicyHash: policyHash}
	return appsv1ac.Deployment(n.Component(c), t.Namespace).
		WithLabels(Labels(t, c)).
		WithOwnerReferences(ownerReference(t)).
		WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(spec.ReplicasOr(v1alpha1.DefaultReplicas)).
			WithRevisionHistoryLimit(3).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(SelectorLabels(t, c))).
			WithStrategy(appsv1ac.DeploymentStrategy().
				WithType(appsv1.RollingUpdateDeploymentStrategyType).
				WithRollingUpdate(appsv1ac.RollingUpdateDeployment().
					WithMaxUnavailable(intstr.FromInt32(0)).
					WithMaxSurge(intstr.FromInt32(1)))).
			WithTemplate(corev1ac.PodTemplateSpec().
				WithLabels(Labels(t, c)).
				WithAnnotations(maps.Clone(annotations)).
				WithSpec(pod)))
}

// RedisStatefulSet runs the Managed Redis: append-only file persistence on
// a volume, a password from the generated Secret; one pod, or with
// spec.redis.replicas of 3 or more a master, replicas and Sentinels
// (redis_ha.go).
func RedisStatefulSet(t *v1alpha1.LeapTerm, images Images) *appsv1ac.StatefulSetApplyConfiguration {
	n := NamesOf(t)
	r := t.Spec.Redis
	image := r.Image
	if image == "" {
		image = images.Redis
	}
	// A claim template is no object of its own: no kind, no namespace.
	claim := (&corev1ac.PersistentVolumeClaimApplyConfiguration{}).
		WithName("data").
		WithSpec(corev1ac.PersistentVolumeClaimSpec().
			WithAccessModes(corev1.ReadWriteOnce).
			WithVolumeMode(corev1.PersistentVolumeFilesystem).
			WithResources(corev1ac.VolumeResourceRequirements().WithRequests(corev1.ResourceList{corev1.ResourceStorage: r.Storage})))
	if r.StorageClassName != nil {
		claim.Spec.WithStorageClassName(*r.StorageClassName)
	}
	exec := func(cmd ...string) *corev1ac.ProbeApplyConfiguration {
		return corev1ac.Probe().WithExec(corev1ac.ExecAction().WithCommand(cmd...)).
			WithPeriodSeconds(10).WithTimeoutSeconds(2).WithFailureThreshold(3)
	}
	ss := appsv1ac.StatefulSet(n.Component(Redis), t.Namespace).
		WithLabels(Labels(t, Redis)).
		WithOwnerReferences(ownerReference(t)).
		WithSpec(appsv1ac.StatefulSetSpec().
			WithReplicas(redisReplicas(t)).
			WithServiceName(n.Component(Redis)).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(SelectorLabels(t, Redis))).
			WithPersistentVolumeClaimRetentionPolicy(appsv1ac.StatefulSetPersistentVolumeClaimRetentionPolicy().
				WithWhenDeleted(appsv1.RetainPersistentVolumeClaimRetentionPolicyType).
				WithWhenScaled(appsv1.RetainPersistentVolumeClaimRetentionPolicyType)).
			WithVolumeClaimTemplates(claim).
			WithTemplate(corev1ac.PodTemplateSpec().
				WithLabels(Labels(t, Redis)).
				WithSpec(corev1ac.PodSpec().
					WithAutomountServiceAccountToken(false).
					WithEnableServiceLinks(false).
					WithSecurityContext(restrictedPod(redisUID)).
					WithContainers(corev1ac.Container().
						WithName(Redis).
						WithImage(image).
						WithImagePullPolicy(corev1.PullIfNotPresent).
						WithArgs("--appendonly", "yes", "--appendfsync", "everysec", "--dir", "/data",
							"--requirepass", "$(REDIS_PASSWORD)").
						WithEnv(corev1ac.EnvVar().WithName(EnvRedisPassword).WithValueFrom(corev1ac.EnvVarSource().WithSecretKeyRef(
							corev1ac.SecretKeySelector().WithName(n.RedisAuth()).WithKey(RedisPasswordKey)))).
						WithPorts(corev1ac.ContainerPort().WithName(Redis).WithContainerPort(RedisPort).WithProtocol(corev1.ProtocolTCP)).
						WithVolumeMounts(corev1ac.VolumeMount().WithName("data").WithMountPath("/data")).
						WithResources(resources(r.Resources, defaultResources("100m", "256Mi", "1Gi"))).
						WithSecurityContext(restrictedContainer()).
						WithLivenessProbe(corev1ac.Probe().
							WithTCPSocket(corev1ac.TCPSocketAction().WithPort(intstr.FromString(Redis))).
							WithPeriodSeconds(10).WithTimeoutSeconds(2).WithFailureThreshold(3)).
						WithReadinessProbe(exec("sh", "-c", `redis-cli -a "$REDIS_PASSWORD" --no-auth-warning ping | grep -q PONG`))))))
	withSentinel(t, image, ss)
	withRestore(t, images, image, ss.Spec.Template.Spec)
	return ss
}

// Service exposes component c of t inside the cluster: a service's API on
// port 80 ("http") and its metrics on 9090 ("metrics"), Redis on its own
// port.
func Service(t *v1alpha1.LeapTerm, c string) *corev1ac.ServiceApplyConfiguration {
	port := func(name string, port int32) *corev1ac.ServicePortApplyConfiguration {
		return corev1ac.ServicePort().WithName(name).WithPort(port).WithTargetPort(intstr.FromString(name)).WithProtocol(corev1.ProtocolTCP)
	}
	ports := []*corev1ac.ServicePortApplyConfiguration{port(PortNameHTTP, ServicePort), port(PortNameMetrics, MetricsPort)}
	if c == Redis {
		ports = []*corev1ac.ServicePortApplyConfiguration{port(Redis, RedisPort)}
		if RedisHA(t) {
			ports = append(ports, sentinelServicePort())
		}
	}
	return corev1ac.Service(NamesOf(t).Component(c), t.Namespace).
		WithLabels(Labels(t, c)).
		WithOwnerReferences(ownerReference(t)).
		WithSpec(corev1ac.ServiceSpec().
			WithType(corev1.ServiceTypeClusterIP).
			WithSelector(SelectorLabels(t, c)).
			WithPorts(ports...))
}

// defaultSamplingRatio is the share of traces sampled when the LeapTerm
// names a collector but no ratio.
const defaultSamplingRatio = "0.1"

// telemetryEnv configures OpenTelemetry in a service container by the
// standard variables alone; without a collector nothing is exported.
func telemetryEnv(t *v1alpha1.LeapTerm, c string) []*corev1ac.EnvVarApplyConfiguration {
	env := []*corev1ac.EnvVarApplyConfiguration{
		corev1ac.EnvVar().WithName("OTEL_SERVICE_NAME").WithValue("leap-" + c),
		corev1ac.EnvVar().WithName("OTEL_RESOURCE_ATTRIBUTES").WithValue("k8s.namespace.name=" + t.Namespace + ",leap.term=" + t.Name),
	}
	tel := t.Spec.Telemetry
	if tel == nil || tel.OTLPEndpoint == "" {
		return env
	}
	ratio := tel.SamplingRatio
	if ratio == "" {
		ratio = defaultSamplingRatio
	}
	return append(env,
		corev1ac.EnvVar().WithName("OTEL_EXPORTER_OTLP_ENDPOINT").WithValue(tel.OTLPEndpoint),
		corev1ac.EnvVar().WithName("OTEL_TRACES_SAMPLER").WithValue("parentbased_traceidratio"),
		corev1ac.EnvVar().WithName("OTEL_TRACES_SAMPLER_ARG").WithValue(ratio))
}
