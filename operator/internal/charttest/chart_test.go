package charttest

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/diff"
	"sigs.k8s.io/yaml"

	"github.com/leap-dev/leap/operator/internal/testenv"
)

type releaseCase struct {
	name string
	release
	want want
}

// want is what a release must render.
type want struct {
	crd            bool   // the LeapTerm CRD
	keep           bool   // ... with helm.sh/resource-policy: keep
	rbac           string // "Cluster", "Namespace" or "" (none)
	watch          string // --watch-namespace; "" for every namespace
	serviceAccount bool   // a ServiceAccount
	metrics        bool   // metrics served, and their Service
	plainMetrics   bool   // ... over plain HTTP to anyone, not HTTPS to the authorized
	metricsCert    string // ... with the certificate of this Secret
	serviceMonitor bool
	registry       string // --image-registry
	imageTag       string // --image-tag; "" for the operator's own version
	portalPolicy   bool   // the portal's ValidatingAdmissionPolicy and its binding
}

// defaults is what the default values render.
var defaults = want{crd: true, keep: true, rbac: "Cluster", serviceAccount: true, metrics: true, registry: "ghcr.io/leap-dev", portalPolicy: true}

func with(change func(*want)) want {
	w := defaults
	change(&w)
	return w
}

// releases are the installs every check runs over: the defaults, every
// example of the chart (TestEveryExampleChecked keeps this list complete),
// and combinations the examples leave out.
var releases = []releaseCase{
	{"defaults", release{}, defaults},
	{"example namespaced", release{files: []string{"examples/namespaced.yaml"}},
		with(func(w *want) { w.rbac, w.watch = "Namespace", "leap" })},
	{"example cluster-wide with ServiceMonitor", release{files: []string{"examples/cluster-wide-servicemonitor.yaml"}},
		with(func(w *want) { w.serviceMonitor = true })},
	{"example crds disabled", release{files: []string{"examples/crds-disabled.yaml"}},
		with(func(w *want) { w.crd, w.registry = false, "registry.example.ac.uk/mirror/leap-dev" })},
	{"namespace scope in the release's namespace", release{set: []string{"rbac.scope=Namespace"}},
		with(func(w *want) { w.rbac, w.watch = "Namespace", releaseNamespace })},
	{"cluster scope watching one namespace", release{set: []string{"watchNamespace=leap"}},
		with(func(w *want) { w.watch = "leap" })},
	{"CRD not kept", release{set: []string{"crds.keep=false"}},
		with(func(w *want) { w.keep = false })},
	{"no portal policy", release{set: []string{"portalPolicy.enabled=false"}},
		with(func(w *want) { w.portalPolicy = false })},
	{"no metrics", release{set: []string{"metrics.enabled=false"}},
		with(func(w *want) { w.metrics = false })},
	{"plain metrics with a ServiceMonitor", release{set: []string{"metrics.secure=false", "serviceMonitor.enabled=true"}},
		with(func(w *want) { w.plainMetrics, w.serviceMonitor = true, true })},
	{"metrics certificate from a Secret, namespaced", release{set: []string{"metrics.certSecret=leap-operator-metrics-tls", "rbac.scope=Namespace"}},
		with(func(w *want) {
			w.metricsCert, w.rbac, w.watch = "leap-operator-metrics-tls", "Namespace", releaseNamespace
		})},
	{"RBAC and ServiceAccount managed elsewhere", release{set: []string{"rbac.create=false", "serviceAccount.create=false", "serviceAccount.name=leap-operator"}},
		with(func(w *want) { w.rbac, w.serviceAccount = "", false })},
	{"every knob", release{set: []string{
		"fullnameOverride=leap-operator", "replicaCount=3", "logLevel=debug",
		"image.digest=sha256:" + strings.Repeat("ab", 32),
		"componentImages.registry=registry.example.ac.uk/leap", "componentImages.tag=1.2.3", "componentImages.redis=redis:7.4",
		"extraArgs={--zap-encoder=console}", "podAnnotations.team=leap", "podLabels.tier=control",
		"nodeSelector.kubernetes\\.io/os=linux", "priorityClassName=system-cluster-critical",
		"commonLabels.university=essex", "serviceAccount.annotations.owner=leap",
		"metrics.service.annotations.scrape=yes", "metrics.port=9090", "healthProbe.port=9091",
		"imagePullSecrets[0].name=pull",
	}}, with(func(w *want) { w.registry, w.imageTag = "registry.example.ac.uk/leap", "1.2.3" })},
}

func TestLint(t *testing.T) {
	runs := [][]string{nil}
	examples, _ := filepath.Glob(filepath.Join(chartDir(), "examples", "*.yaml"))
	for _, e := range examples {
		runs = append(runs, []string{"-f", e})
	}
	for _, values := range runs {
		out, err := runHelm(append([]string{"lint", "--strict", chartDir()}, values...)...)
		if err != nil {
			t.Errorf("%v\n%s", err, out)
		}
	}
}

// TestEveryExampleChecked keeps releases in step with examples/: a new
// example needs its expectations written down.
func TestEveryExampleChecked(t *testing.T) {
	examples, _ := filepath.Glob(filepath.Join(chartDir(), "examples", "*.yaml"))
	if len(examples) == 0 {
		t.Fatal("the chart has no examples")
	}
	for _, e := range examples {
		rel := "examples/" + filepath.Base(e)
		if !slices.ContainsFunc(releases, func(r releaseCase) bool { return slices.Contains(r.files, rel) }) {
			t.Errorf("%s is not in releases: add it, with what it must render", rel)
		}
	}
}

// TestReleases renders each release, validates every object offline and by
// a server-side dry run, and checks that the objects fit together.
func TestReleases(t *testing.T) {
	crds := knownCRDs(t)
	for _, tc := range releases {
		t.Run(tc.name, func(t *testing.T) {
			objs := render(t, tc.release)
			for _, o := range objs {
				if err := validateOffline(o, crds); err != nil {
					t.Errorf("%s: %v", o, err)
				}
			}
			checkRelease(t, objs, tc.want)
			ctx := context.Background()
			for _, o := range objs {
				if ns := o.u.GetNamespace(); ns != "" {
					if err := ensureNamespace(ctx, ns); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, o := range objs {
				if err := dryRun(ctx, o.u); err != nil {
					t.Errorf("%s: not accepted by the API server: %v", o, err)
				}
			}
			// The pods the Deployment makes, under the restricted standard.
			for _, o := range objs {
				if o.u.GetKind() != "Deployment" {
					continue
				}
				d := decode[appsv1.Deployment](t, o)
				pod := &corev1.Pod{ObjectMeta: *d.Spec.Template.ObjectMeta.DeepCopy(), Spec: *d.Spec.Template.Spec.DeepCopy()}
				pod.Name, pod.Namespace = d.Name+"-pod", d.Namespace
				u := toUnstructured(t, pod)
				u.SetAPIVersion("v1")
				u.SetKind("Pod")
				if err := dryRun(ctx, u); err != nil {
					t.Errorf("a pod of %s: %v", o, err)
				}
			}
		})
	}
}

// checkRelease checks that the objects of one release are what w says and
// refer to each other correctly.
func checkRelease(t *testing.T, objs []object, w want) {
	byKind := map[string][]object{}
	for _, o := range objs {
		byKind[o.u.GetKind()] = append(byKind[o.u.GetKind()], o)
		isNamespaced, err := namespaced(o.u.GroupVersionKind())
		if err != nil {
			t.Errorf("%s: %v", o, err)
		} else if isNamespaced != (o.u.GetNamespace() != "") {
			t.Errorf("%s: namespaced %v but metadata.namespace %q", o, isNamespaced, o.u.GetNamespace())
		}
		l := o.u.GetLabels()
		if l["app.kubernetes.io/managed-by"] != "Helm" || l["app.kubernetes.io/instance"] != releaseName || l["app.kubernetes.io/part-of"] != "leap" {
			t.Errorf("%s: labels %v lack the chart's", o, l)
		}
	}
	count := func(kind string, n int) bool {
		t.Helper()
		if len(byKind[kind]) != n {
			t.Errorf("%d %s, want %d", len(byKind[kind]), kind, n)
			return false
		}
		return true
	}

	if !count("Deployment", 1) {
		return
	}
	d := decode[appsv1.Deployment](t, byKind["Deployment"][0])
	pod := d.Spec.Template
	if d.Namespace != releaseNamespace {
		t.Errorf("Deployment in %q, want the release's namespace", d.Namespace)
	}
	if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil || !sel.Matches(labels.Set(pod.Labels)) {
		t.Errorf("the Deployment's selector %v does not select its pods %v (%v)", d.Spec.Selector, pod.Labels, err)
	}
	checkPodSecurity(t, &pod.Spec)
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	args := flags(c.Args)
	if args["leader-elect"] != "true" {
		t.Errorf("--leader-elect=%q, want true", args["leader-elect"])
	}
	if want := releaseNamespace + "/" + releaseName; args["instance"] != want {
		t.Errorf("--instance=%q, want %q: the release claims its LeapTerms under its own name", args["instance"], want)
	}
	if args["watch-namespace"] != w.watch {
		t.Errorf("--watch-namespace=%q, want %q", args["watch-namespace"], w.watch)
	}
	if args["image-registry"] != w.registry {
		t.Errorf("--image-registry=%q, want %q", args["image-registry"], w.registry)
	}
	if args["image-tag"] != w.imageTag {
		t.Errorf("--image-tag=%q, want %q (empty: the operator's version)", args["image-tag"], w.imageTag)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if got := ":" + strconv.Itoa(int(ports["health"])); args["health-probe-bind-address"] != got {
		t.Errorf("--health-probe-bind-address=%q, but the port named health is %s", args["health-probe-bind-address"], got)
	}
	for probe, path := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != path || probe.HTTPGet.Port.String() != "health" {
			t.Errorf("probe %+v, want GET %s on port health", probe, path)
		}
	}
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
		t.Errorf("resources %v: want cpu and memory requests and a memory limit", c.Resources)
	}

	// The ServiceAccount and what binds it.
	if w.serviceAccount && count("ServiceAccount", 1) {
		if sa := byKind["ServiceAccount"][0].u; sa.GetName() != pod.Spec.ServiceAccountName || sa.GetNamespace() != releaseNamespace {
			t.Errorf("ServiceAccount %s/%s, but the pods run as %s", sa.GetNamespace(), sa.GetName(), pod.Spec.ServiceAccountName)
		}
	} else if !w.serviceAccount {
		count("ServiceAccount", 0)
	}
	checkRBAC(t, byKind, w, pod.Spec.ServiceAccountName)

	// Metrics: the Service in front of the port, the ServiceMonitor on the Service.
	if !w.metrics {
		if args["metrics-bind-address"] != "0" {
			t.Errorf("--metrics-bind-address=%q, want 0 (off)", args["metrics-bind-address"])
		}
		count("Service", 0)
	} else if count("Service", 1) {
		svc := decode[corev1.Service](t, byKind["Service"][0])
		if got := ":" + strconv.Itoa(int(ports["metrics"])); args["metrics-bind-address"] != got {
			t.Errorf("--metrics-bind-address=%q, but the port named metrics is %s", args["metrics-bind-address"], got)
		}
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			t.Errorf("the metrics Service selects %v, not the pods %v", svc.Spec.Selector, pod.Labels)
		}
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "metrics" {
			t.Errorf("metrics Service ports %v, want one to the port named metrics", svc.Spec.Ports)
		}
		if want := strconv.FormatBool(!w.plainMetrics); args["metrics-secure"] != want {
			t.Errorf("--metrics-secure=%q, want %s", args["metrics-secure"], want)
		}
		checkMetricsCert(t, &pod.Spec, args, w.metricsCert)
		if w.serviceMonitor && count("ServiceMonitor", 1) {
			sm := byKind["ServiceMonitor"][0].u
			endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
			if len(endpoints) != 1 {
				t.Fatalf("ServiceMonitor endpoints %v, want one", endpoints)
			}
			scheme, _ := endpoints[0].(map[string]any)["scheme"].(string)
			token, _ := endpoints[0].(map[string]any)["bearerTokenFile"].(string)
			if w.plainMetrics && (scheme != "http" || token != "") {
				t.Errorf("ServiceMonitor scrapes plain metrics with scheme %q and token %q, want http and none", scheme, token)
			} else if !w.plainMetrics && (scheme != "https" || token == "") {
				t.Errorf("ServiceMonitor scrapes secure metrics with scheme %q and token %q, want https and Prometheus's token", scheme, token)
			}
			port, _ := endpoints[0].(map[string]any)["port"].(string)
			if port != svc.Spec.Ports[0].Name {
				t.Errorf("ServiceMonitor scrapes port %q, the Service's is %q", port, svc.Spec.Ports[0].Name)
			}
			matchLabels, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
			if len(matchLabels) == 0 || !labels.SelectorFromSet(matchLabels).Matches(labels.Set(svc.Labels)) {
				t.Errorf("ServiceMonitor selects %v, not the Service %v", matchLabels, svc.Labels)
			}
			names, _, _ := unstructured.NestedStringSlice(sm.Object, "spec", "namespaceSelector", "matchNames")
			if !slices.Equal(names, []string{svc.Namespace}) {
				t.Errorf("ServiceMonitor looks in %v, the Service is in %s", names, svc.Namespace)
			}
		}
	}
	if !w.serviceMonitor {
		count("ServiceMonitor", 0)
	}

	// The portal's admission policy, bound, and limited to the watched namespace.
	policies := 0
	if w.portalPolicy {
		policies = 1
	}
	if count("ValidatingAdmissionPolicy", policies) && count("ValidatingAdmissionPolicyBinding", policies) && w.portalPolicy {
		policy := decode[admissionregistrationv1.ValidatingAdmissionPolicy](t, byKind["ValidatingAdmissionPolicy"][0])
		binding := decode[admissionregistrationv1.ValidatingAdmissionPolicyBinding](t, byKind["ValidatingAdmissionPolicyBinding"][0])
		if binding.Spec.PolicyName != policy.Name || !slices.Equal(binding.Spec.ValidationActions, []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}) {
			t.Errorf("binding %s: policy %q, actions %v; want %q, [Deny]", binding.Name, binding.Spec.PolicyName, binding.Spec.ValidationActions, policy.Name)
		}
		var only map[string]string
		if sel := policy.Spec.MatchConstraints.NamespaceSelector; sel != nil {
			only = sel.MatchLabels
		}
		if got := only["kubernetes.io/metadata.name"]; got != w.watch || (w.watch == "" && len(only) > 0) {
			t.Errorf("the portal policy selects namespaces %v, want the watched one %q", only, w.watch)
		}
		if m := policy.Spec.MatchConditions; len(m) != 1 || !strings.Contains(m[0].Expression, ":"+pod.Spec.ServiceAccountName+"'") {
			t.Errorf("the portal policy's match conditions %v do not leave out the operator's ServiceAccount %s", m, pod.Spec.ServiceAccountName)
		}
	}

	// The CRD: the one of config/, with the chart's labels and keep policy.
	if !w.crd {
		count("CustomResourceDefinition", 0)
	} else if count("CustomResourceDefinition", 1) {
		crd := decode[apiextensionsv1.CustomResourceDefinition](t, byKind["CustomResourceDefinition"][0])
		source := configCRD(t, crd.Name)
		if !equality.Semantic.DeepEqual(crd.Spec, source.Spec) {
			t.Errorf("the chart's CRD %s differs from config/crd/bases: run `make chart-sync`\n%s", crd.Name, diff.Diff(source.Spec, crd.Spec))
		}
		if got := crd.Annotations["helm.sh/resource-policy"] == "keep"; got != w.keep {
			t.Errorf("CRD kept on uninstall: %v, want %v (annotations %v)", got, w.keep, crd.Annotations)
		}
		for k, v := range source.Annotations {
			if crd.Annotations[k] != v {
				t.Errorf("CRD annotation %s=%q, config/ has %q", k, crd.Annotations[k], v)
			}
		}
	}
}

func checkRBAC(t *testing.T, byKind map[string][]object, w want, serviceAccount string) {
	byKind = checkMetricsRBAC(t, byKind, w, serviceAccount)
	rules := configRules(t)
	boundTo := func(o object, roleKind, roleName string) {
		t.Helper()
		b := struct {
			RoleRef  rbacv1.RoleRef   `json:"roleRef"`
			Subjects []rbacv1.Subject `json:"subjects"`
		}{}
		if err := json.Unmarshal(o.json, &b); err != nil {
			t.Fatal(err)
		}
		if b.RoleRef.Kind != roleKind || b.RoleRef.Name != roleName {
			t.Errorf("%s binds %s %s, want %s %s", o, b.RoleRef.Kind, b.RoleRef.Name, roleKind, roleName)
		}
		want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: serviceAccount, Namespace: releaseNamespace}}
		if !equality.Semantic.DeepEqual(b.Subjects, want) {
			t.Errorf("%s binds %v, want %v", o, b.Subjects, want)
		}
	}
	n := func(kind string) int { return len(byKind[kind]) }
	switch w.rbac {
	case "":
		if n("ClusterRole")+n("ClusterRoleBinding")+n("Role")+n("RoleBinding") > 0 {
			t.Errorf("RBAC rendered with rbac.create false")
		}
	case "Cluster":
		if n("ClusterRole") != 1 || n("ClusterRoleBinding") != 1 || n("Role")+n("RoleBinding") > 0 {
			t.Fatalf("want one ClusterRole and its binding and no Role; got %d, %d, %d, %d",
				n("ClusterRole"), n("ClusterRoleBinding"), n("Role"), n("RoleBinding"))
		}
		role := decode[rbacv1.ClusterRole](t, byKind["ClusterRole"][0])
		if !equality.Semantic.DeepEqual(role.Rules, rules) {
			t.Errorf("ClusterRole rules differ from config/rbac/role.yaml: run `make chart-sync`\n%s", diff.Diff(rules, role.Rules))
		}
		boundTo(byKind["ClusterRoleBinding"][0], "ClusterRole", role.Name)
	case "Namespace":
		if n("ClusterRole")+n("ClusterRoleBinding") > 0 {
			t.Errorf("cluster-wide RBAC rendered with rbac.scope Namespace")
		}
		leaderElection := w.watch != releaseNamespace
		roles := map[string]rbacv1.Role{}
		for _, o := range byKind["Role"] {
			r := decode[rbacv1.Role](t, o)
			roles[r.Namespace+"/"+r.Name] = r
		}
		var main *rbacv1.Role
		for _, r := range roles {
			if r.Namespace == w.watch && equality.Semantic.DeepEqual(r.Rules, rules) {
				main = &r
			}
		}
		if main == nil {
			t.Fatalf("no Role in %s with the rules of config/rbac/role.yaml among %v", w.watch, slices.Collect(maps.Keys(roles)))
		}
		if want := map[bool]int{false: 1, true: 2}[leaderElection]; len(roles) != want || n("RoleBinding") != want {
			t.Errorf("%d Roles and %d RoleBindings, want %d each", len(roles), n("RoleBinding"), want)
		}
		for _, o := range byKind["RoleBinding"] {
			r, ok := roles[o.u.GetNamespace()+"/"+o.u.GetName()]
			if !ok {
				t.Errorf("%s: no Role of the same name", o)
				continue
			}
			boundTo(o, "Role", r.Name)
			if r.Namespace == releaseNamespace && leaderElection && !grants(r.Rules, "coordination.k8s.io", "leases", "update") {
				t.Errorf("Role %s/%s: the operator cannot hold its Lease", r.Namespace, r.Name)
			}
		}
	}
}

// TestNotes installs each release in client dry-run mode and applies, in a
// server-side dry run, the LeapTerm NOTES.txt tells people to apply.
func TestNotes(t *testing.T) {
	crds := knownCRDs(t)
	leapTerm := regexp.MustCompile(`(?s)kubectl apply -f - <<'LEAPTERM'\n(.*?)\nLEAPTERM\n`)
	for _, tc := range releases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"install", releaseName, chartDir(), "--namespace", releaseNamespace,
				"--dry-run=client", "--take-ownership", "--output", "json"}, tc.valueArgs()...)
			out, err := runHelm(args...)
			if err != nil {
				t.Fatal(err)
			}
			var rel struct {
				Info struct {
					Notes string `json:"notes"`
				} `json:"info"`
			}
			if err := json.Unmarshal([]byte(out), &rel); err != nil {
				t.Fatalf("helm install --output json: %v", err)
			}
			notes := rel.Info.Notes
			m := leapTerm.FindStringSubmatch(notes)
			if m == nil {
				t.Fatalf("NOTES.txt shows no LeapTerm to apply:\n%s", notes)
			}
			objs, err := parseObjects(m[1])
			if err != nil || len(objs) != 1 || objs[0].u.GetKind() != "LeapTerm" {
				t.Fatalf("NOTES.txt's LeapTerm: %v, %d objects\n%s", err, len(objs), m[1])
			}
			term := objs[0]
			wantNS := tc.want.watch
			if wantNS == "" {
				wantNS = "leap"
				if !strings.Contains(notes, "kubectl create namespace leap") {
					t.Errorf("NOTES.txt does not create the namespace it applies the LeapTerm in:\n%s", notes)
				}
			}
			if term.u.GetNamespace() != wantNS {
				t.Errorf("NOTES.txt applies the LeapTerm in %q, want %q (the operator watches %q)", term.u.GetNamespace(), wantNS, tc.want.watch)
			}
			if strings.Contains(notes, "crds.enabled is false") == tc.want.crd {
				t.Errorf("NOTES.txt about installing the CRD, with crds.enabled %v:\n%s", tc.want.crd, notes)
			}
			if err := validateOffline(term, crds); err != nil {
				t.Errorf("NOTES.txt's LeapTerm: %v", err)
			}
			ctx := context.Background()
			if err := ensureNamespace(ctx, wantNS); err != nil {
				t.Fatal(err)
			}
			if err := dryRun(ctx, term.u); err != nil {
				t.Errorf("NOTES.txt's LeapTerm is not accepted: %v", err)
			}
		})
	}
}

// TestSamplesFitChartCRD checks every LeapTerm of config/samples against the
// schema of the CRD the chart installs.
func TestSamplesFitChartCRD(t *testing.T) {
	crds := crdSchemas{}
	for _, o := range render(t, release{}) {
		if o.u.GetKind() == "CustomResourceDefinition" {
			crd := decode[apiextensionsv1.CustomResourceDefinition](t, o)
			if err := crds.add(&crd); err != nil {
				t.Fatal(err)
			}
		}
	}
	samples, _ := filepath.Glob(filepath.Join(testenv.Root(), "config", "samples", "leap_*.yaml"))
	if len(samples) == 0 {
		t.Fatal("no sample in config/samples")
	}
	for _, s := range samples {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := parseObjects(string(b))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if err := validateOffline(o, crds); err != nil {
				t.Errorf("%s: %v", filepath.Base(s), err)
			}
		}
	}
}

// TestValuesRejected: values.schema.json and the chart's own checks refuse
// a wrong value with a message that names it.
func TestValuesRejected(t *testing.T) {
	for _, tc := range []struct{ set, message string }{
		{"rbac.scope=cluster", "/rbac/scope"},
		{"replicas=2", "'replicas' not allowed"},
		{"crds.enabld=false", "'enabld' not allowed"},
		{"image.digest=sha256:abc", "/image/digest"},
		{"watchNamespace=Leap", "/watchNamespace"},
		{"serviceMonitor.interval=30", "/serviceMonitor/interval"},
		{"resources.limits.memory=lots", "/resources/limits/memory"},
		{"metrics.port=0", "/metrics/port"},
		{"extraArgs={watch-namespace=x}", "/extraArgs/0"},
		{"serviceMonitor.enabled=true,metrics.enabled=false", "serviceMonitor.enabled needs metrics.enabled"},
		{"replicaCount=2,leaderElection.enabled=false", "replicaCount above 1 needs leaderElection.enabled"},
		{"serviceAccount.create=false", "serviceAccount.name is required"},
	} {
		_, err := release{set: []string{tc.set}}.template()
		if err == nil || !strings.Contains(err.Error(), tc.message) {
			t.Errorf("--set %s: %v, want an error naming %q", tc.set, err, tc.message)
		}
	}
}

// TestChecksCatch makes sure the checks above are not vacuous: each broken
// object must be refused by the check that guards against it.
func TestChecksCatch(t *testing.T) {
	crds := knownCRDs(t)
	objs := render(t, release{set: []string{"serviceMonitor.enabled=true"}})
	find := func(kind string) object {
		for _, o := range objs {
			if o.u.GetKind() == kind {
				return object{source: o.source, u: o.u.DeepCopy()}
			}
		}
		t.Fatalf("no %s rendered", kind)
		return object{}
	}
	// broken is a copy of o with value at path.
	broken := func(o object, path []string, value any) object {
		t.Helper()
		o.u = o.u.DeepCopy()
		if err := unstructured.SetNestedField(o.u.Object, value, path...); err != nil {
			t.Fatal(err)
		}
		js, err := o.u.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		o.json = js
		return o
	}
	ctx := context.Background()
	if err := ensureNamespace(ctx, releaseNamespace); err != nil {
		t.Fatal(err)
	}

	unknownInDeployment := broken(find("Deployment"), []string{"spec", "template", "spec", "hostname2"}, "x")
	if err := validateOffline(unknownInDeployment, crds); err == nil || !strings.Contains(err.Error(), "hostname2") {
		t.Errorf("strict decoding let an unknown field through: %v", err)
	}
	if err := dryRun(ctx, unknownInDeployment.u); err == nil || !strings.Contains(err.Error(), "hostname2") {
		t.Errorf("the dry run let an unknown field through: %v", err)
	}
	privileged := broken(find("Deployment"), []string{"spec", "template", "spec", "hostNetwork"}, true)
	if err := dryRun(ctx, privileged.u); err == nil || !strings.Contains(err.Error(), "restricted") {
		t.Errorf("the dry run let a pod template that breaks the restricted standard through: %v", err)
	}
	unknownInMonitor := broken(find("ServiceMonitor"), []string{"spec", "sampleLimitt"}, int64(1))
	if err := validateOffline(unknownInMonitor, crds); err == nil || !strings.Contains(err.Error(), "sampleLimitt") {
		t.Errorf("the ServiceMonitor's schema let an unknown field through offline: %v", err)
	}
	if err := dryRun(ctx, unknownInMonitor.u); err == nil || !strings.Contains(err.Error(), "sampleLimitt") {
		t.Errorf("the ServiceMonitor's CRD let an unknown field through: %v", err)
	}
	term := object{source: "test", u: &unstructured.Unstructured{}}
	term.u.SetAPIVersion("leap.dev/v1alpha1")
	term.u.SetKind("LeapTerm")
	term.u.SetName("bad")
	term.u.SetNamespace(releaseNamespace)
	term = broken(term, []string{"spec", "terms"}, []any{map[string]any{"name": "autumn", "start": "2026-10-05", "end": "2026-12-11"}})
	if err := validateOffline(broken(term, []string{"spec", "attendanceSwitch"}, map[string]any{}), crds); err == nil {
		t.Error("a LeapTerm with an unknown field passed the CRD's schema offline")
	}
	if err := validateOffline(broken(term, []string{"spec", "scoring", "windowDays"}, "seven"), crds); err == nil {
		t.Error("a LeapTerm with a string for a number passed the CRD's schema offline")
	}
	if err := dryRun(ctx, term.u); err != nil {
		t.Fatalf("the LeapTerm the checks below break is not accepted as it is: %v", err)
	}
	if err := validateOffline(broken(term, []string{"spec", "redis", "mode"}, "Sideways"), crds); err == nil {
		t.Error("a LeapTerm with an unknown Redis mode passed the CRD's schema offline")
	}
	reversed := broken(term, []string{"spec", "terms"}, []any{map[string]any{"name": "autumn", "start": "2026-12-11", "end": "2026-10-05"}})
	if err := validateOffline(reversed, crds); err != nil {
		t.Errorf("offline: %v (a term that ends before it starts is for CEL, on the server)", err)
	}
	if err := dryRun(ctx, reversed.u); !apierrors.IsInvalid(err) {
		t.Errorf("a LeapTerm whose term ends before it starts: %v, want Invalid from the CRD's rules", err)
	}
}

// TestVersionFollowsMakefile: the chart's appVersion, the operator's image
// tag and so the default tag of every component, is the Makefile's VERSION.
func TestVersionFollowsMakefile(t *testing.T) {
	makefile, err := os.ReadFile(filepath.Join(testenv.Root(), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^VERSION\s*\?=\s*(\S+)`).FindSubmatch(makefile)
	if m == nil {
		t.Fatal("no VERSION in the Makefile")
	}
	chart := struct {
		AppVersion string `json:"appVersion"`
	}{}
	if err := readYAMLLoose(filepath.Join(chartDir(), "Chart.yaml"), &chart); err != nil {
		t.Fatal(err)
	}
	if chart.AppVersion != string(m[1]) {
		t.Errorf("Chart.yaml appVersion %q, Makefile VERSION %q: run `make chart-sync`", chart.AppVersion, m[1])
	}
	for _, o := range render(t, release{}) {
		if o.u.GetKind() == "Deployment" {
			d := decode[appsv1.Deployment](t, o)
			if img := d.Spec.Template.Spec.Containers[0].Image; img != "ghcr.io/leap-dev/leap-operator:"+chart.AppVersion {
				t.Errorf("operator image %s, want the appVersion %s", img, chart.AppVersion)
			}
		}
	}
}

// checkPodSecurity checks what the restricted Pod Security Standard leaves
// open and the chart promises: a read-only root file system, resources.
func checkPodSecurity(t *testing.T, spec *corev1.PodSpec) {
	t.Helper()
	for _, c := range spec.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("container %s: root file system not read-only", c.Name)
		}
	}
	if psc := spec.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod does not require a non-root user")
	}
}

// configCRD is the CRD name of config/crd/bases.
func configCRD(t *testing.T, name string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(testenv.Root(), "config", "crd", "bases", "*.yaml"))
	for _, f := range files {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := readYAML(f, crd); err != nil {
			t.Fatal(err)
		}
		if crd.Name == name {
			return crd
		}
	}
	t.Fatalf("no CRD %s in config/crd/bases", name)
	return nil
}

// configRules are the rules of the operator's ClusterRole in config/rbac.
func configRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	role := &rbacv1.ClusterRole{}
	if err := readYAML(filepath.Join(testenv.Root(), "config", "rbac", "role.yaml"), role); err != nil {
		t.Fatal(err)
	}
	if len(role.Rules) == 0 {
		t.Fatal("config/rbac/role.yaml has no rules")
	}
	return role.Rules
}

func grants(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) {
			return true
		}
	}
	return false
}

// decode decodes o into its Go type, strictly.
func decode[T any](t *testing.T, o object) T {
	t.Helper()
	var v T
	obj, _, err := strictCodecs.UniversalDeserializer().Decode(o.json, nil, nil)
	if err != nil {
		t.Fatalf("%s: %v", o, err)
	}
	typed, ok := any(obj).(*T)
	if !ok {
		t.Fatalf("%s: decoded as %T, want %T", o, obj, &v)
	}
	return *typed
}

func toUnstructured(t *testing.T, obj runtime.Object) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

// flags maps --name=value arguments to value.
func flags(args []string) map[string]string {
	m := map[string]string{}
	for _, a := range args {
		name, value, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		m[name] = value
	}
	return m
}

// readYAMLLoose reads the fields of file that into has, ignoring the others.
func readYAMLLoose(file string, into any) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	return yaml.Unmarshal(b, into)
}

// checkMetricsRBAC checks the ClusterRoles of secure metrics (the operator's
// TokenReviews and SubjectAccessReviews, and GET /metrics for a scraper) and
// returns byKind without them, for checkRBAC to check the operator's own.
func checkMetricsRBAC(t *testing.T, byKind map[string][]object, w want, serviceAccount string) map[string][]object {
	t.Helper()
	rest := map[string][]object{}
	found := map[string]object{}
	for kind, objs := range byKind {
		for _, o := range objs {
			if (kind == "ClusterRole" || kind == "ClusterRoleBinding") &&
				(strings.HasSuffix(o.u.GetName(), "-metrics-auth") || strings.HasSuffix(o.u.GetName(), "-metrics-reader")) {
				found[kind+"/"+o.u.GetName()[strings.LastIndex(o.u.GetName(), "-metrics-"):]] = o
				continue
			}
			rest[kind] = append(rest[kind], o)
		}
	}
	if !w.metrics || w.plainMetrics || w.rbac == "" {
		if len(found) > 0 {
			t.Errorf("metrics RBAC %v rendered without secure metrics or without rbac.create", slices.Collect(maps.Keys(found)))
		}
		return rest
	}
	auth, reader, binding := found["ClusterRole/-metrics-auth"], found["ClusterRole/-metrics-reader"], found["ClusterRoleBinding/-metrics-auth"]
	if auth.u == nil || reader.u == nil || binding.u == nil || len(found) != 3 {
		t.Errorf("secure metrics need the metrics-auth ClusterRole and its binding and the metrics-reader ClusterRole; got %v", slices.Collect(maps.Keys(found)))
		return rest
	}
	wantAuth := []rbacv1.PolicyRule{
		{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
		{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
	}
	if got := decode[rbacv1.ClusterRole](t, auth).Rules; !equality.Semantic.DeepEqual(got, wantAuth) {
		t.Errorf("metrics-auth rules %v, want only %v", got, wantAuth)
	}
	wantReader := []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}
	if got := decode[rbacv1.ClusterRole](t, reader).Rules; !equality.Semantic.DeepEqual(got, wantReader) {
		t.Errorf("metrics-reader rules %v, want %v", got, wantReader)
	}
	b := decode[rbacv1.ClusterRoleBinding](t, binding)
	wantSubjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: serviceAccount, Namespace: releaseNamespace}}
	if b.RoleRef.Name != auth.u.GetName() || !equality.Semantic.DeepEqual(b.Subjects, wantSubjects) {
		t.Errorf("metrics-auth binding %v to %v, want %s to %v", b.RoleRef, b.Subjects, auth.u.GetName(), wantSubjects)
	}
	return rest
}

// checkMetricsCert checks that the metrics endpoint serves the certificate
// of Secret name (mounted where --metrics-cert-dir points), or none.
func checkMetricsCert(t *testing.T, pod *corev1.PodSpec, args map[string]string, name string) {
	t.Helper()
	if name == "" {
		if args["metrics-cert-dir"] != "" || len(pod.Volumes) > 0 {
			t.Errorf("--metrics-cert-dir=%q and volumes %v without metrics.certSecret", args["metrics-cert-dir"], pod.Volumes)
		}
		return
	}
	var volume string
	for _, v := range pod.Volumes {
		if v.Secret != nil && v.Secret.SecretName == name {
			volume = v.Name
		}
	}
	mounted := false
	for _, m := range pod.Containers[0].VolumeMounts {
		mounted = mounted || (m.Name == volume && m.MountPath == args["metrics-cert-dir"] && m.ReadOnly)
	}
	if volume == "" || !mounted || args["metrics-cert-dir"] == "" {
		t.Errorf("Secret %s is not mounted read-only where --metrics-cert-dir=%q points (volumes %v)", name, args["metrics-cert-dir"], pod.Volumes)
	}
}
