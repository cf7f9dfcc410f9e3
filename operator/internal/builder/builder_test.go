package builder

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
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
	// The portal takes a session key of 32 bytes or more.
	if n := len(names["y2026-portal-session"].Data[SessionKeyKey]); n < 32 {
		t.Errorf("the portal's session key is %d bytes, want at least 32", n)
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

// TestRosterHasATokenOfItsOwn: the roster source gets a token no other
// source shares, since ingestion lets only that token post the roster.
func TestRosterHasATokenOfItsOwn(t *testing.T) {
	secrets, err := GeneratedSecrets(leapTerm(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var tokens map[string][]byte
	for _, s := range secrets {
		if s.Name == "y2026-ingest-tokens" {
			tokens = s.Data
		}
	}
	roster := tokens[RosterSource]
	if len(roster) < 40 {
		t.Fatalf("roster token %q: want one of 40 characters or more", roster)
	}
	seen := map[string]string{}
	for source, token := range tokens {
		if other, dup := seen[string(token)]; dup {
			t.Errorf("sources %s and %s share a token", source, other)
		}
		seen[string(token)] = source
	}
	if len(tokens) != len(IngestSources) {
		t.Errorf("%d tokens for %d sources: a source named twice?", len(tokens), len(IngestSources))
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

// portalEnv is the portal container's environment: plain values, and the
// Secret key of each variable taken from a Secret as "secret/key".
func portalEnv(term *v1alpha1.LeapTerm) map[string]string {
	out := map[string]string{}
	for _, e := range ServiceDeployment(term, Portal, images, "h").Spec.Template.Spec.Containers[0].Env {
		switch {
		case e.Value != nil:
			out[*e.Name] = *e.Value
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			out[*e.Name] = *e.ValueFrom.SecretKeyRef.Name + "/" + *e.ValueFrom.SecretKeyRef.Key
		}
	}
	return out
}

func TestPortalLocalAccountsOnlyWhenAsked(t *testing.T) {
	mountsUsers := func(term *v1alpha1.LeapTerm) (volume, mount bool) {
		pod := ServiceDeployment(term, Portal, images, "h").Spec.Template.Spec
		for _, v := range pod.Volumes {
			volume = volume || (v.Secret != nil && *v.Secret.SecretName == "y2026-portal-users")
		}
		for _, m := range pod.Containers[0].VolumeMounts {
			mount = mount || *m.MountPath == PortalUsersDir
		}
		return volume, mount
	}

	term := leapTerm()
	env := portalEnv(term)
	if env["PORTAL_LOCAL_ACCOUNTS"] != "false" {
		t.Errorf("PORTAL_LOCAL_ACCOUNTS = %q by default, want false", env["PORTAL_LOCAL_ACCOUNTS"])
	}
	if _, ok := env["PORTAL_USERS_FILE"]; ok {
		t.Error("PORTAL_USERS_FILE is set with local accounts off")
	}
	if volume, mount := mountsUsers(term); volume || mount {
		t.Error("the portal-users Secret is mounted with local accounts off")
	}

	term.Spec.Portal.LocalAccounts = ptr.To(true)
	env = portalEnv(term)
	if env["PORTAL_LOCAL_ACCOUNTS"] != "true" || env["PORTAL_USERS_FILE"] != PortalUsersDir+"/users.yaml" {
		t.Errorf("with local accounts: %v", env)
	}
	if volume, mount := mountsUsers(term); !volume || !mount {
		t.Error("the portal-users Secret is not mounted with local accounts on")
	}
}

func TestPortalOIDCEnvironment(t *testing.T) {
	oidc := func() *v1alpha1.PortalOIDC {
		return &v1alpha1.PortalOIDC{
			IssuerURL: "https://login.example.ac.uk/realms/uni", ClientID: "leap-portal",
			PersonClaim: "preferred_username", StaffClaim: "groups",
			StaffValues: []string{"staff", "faculty"}, Scopes: []string{"openid", "profile", "email"},
		}
	}
	oidcNames := []string{"PORTAL_OIDC_ISSUER", "PORTAL_OIDC_CLIENT_ID", "PORTAL_OIDC_CLIENT_SECRET", "PORTAL_OIDC_REDIRECT_URL",
		"PORTAL_OIDC_PERSON_CLAIM", "PORTAL_OIDC_STAFF_CLAIM", "PORTAL_OIDC_STAFF_VALUES", "PORTAL_OIDC_SCOPES"}

	t.Run("without oidc", func(t *testing.T) {
		env := portalEnv(leapTerm())
		for _, name := range oidcNames {
			if v, ok := env[name]; ok {
				t.Errorf("%s = %q without spec.portal.oidc", name, v)
			}
		}
	})

	cases := []struct {
		name    string
		change  func(*v1alpha1.LeapTerm)
		want    map[string]string
		missing []string
	}{
		{"public client, plain-HTTP ingress", func(term *v1alpha1.LeapTerm) {
			term.Spec.Portal.Ingress = &v1alpha1.Ingress{Host: "leap.example.ac.uk"}
		}, map[string]string{
			"PORTAL_OIDC_ISSUER":       "https://login.example.ac.uk/realms/uni",
			"PORTAL_OIDC_CLIENT_ID":    "leap-portal",
			"PORTAL_OIDC_REDIRECT_URL": "http://leap.example.ac.uk/auth/callback",
			"PORTAL_OIDC_PERSON_CLAIM": "preferred_username",
			"PORTAL_OIDC_STAFF_CLAIM":  "groups",
			"PORTAL_OIDC_STAFF_VALUES": "staff,faculty",
			"PORTAL_OIDC_SCOPES":       "openid profile email",
			"PORTAL_LOCAL_ACCOUNTS":    "false",
			// The portal seals its sign-in state cookie with this key.
			"SESSION_KEY": "y2026-portal-session/" + SessionKeyKey,
		}, []string{"PORTAL_OIDC_CLIENT_SECRET"}},
		{"confidential client, TLS ingress", func(term *v1alpha1.LeapTerm) {
			term.Spec.Portal.Ingress = &v1alpha1.Ingress{Host: "leap.example.ac.uk", TLSSecretName: "leap-tls"}
			term.Spec.Portal.OIDC.ClientSecret = &v1alpha1.ClientSecretRef{Name: "leap-oidc", Key: "secret"}
		}, map[string]string{
			"PORTAL_OIDC_REDIRECT_URL":  "https://leap.example.ac.uk/auth/callback",
			"PORTAL_OIDC_CLIENT_SECRET": "leap-oidc/secret",
		}, nil},
		{"secret key left to its default", func(term *v1alpha1.LeapTerm) {
			term.Spec.Portal.Ingress = &v1alpha1.Ingress{Host: "leap.example.ac.uk", TLSSecretName: "leap-tls"}
			term.Spec.Portal.OIDC.ClientSecret = &v1alpha1.ClientSecretRef{Name: "leap-oidc"}
		}, map[string]string{"PORTAL_OIDC_CLIENT_SECRET": "leap-oidc/client-secret"}, nil},
		{"redirect URL given wins over the ingress", func(term *v1alpha1.LeapTerm) {
			term.Spec.Portal.Ingress = &v1alpha1.Ingress{Host: "leap.example.ac.uk", TLSSecretName: "leap-tls"}
			term.Spec.Portal.OIDC.RedirectURL = "https://engage.example.ac.uk/auth/callback"
			term.Spec.Portal.OIDC.PersonClaim = "email"
			term.Spec.Portal.LocalAccounts = ptr.To(true)
		}, map[string]string{
			"PORTAL_OIDC_REDIRECT_URL": "https://engage.example.ac.uk/auth/callback",
			"PORTAL_OIDC_PERSON_CLAIM": "email",
			"PORTAL_LOCAL_ACCOUNTS":    "true",
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			term := leapTerm()
			term.Spec.Portal.OIDC = oidc()
			tc.change(term)
			env := portalEnv(term)
			for name, want := range tc.want {
				if got, ok := env[name]; !ok || got != want {
					t.Errorf("%s = %q (set %v), want %q", name, got, ok, want)
				}
			}
			for _, name := range tc.missing {
				if v, ok := env[name]; ok {
					t.Errorf("%s = %q, want it absent", name, v)
				}
			}
		})
	}
}

// A change of the sign-in settings changes the portal's pod template, so
// the Deployment rolls, but not the policy hash: it is no policy.
func TestPortalOIDCChangeRollsThePortalOnly(t *testing.T) {
	before := leapTerm()
	before.Spec.Portal.Ingress = &v1alpha1.Ingress{Host: "leap.example.ac.uk"}
	after := before.DeepCopy()
	after.Spec.Portal.OIDC = &v1alpha1.PortalOIDC{IssuerURL: "https://login.example.ac.uk", ClientID: "leap",
		PersonClaim: "email", StaffClaim: "groups", StaffValues: []string{"staff"}, Scopes: []string{"openid"}}

	_, hashBefore, _ := PolicyDocument(before)
	_, hashAfter, _ := PolicyDocument(after)
	if hashBefore != hashAfter {
		t.Error("OIDC settings changed the policy hash")
	}
	template := func(term *v1alpha1.LeapTerm, c string) any {
		return ServiceDeployment(term, c, images, hashBefore).Spec.Template
	}
	if equality.Semantic.DeepEqual(template(before, Portal), template(after, Portal)) {
		t.Error("OIDC settings left the portal's pod template unchanged, so the portal would not roll")
	}
	for _, c := range []string{Ingestion, Scoring} {
		if !equality.Semantic.DeepEqual(template(before, c), template(after, c)) {
			t.Errorf("OIDC settings changed the %s pod template", c)
		}
	}
}

// selects reports whether the selector s of a NetworkPolicy picks a pod
// labelled l.
func selects(t *testing.T, s *metav1ac.LabelSelectorApplyConfiguration, l map[string]string) bool {
	t.Helper()
	ls := &metav1.LabelSelector{MatchLabels: s.MatchLabels}
	for _, r := range s.MatchExpressions {
		ls.MatchExpressions = append(ls.MatchExpressions, metav1.LabelSelectorRequirement{Key: *r.Key, Operator: *r.Operator, Values: r.Values})
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		t.Fatal(err)
	}
	return sel.Matches(labels.Set(l))
}

// podLabels are the labels of the pods of component c of term, as the
// Deployment or StatefulSet gives them.
func podLabels(term *v1alpha1.LeapTerm, c string) map[string]string {
	if c == Redis {
		return RedisStatefulSet(term, images).Spec.Template.Labels
	}
	return ServiceDeployment(term, c, images, "h").Spec.Template.Labels
}

func TestNetworkPoliciesSelectTheRightPods(t *testing.T) {
	term := leapTerm()
	other := leapTerm()
	other.Name = "y2027"
	all := []string{Ingestion, Scoring, Portal, Redis}
	for _, tc := range []struct {
		policy *networkingv1ac.NetworkPolicyApplyConfiguration
		guards string
		admits []string
	}{
		{RedisNetworkPolicy(term), Redis, []string{Ingestion, Scoring, Portal}},
		{ScoringNetworkPolicy(term), Scoring, []string{Portal}},
	} {
		spec := tc.policy.Spec
		for _, c := range all {
			if got, want := selects(t, spec.PodSelector, podLabels(term, c)), c == tc.guards; got != want {
				t.Errorf("%s policy selects %s pods: %v", tc.guards, c, got)
			}
			if selects(t, spec.PodSelector, podLabels(other, c)) {
				t.Errorf("%s policy selects %s pods of another LeapTerm", tc.guards, c)
			}
		}
		if len(spec.PolicyTypes) != 1 || spec.PolicyTypes[0] != networkingv1.PolicyTypeIngress {
			t.Errorf("%s policy types %v: egress must stay open", tc.guards, spec.PolicyTypes)
		}
		if len(spec.Ingress) != 1 || len(spec.Ingress[0].From) != 1 {
			t.Fatalf("%s policy has rules %+v, want one rule with one peer", tc.guards, spec.Ingress)
		}
		from := spec.Ingress[0].From[0]
		if from.NamespaceSelector != nil || from.IPBlock != nil {
			t.Errorf("%s policy admits peers outside the namespace", tc.guards)
		}
		for _, c := range all {
			want := false
			for _, a := range tc.admits {
				want = want || a == c
			}
			if got := selects(t, from.PodSelector, podLabels(term, c)); got != want {
				t.Errorf("%s policy admits %s pods: %v, want %v", tc.guards, c, got, want)
			}
			if selects(t, from.PodSelector, podLabels(other, c)) {
				t.Errorf("%s policy admits %s pods of another LeapTerm", tc.guards, c)
			}
		}
	}
}

// containerPorts are the ports of component c's container by name, and
// the values of its environment variables.
func containerPorts(term *v1alpha1.LeapTerm, c string) (ports map[string]int32, env map[string]string) {
	container := ServiceDeployment(term, c, images, "h").Spec.Template.Spec.Containers[0]
	ports, env = map[string]int32{}, map[string]string{}
	for _, p := range container.Ports {
		if *p.Protocol != corev1.ProtocolTCP {
			continue
		}
		ports[*p.Name] = *p.ContainerPort
	}
	for _, e := range container.Env {
		if e.Value != nil {
			env[*e.Name] = *e.Value
		}
	}
	return ports, env
}

// Every service's container declares the API's port and the metrics port
// it is told to listen on, and its Service exposes both by name, so that a
// ServiceMonitor can select "metrics".
func TestServicesExposeAPIAndMetricsPorts(t *testing.T) {
	term := leapTerm()
	for _, c := range Services {
		ports, env := containerPorts(term, c)
		want := map[string]int32{"http": 8080, "metrics": 9090}
		if !equality.Semantic.DeepEqual(ports, want) {
			t.Errorf("%s: container ports %v, want %v", c, ports, want)
		}
		if env["PORT"] != "8080" || env["METRICS_PORT"] != "9090" {
			t.Errorf("%s: PORT=%q METRICS_PORT=%q, not the container's ports", c, env["PORT"], env["METRICS_PORT"])
		}
		got := map[string]string{}
		for _, p := range Service(term, c).Spec.Ports {
			got[*p.Name] = fmt.Sprintf("%d->%s/%s", *p.Port, p.TargetPort.String(), *p.Protocol)
		}
		if want := map[string]string{"http": "80->http/TCP", "metrics": "9090->metrics/TCP"}; !equality.Semantic.DeepEqual(got, want) {
			t.Errorf("%s: Service ports %v, want %v", c, got, want)
		}
		probe := ServiceDeployment(term, c, images, "h").Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet
		if probe.Port.String() != "http" {
			t.Errorf("%s: readiness probe on %s, not the API's port where /readyz is served", c, probe.Port.String())
		}
	}
	if got := Service(term, Redis).Spec.Ports; len(got) != 1 || *got[0].Name != Redis {
		t.Errorf("the Redis Service exposes %+v", got)
	}
}

// policyPorts are the TCP ports a NetworkPolicy rule opens.
func policyPorts(t *testing.T, r networkingv1ac.NetworkPolicyIngressRuleApplyConfiguration) []int {
	t.Helper()
	var out []int
	for _, p := range r.Ports {
		if *p.Protocol != corev1.ProtocolTCP || p.EndPort != nil {
			t.Errorf("rule port %+v: want one TCP port", p)
		}
		out = append(out, p.Port.IntValue())
	}
	return out
}

func TestScoringIsReachableOnItsHTTPPortOnly(t *testing.T) {
	term := leapTerm()
	rules := ScoringNetworkPolicy(term).Spec.Ingress
	ports, _ := containerPorts(term, Scoring)
	if len(rules) != 1 {
		t.Fatalf("rules %+v, want the portal's alone", rules)
	}
	if got := policyPorts(t, rules[0]); len(got) != 1 || got[0] != int(ports["http"]) {
		t.Errorf("the portal is let in on %v, want the API's port %d alone (not the metrics port)", got, ports["http"])
	}
	if svc := Service(term, Scoring).Spec.Ports[0]; *svc.Name != "http" || svc.TargetPort.String() != "http" {
		t.Errorf("the Service's API port targets %s, not the port the policy opens", svc.TargetPort.String())
	}
}

func TestScoringMetricsScrapersAreLetIn(t *testing.T) {
	term := leapTerm()
	monitoring := map[string]string{"kubernetes.io/metadata.name": "monitoring"}
	term.Spec.Telemetry = &v1alpha1.Telemetry{MetricsFrom: []networkingv1.NetworkPolicyPeer{
		{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: monitoring},
			PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "app.kubernetes.io/name", Operator: metav1.LabelSelectorOpIn, Values: []string{"prometheus"}},
			}},
		},
		{NamespaceSelector: &metav1.LabelSelector{}},
		{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}}},
	}}
	rules := ScoringNetworkPolicy(term).Spec.Ingress
	if len(rules) != 2 {
		t.Fatalf("rules %+v, want the portal's and the scrapers'", rules)
	}
	if !selects(t, rules[0].From[0].PodSelector, podLabels(term, Portal)) {
		t.Error("the first rule no longer admits the portal")
	}
	scrapers := rules[1]
	ports, _ := containerPorts(term, Scoring)
	if got := policyPorts(t, scrapers); len(got) != 1 || got[0] != int(ports["metrics"]) {
		t.Errorf("scrapers let in on %v, want the metrics port %d alone: on the API's port they could call scoring", got, ports["metrics"])
	}
	if got := policyPorts(t, rules[0]); len(got) != 1 || got[0] != int(ports["http"]) {
		t.Errorf("with scrapers listed, the portal is let in on %v, want the API's port alone", got)
	}
	if len(scrapers.From) != 3 {
		t.Fatalf("peers %+v", scrapers.From)
	}
	prom := scrapers.From[0]
	if !equality.Semantic.DeepEqual(prom.NamespaceSelector.MatchLabels, monitoring) ||
		!selects(t, prom.PodSelector, map[string]string{"app.kubernetes.io/name": "prometheus"}) ||
		selects(t, prom.PodSelector, map[string]string{"app.kubernetes.io/name": "grafana"}) {
		t.Errorf("prometheus peer %+v", prom)
	}
	if every := scrapers.From[1]; every.NamespaceSelector == nil || every.PodSelector != nil {
		t.Error("an empty namespace selector (every namespace) was lost or narrowed")
	}
	if b := scrapers.From[2].IPBlock; *b.CIDR != "10.0.0.0/8" || !equality.Semantic.DeepEqual(b.Except, []string{"10.1.0.0/16"}) {
		t.Errorf("ip block %+v", b)
	}
}

// TestTrustedProxiesReachTheirServiceOnly: a component's trusted proxies
// become its TRUSTED_PROXIES; none set no variable, so a LeapTerm without
// them keeps its pods as they were.
func TestTrustedProxiesReachTheirServiceOnly(t *testing.T) {
	term := leapTerm()
	if v, ok := portalEnv(term)["TRUSTED_PROXIES"]; ok {
		t.Errorf("TRUSTED_PROXIES = %q with none in the LeapTerm", v)
	}
	term.Spec.Portal.TrustedProxies = []string{"10.0.0.0/8", "192.168.4.2"}
	if v := portalEnv(term)["TRUSTED_PROXIES"]; v != "10.0.0.0/8,192.168.4.2" {
		t.Errorf("TRUSTED_PROXIES = %q, want the portal's proxies", v)
	}
	for _, e := range ServiceDeployment(term, Ingestion, images, "h").Spec.Template.Spec.Containers[0].Env {
		if *e.Name == "TRUSTED_PROXIES" {
			t.Error("the portal's proxies reached ingestion")
		}
	}
}
