package builder

import (
	"bytes"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

var images = DefaultImages("registry.test", "v1.2.3")

func leapTerm() *v1alpha1.LeapTerm {
	t := &v1alpha1.LeapTerm{ObjectMeta: metav1.ObjectMeta{Name: "y2026", Namespace: "leap", UID: "uid-1"}}
	t.Spec = v1alpha1.LeapTermSpec{
		Timezone: "Europe/London",
		Terms:    []v1alpha1.DateRange{{Name: "autumn", Start: "2026-10-05", End: "2026-12-11"}},
		Redis:    v1alpha1.Redis{Mode: v1alpha1.RedisManaged, Storage: resource.MustParse("1Gi")},
	}
	return t
}

func TestServiceDeployment(t *testing.T) {
	term := leapTerm()
	d := ServiceDeployment(term, Ingestion, images, "abc")
	if *d.Name != "y2026-ingestion" || *d.Namespace != "leap" {
		t.Fatalf("name %s/%s", *d.Namespace, *d.Name)
	}
	if *d.Spec.Replicas != v1alpha1.DefaultReplicas {
		t.Errorf("replicas %d, want the default %d", *d.Spec.Replicas, v1alpha1.DefaultReplicas)
	}
	if got := d.Spec.Template.Annotations[AnnotationPolicyHash]; got != "abc" {
		t.Errorf("policy hash annotation %q", got)
	}
	if got := d.OwnerReferences[0]; *got.UID != "uid-1" || !*got.Controller {
		t.Errorf("owner %+v", got)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	if *c.Image != "registry.test/leap-ingestion:v1.2.3" {
		t.Errorf("image %s does not follow the operator's version", *c.Image)
	}
	if *pod.AutomountServiceAccountToken {
		t.Error("ingestion gets a service account token it has no use for")
	}
	sc := c.SecurityContext
	if *sc.AllowPrivilegeEscalation || !*sc.ReadOnlyRootFilesystem || !*sc.RunAsNonRoot || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container security context is not restricted: %+v", sc)
	}
	if !*pod.SecurityContext.RunAsNonRoot || *pod.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod security context is not restricted")
	}
	var tokens bool
	for _, m := range c.VolumeMounts {
		tokens = tokens || *m.MountPath == IngestTokensDir
	}
	if !tokens {
		t.Error("ingestion does not mount its tokens")
	}

	term.Spec.Portal.Image = "mine/portal:7"
	term.Spec.Portal.Replicas = ptr.To[int32](0)
	p := ServiceDeployment(term, Portal, images, "abc")
	if *p.Spec.Template.Spec.Containers[0].Image != "mine/portal:7" {
		t.Error("the LeapTerm's image is not used")
	}
	if *p.Spec.Replicas != 0 {
		t.Error("replicas 0 was not kept")
	}
	if *p.Spec.Template.Spec.ServiceAccountName != "y2026-portal" || !*p.Spec.Template.Spec.AutomountServiceAccountToken {
		t.Error("the portal does not run as its own service account")
	}
}

func TestPolicyHashIgnoresReplicas(t *testing.T) {
	a, hashA, err := PolicyDocument(leapTerm())
	if err != nil {
		t.Fatal(err)
	}
	scaled := leapTerm()
	scaled.Spec.ScoringService.Replicas = ptr.To[int32](7)
	b, hashB, _ := PolicyDocument(scaled)
	if hashA != hashB || !bytes.Equal(a, b) {
		t.Error("replicas changed the policy document")
	}
	off := leapTerm()
	off.Spec.Attendance.Enabled = ptr.To(false)
	if _, hashC, _ := PolicyDocument(off); hashC == hashA {
		t.Error("attendance off kept the hash")
	}
}

func TestGeneratedSecrets(t *testing.T) {
	random := bytes.NewReader(bytes.Repeat([]byte{7}, 4096))
	secrets, err := GeneratedSecrets(leapTerm(), random)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]*corev1.Secret{}
	for _, s := range secrets {
		names[s.Name] = s
	}
	if len(names["y2026-ingest-tokens"].Data) != len(IngestSources) || names["y2026-portal-session"] == nil || names["y2026-redis-auth"] == nil {
		t.Fatalf("secrets %v", names)
	}
	ext := leapTerm()
	ext.Spec.Redis = v1alpha1.Redis{Mode: v1alpha1.RedisExternal, Address: "redis://r:6379"}
	secrets, _ = GeneratedSecrets(ext, bytes.NewReader(bytes.Repeat([]byte{7}, 4096)))
	for _, s := range secrets {
		if s.Name == "y2026-redis-auth" {
			t.Error("a Redis password generated for an External Redis")
		}
	}
	if _, err := GeneratedSecrets(leapTerm(), bytes.NewReader(nil)); err == nil {
		t.Error("no error when randomness runs out")
	}
}

func TestIngressOnlyWhenAsked(t *testing.T) {
	term := leapTerm()
	if PortalIngress(term) != nil {
		t.Fatal("an Ingress nobody asked for")
	}
	term.Spec.Portal.Ingress = &v1alpha1.Ingress{Host: "leap.example.ac.uk", TLSSecretName: "leap-tls", ClassName: ptr.To("nginx")}
	in := PortalIngress(term)
	if *in.Spec.Rules[0].Host != "leap.example.ac.uk" || in.Spec.TLS[0].Hosts[0] != "leap.example.ac.uk" || *in.Spec.IngressClassName != "nginx" {
		t.Errorf("ingress %+v", in.Spec)
	}
	if *in.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name != "y2026-portal" {
		t.Error("the Ingress does not lead to the portal")
	}
}

func TestRedisIsReachableFromTheServicesOnly(t *testing.T) {
	np := RedisNetworkPolicy(leapTerm())
	from := np.Spec.Ingress[0].From[0].PodSelector
	if from.MatchLabels[LabelInstance] != "y2026" {
		t.Error("the policy admits pods of other LeapTerms")
	}
	if got := from.MatchExpressions[0].Values; !equality.Semantic.DeepEqual(got, Services) {
		t.Errorf("admitted components %v", got)
	}
	if np.Spec.Ingress[0].Ports[0].Port.IntValue() != RedisPort {
		t.Error("wrong port")
	}
}

func TestRedisURL(t *testing.T) {
	if got := RedisURL(leapTerm()); got != "redis://y2026-redis.leap.svc:6379" {
		t.Errorf("managed: %s", got)
	}
	ext := leapTerm()
	ext.Spec.Redis = v1alpha1.Redis{Mode: v1alpha1.RedisExternal, Address: "rediss://cache.example:6380/2"}
	if got := RedisURL(ext); got != "rediss://cache.example:6380/2" {
		t.Errorf("external: %s", got)
	}
}

func TestRedisStatefulSetPersistsAppendOnly(t *testing.T) {
	s := RedisStatefulSet(leapTerm(), images)
	args := s.Spec.Template.Spec.Containers[0].Args
	if !equality.Semantic.DeepEqual(args[:2], []string{"--appendonly", "yes"}) {
		t.Errorf("args %v", args)
	}
	claim := s.Spec.VolumeClaimTemplates[0]
	if got := (*claim.Spec.Resources.Requests)[corev1.ResourceStorage]; got.String() != "1Gi" {
		t.Errorf("storage %s", got.String())
	}
	if *s.Spec.Template.Spec.Containers[0].Image != "redis:7.4-alpine" {
		t.Error("image")
	}
}

func TestTelemetryReachesThePodsAsOTELVariables(t *testing.T) {
	env := func(term *v1alpha1.LeapTerm) map[string]string {
		out := map[string]string{}
		for _, e := range ServiceDeployment(term, Scoring, images, "h").Spec.Template.Spec.Containers[0].Env {
			if e.Value != nil {
				out[*e.Name] = *e.Value
			}
		}
		return out
	}
	term := leapTerm()
	if got := env(term); got["OTEL_SERVICE_NAME"] != "leap-scoring" || got["OTEL_EXPORTER_OTLP_ENDPOINT"] != "" {
		t.Errorf("without telemetry: %v", got)
	}
	term.Spec.Telemetry = &v1alpha1.Telemetry{OTLPEndpoint: "http://otel:4318"}
	got := env(term)
	if got["OTEL_EXPORTER_OTLP_ENDPOINT"] != "http://otel:4318" || got["OTEL_TRACES_SAMPLER"] != "parentbased_traceidratio" || got["OTEL_TRACES_SAMPLER_ARG"] != "0.1" {
		t.Errorf("with an endpoint: %v", got)
	}
	term.Spec.Telemetry.SamplingRatio = "0.5"
	if env(term)["OTEL_TRACES_SAMPLER_ARG"] != "0.5" {
		t.Error("the ratio is not passed on")
	}
	if _, hash, _ := PolicyDocument(term); func() string { _, h, _ := PolicyDocument(leapTerm()); return h }() != hash {
		t.Error("telemetry changed the policy hash")
	}
}
