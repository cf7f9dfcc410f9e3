package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	build "github.com/leap-dev/leap/operator/internal/builder"
	"github.com/leap-dev/leap/operator/internal/cluster"
	"github.com/leap-dev/leap/operator/internal/controller"
	"github.com/leap-dev/leap/operator/internal/testenv"
)

// The typical sample: the LeapTerm the policy, scale, break, restart and
// delete steps act on.
const typical = "y2026-27"

const (
	wait = 30 * time.Second
	poll = 50 * time.Millisecond
)

// The tests run in file order; each builds on the state the previous left.

// TestChartInstall installs the chart with helm and runs the real operator
// binary with the chart's flags, as the chart's ServiceAccount: whatever the
// chart's RBAC forgets fails the later tests.
func TestChartInstall(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	started := time.Now()
	// TestMain installed the chart (replicaCount=0) before the controllers
	// started; the release is deployed and its Deployment rolled out.
	out, err := helm(env.cluster.Kubeconfig, "status", releaseName, "--namespace", releaseNamespace)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(ContainSubstring("STATUS: deployed"))

	var d *appsv1.Deployment
	g.Eventually(func(g Gomega) {
		d, err = chartDeployment(ctx)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(d.Spec.Replicas).To(HaveValue(BeEquivalentTo(0)))
		g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation), "the Deployment controller saw it")
	}, wait, poll).Should(Succeed())
	sa := d.Spec.Template.Spec.ServiceAccountName
	g.Expect(sa).NotTo(BeEmpty())
	env.sa = "system:serviceaccount:" + releaseNamespace + ":" + sa
	env.opKubecfg = filepath.Join(env.tmp, "operator.kubeconfig")
	g.Expect(cluster.WriteKubeconfig(env.cluster.Config, env.opKubecfg, env.sa)).To(Succeed())

	// The chart's arguments, but for what a local process does otherwise:
	// free loopback ports instead of the pod's, and the Lease's namespace,
	// which controller-runtime finds by itself only in a pod.
	var leaderElect bool
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		switch {
		case strings.HasPrefix(a, "--metrics-bind-address="), strings.HasPrefix(a, "--health-probe-bind-address="):
		case strings.HasPrefix(a, "--leader-elect="):
			leaderElect = a == "--leader-elect=true"
		default:
			env.opArgs = append(env.opArgs, a)
		}
	}
	g.Expect(leaderElect).To(BeTrue(), "the chart elects a leader by default")
	env.opArgs = append(env.opArgs, "--leader-elect=true", "--leader-election-namespace="+releaseNamespace)

	cs, err := kubernetes.NewForConfig(impersonating(env.sa))
	g.Expect(err).NotTo(HaveOccurred())
	for _, verb := range []string{"get", "create", "update"} {
		review, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: releaseNamespace, Verb: verb, Group: "coordination.k8s.io", Resource: "leases",
			}},
		}, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(review.Status.Allowed).To(BeTrue(), "%s may %s leases in %s (leader election)", env.sa, verb, releaseNamespace)
	}

	g.Expect(env.opArgs).To(ContainElement("--metrics-secure=true"), "the chart serves metrics securely by default")
	env.scrapeAuth = "Bearer " + serviceAccountToken(t, releaseNamespace, "prometheus", releaseName)

	env.running, err = startOperator(env.operator)
	g.Expect(err).NotTo(HaveOccurred())
	t.Logf("chart installed and operator running as %s in %s (args %v)", env.sa, time.Since(started).Round(time.Millisecond), env.opArgs)
}

// serviceAccountToken makes a ServiceAccount and returns a token of it. With
// a release, the ServiceAccount is bound to that release's metrics-reader
// ClusterRole, as a cluster's Prometheus would be.
func serviceAccountToken(t *testing.T, ns, name, release string) string {
	t.Helper()
	g := NewWithT(t)
	ctx := t.Context()
	g.Expect(env.k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})).To(Succeed())
	if release != "" {
		roles := &rbacv1.ClusterRoleList{}
		g.Expect(env.k8s.List(ctx, roles, client.MatchingLabels{"app.kubernetes.io/instance": release})).To(Succeed())
		var reader string
		for _, r := range roles.Items {
			if strings.HasSuffix(r.Name, "-metrics-reader") {
				reader = r.Name
			}
		}
		g.Expect(reader).NotTo(BeEmpty(), "release %s has a metrics-reader ClusterRole", release)
		g.Expect(env.k8s.Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + name + "-metrics-reader"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reader},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}},
		})).To(Succeed())
	}
	cs, err := kubernetes.NewForConfig(env.cluster.Config)
	g.Expect(err).NotTo(HaveOccurred())
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	return tr.Status.Token
}

// TestSamplesBecomeReady applies every sample and waits for Ready=True,
// which needs the real Deployment and StatefulSet controllers, the scheduler,
// kwok's ready pods and, for Managed Redis, the PersistentVolume binder.
func TestSamplesBecomeReady(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	requireOperator(t)
	started := time.Now()
	g.Expect(env.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: samplesNamespace}})).To(Succeed())
	samples, err := filepath.Glob(filepath.Join(testenv.Root(), "config", "samples", "leap_v1alpha1_leapterm_*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(samples).To(HaveLen(3))
	for _, s := range samples {
		_, err := kubectl("apply", "-f", s)
		g.Expect(err).NotTo(HaveOccurred())
	}
	terms := &v1alpha1.LeapTermList{}
	g.Expect(env.k8s.List(ctx, terms, client.InNamespace(samplesNamespace))).To(Succeed())
	g.Expect(terms.Items).To(HaveLen(len(samples)))
	for _, term := range terms.Items {
		eventuallyCondition(t, term.Name, controller.ConditionReady, metav1.ConditionTrue, 60*time.Second)
	}
	for _, term := range terms.Items {
		lt := getTerm(t, term.Name)
		if lt.Spec.Redis.Mode != v1alpha1.RedisExternal {
			sts := &appsv1.StatefulSet{}
			g.Expect(env.k8s.Get(ctx, types.NamespacedName{Namespace: samplesNamespace, Name: term.Name + "-redis"}, sts)).To(Succeed())
			g.Expect(sts.Status.ReadyReplicas).To(BeNumerically(">=", 1), "%s: Redis is ready through its bound claim", term.Name)
		}
	}
	t.Logf("%d samples Ready in %s", len(samples), time.Since(started).Round(time.Millisecond))

	out, err := kubectl("get", "leapterms", "-n", samplesNamespace)
	g.Expect(err).NotTo(HaveOccurred())
	t.Logf("kubectl get leapterms:\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	g.Expect(strings.Fields(lines[0])).To(Equal([]string{"NAME", "ATTENDANCE", "PERIOD", "READY", "PAUSED", "SEEN", "AGE"}))
	g.Expect(lines).To(HaveLen(1 + len(samples)))
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		g.Expect(f).To(HaveLen(7), "every column has a value: %q", l)
		g.Expect(f[1]).To(BeElementOf("true", "false"), "ATTENDANCE is what runs: %q", l)
		g.Expect(f[3:5]).To(Equal([]string{"True", "False"}), "READY, PAUSED: %q", l)
		g.Expect(f[5]).To(MatchRegexp(`^[0-9]+s$`), "SEEN: an operator looked seconds ago: %q", l)
	}
	wide, err := kubectl("get", "leapterm", typical, "-n", samplesNamespace, "-o", "wide")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(strings.Fields(strings.SplitN(wide, "\n", 2)[0])).To(ContainElements("REASON", "MESSAGE"))
	g.Expect(wide).To(ContainSubstring(controller.ReasonAllReady))
	g.Expect(wide).To(ContainSubstring("every component is ready and runs policy"))
}

// TestMetricsNeedAnAuthorizedToken scrapes the operator as the chart runs
// it: HTTPS, and only for a token the API server authenticates whose owner
// may GET /metrics (the release's metrics-reader ClusterRole). The operator
// asks through TokenReviews and SubjectAccessReviews, as the chart's
// ServiceAccount: whatever the chart's RBAC for them lacks fails here.
func TestMetricsNeedAnAuthorizedToken(t *testing.T) {
	g := NewWithT(t)
	requireOperator(t)
	stranger := "Bearer " + serviceAccountToken(t, releaseNamespace, "stranger", "")
	for auth, want := range map[string]int{
		"":                   http.StatusUnauthorized,
		"Bearer not-a-token": http.StatusUnauthorized,
		stranger:             http.StatusForbidden,
		env.scrapeAuth:       http.StatusOK,
	} {
		resp, err := env.running.scrape(auth)
		g.Expect(err).NotTo(HaveOccurred())
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(want), "%.20s...: %s", auth, body)
		if want == http.StatusOK {
			g.Expect(string(body)).To(ContainSubstring(`leap_leapterm_status_condition{condition="Ready",name="minimal",namespace="leap",status="true"} 1`))
		}
	}
}

// TestSecondReleaseReconcilesItsOwn installs a second release of the chart
// for another tenant: crds.enabled=false (the first release keeps the CRD),
// its own namespace, namespaced RBAC and a registry of its own. Its operator
// makes its LeapTerm Ready, and the two operators never fight: each
// LeapTerm's children keep the images of the instance that claimed it
// (the first operator, cluster-wide, sees the second's LeapTerm too).
func TestSecondReleaseReconcilesItsOwn(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	requireOperator(t)
	started := time.Now()
	const release, ns, registry = "tenant-b", "tenant-b", "registry.b.example/leap"
	_, err := helm(env.cluster.Kubeconfig, "install", release, filepath.Join(testenv.Root(), "charts", "leap-operator"),
		"--namespace", ns, "--create-namespace", "--set", "crds.enabled=false,rbac.scope=Namespace,replicaCount=0,componentImages.registry="+registry)
	g.Expect(err).NotTo(HaveOccurred())

	list := &appsv1.DeploymentList{}
	g.Expect(env.k8s.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/instance": release})).To(Succeed())
	g.Expect(list.Items).To(HaveLen(1))
	d := list.Items[0]
	sa := "system:serviceaccount:" + ns + ":" + d.Spec.Template.Spec.ServiceAccountName
	kubeconfig := filepath.Join(env.tmp, release+".kubeconfig")
	g.Expect(cluster.WriteKubeconfig(env.cluster.Config, kubeconfig, sa)).To(Succeed())
	var args []string
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		switch {
		case strings.HasPrefix(a, "--metrics-bind-address="), strings.HasPrefix(a, "--health-probe-bind-address="):
		default:
			args = append(args, a)
		}
	}
	g.Expect(args).To(ContainElements("--instance="+ns+"/"+release, "--watch-namespace="+ns))
	args = append(args, "--leader-election-namespace="+ns)
	second, err := startOperatorAs(env.operator, args, kubeconfig)
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = second.stop() })

	// Its LeapTerm names its instance, as a tenant's manifests would: the
	// first operator, which watches every namespace, must leave it be.
	term := &v1alpha1.LeapTerm{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "b-2026",
		Annotations: map[string]string{v1alpha1.OperatorAnnotation: ns + "/" + release}}}
	term.Spec.Terms = []v1alpha1.DateRange{{Name: "autumn", Start: "2026-09-28", End: "2026-12-11"}}
	g.Expect(env.k8s.Create(ctx, term)).To(Succeed())
	g.Eventually(func(g Gomega) {
		lt := &v1alpha1.LeapTerm{}
		g.Expect(env.k8s.Get(ctx, client.ObjectKeyFromObject(term), lt)).To(Succeed())
		g.Expect(condition(lt, controller.ConditionReady)).To(Equal(metav1.ConditionTrue))
	}, 60*time.Second, poll).Should(Succeed())

	images := func(g Gomega, ns string) []string {
		list := &appsv1.DeploymentList{}
		g.Expect(env.k8s.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		var out []string
		for _, d := range list.Items {
			if d.Labels["app.kubernetes.io/instance"] != release {
				out = append(out, d.Spec.Template.Spec.Containers[0].Image)
			}
		}
		return out
	}
	g.Consistently(func(g Gomega) {
		g.Expect(images(g, ns)).To(HaveLen(3))
		g.Expect(images(g, ns)).To(HaveEach(HavePrefix(registry+"/")), "the second release's LeapTerm runs its registry")
		g.Expect(images(g, samplesNamespace)).To(HaveEach(HavePrefix("ghcr.io/leap-dev/")), "the first release's LeapTerms run its registry")
		lt := &v1alpha1.LeapTerm{}
		g.Expect(env.k8s.Get(ctx, client.ObjectKeyFromObject(term), lt)).To(Succeed())
		g.Expect(lt.Annotations).To(HaveKeyWithValue(v1alpha1.OperatorAnnotation, ns+"/"+release))
	}, 2*time.Second, 200*time.Millisecond).Should(Succeed())
	t.Logf("second release (crds.enabled=false, namespaced) installed and its LeapTerm Ready in %s", time.Since(started).Round(time.Millisecond))
}

// TestAttendanceFlipRollsOutPolicy switches attendance off: the policy
// ConfigMap changes, each Deployment rolls a new ReplicaSet, PolicyApplied
// goes False and back True, and every ready pod carries the new hash.
func TestAttendanceFlipRollsOutPolicy(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	requireOperator(t)
	started := time.Now()
	before := getTerm(t, typical)
	g.Expect(before.Spec.Attendance.Enabled).To(HaveValue(BeTrue()))
	oldHash := before.Status.PolicyHash
	g.Expect(oldHash).NotTo(BeEmpty())
	cm := &corev1.ConfigMap{}
	g.Expect(env.k8s.Get(ctx, key(typical+"-policy"), cm)).To(Succeed())
	oldPolicy := cm.Data
	oldRS := map[string][]string{}
	for _, c := range build.Services {
		oldRS[c] = replicaSets(t, typical+"-"+c)
	}

	// Watch the LeapTerm from here on, to see PolicyApplied's every value.
	w, err := dynamicClient(t).Resource(v1alpha1.GroupVersion.WithResource("leapterms")).Namespace(samplesNamespace).
		Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + typical, ResourceVersion: before.ResourceVersion})
	g.Expect(err).NotTo(HaveOccurred())
	defer w.Stop()
	seen := make(chan []string, 1)
	go func() {
		var statuses []string
		defer func() { seen <- statuses }()
		for ev := range w.ResultChan() {
			if ev.Type != watch.Modified {
				continue
			}
			u := ev.Object.(*unstructured.Unstructured)
			lt := &v1alpha1.LeapTerm{}
			if err := fromUnstructured(u, lt); err != nil {
				continue
			}
			if c := meta.FindStatusCondition(lt.Status.Conditions, controller.ConditionPolicyApplied); c != nil {
				s := string(c.Status) + "/" + lt.Status.PolicyHash
				if len(statuses) == 0 || statuses[len(statuses)-1] != s {
					statuses = append(statuses, s)
				}
				if c.Status == metav1.ConditionTrue && lt.Status.PolicyHash != oldHash {
					return
				}
			}
		}
	}()

	patchTerm(t, typical, `{"spec":{"attendance":{"enabled":false}}}`)

	var newHash string
	g.Eventually(func(g Gomega) {
		lt := getTerm(t, typical)
		newHash = lt.Status.PolicyHash
		g.Expect(newHash).NotTo(Equal(oldHash))
		g.Expect(condition(lt, controller.ConditionPolicyApplied)).To(Equal(metav1.ConditionTrue))
		g.Expect(condition(lt, controller.ConditionReady)).To(Equal(metav1.ConditionTrue))
	}, wait, poll).Should(Succeed())

	var statuses []string
	select {
	case statuses = <-seen:
	case <-time.After(wait):
		t.Fatal("the watch did not see PolicyApplied True with the new hash")
	}
	t.Logf("PolicyApplied went %v", statuses)
	g.Expect(statuses).To(ContainElement(HavePrefix("False/")), "PolicyApplied is False while the policy rolls out")
	g.Expect(statuses[len(statuses)-1]).To(Equal("True/" + newHash))

	g.Expect(env.k8s.Get(ctx, key(typical+"-policy"), cm)).To(Succeed())
	g.Expect(cm.Data).NotTo(Equal(oldPolicy), "the policy ConfigMap changed")

	for _, c := range build.Services {
		name := typical + "-" + c
		g.Expect(replicaSets(t, name)).To(ContainElements(oldRS[c]))
		g.Expect(len(replicaSets(t, name))).To(BeNumerically(">", len(oldRS[c])), "%s rolled a new ReplicaSet", name)
		g.Eventually(func(g Gomega) {
			d := &appsv1.Deployment{}
			g.Expect(env.k8s.Get(ctx, key(name), d)).To(Succeed())
			g.Expect(d.Spec.Template.Annotations).To(HaveKeyWithValue(build.AnnotationPolicyHash, newHash))
			pods := readyPods(g, d)
			g.Expect(pods).To(HaveLen(int(*d.Spec.Replicas)))
			for _, p := range pods {
				g.Expect(p.Annotations).To(HaveKeyWithValue(build.AnnotationPolicyHash, newHash), "ready pod %s", p.Name)
			}
		}, wait, poll).Should(Succeed())
	}
	t.Logf("policy %s -> %s rolled out in %s", oldHash, newHash, time.Since(started).Round(time.Millisecond))
}

// TestScaleBreakRecover scales a component through the spec, then makes one
// of its pods not ready: its condition and Ready turn False with a reason and
// an Event, and come back when the pod is ready again.
func TestScaleBreakRecover(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	requireOperator(t)
	started := time.Now()

	patchTerm(t, typical, `{"spec":{"ingestion":{"replicas":3}}}`)
	g.Eventually(func(g Gomega) {
		d := &appsv1.Deployment{}
		g.Expect(env.k8s.Get(ctx, key(typical+"-ingestion"), d)).To(Succeed())
		g.Expect(d.Spec.Replicas).To(HaveValue(BeEquivalentTo(3)))
		lt := getTerm(t, typical)
		g.Expect(lt.Status.Ingestion).NotTo(BeNil())
		g.Expect(lt.Status.Ingestion.ReadyReplicas).To(BeEquivalentTo(3))
		g.Expect(condition(lt, controller.ConditionReady)).To(Equal(metav1.ConditionTrue))
	}, wait, poll).Should(Succeed())
	t.Logf("ingestion scaled to 3 and Ready in %s", time.Since(started).Round(time.Millisecond))

	// Break scoring: one pod stops being ready (as a failing readiness
	// probe would make its kubelet report).
	d := &appsv1.Deployment{}
	g.Expect(env.k8s.Get(ctx, key(typical+"-scoring"), d)).To(Succeed())
	pods := readyPods(g, d)
	g.Expect(pods).NotTo(BeEmpty())
	broken := pods[0]
	setPodReady(t, &broken, false)
	brokeAt := time.Now()

	g.Eventually(func(g Gomega) {
		lt := getTerm(t, typical)
		c := meta.FindStatusCondition(lt.Status.Conditions, controller.ConditionScoringReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(controller.ReasonProgressing))
		r := meta.FindStatusCondition(lt.Status.Conditions, controller.ConditionReady)
		g.Expect(r.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(r.Reason).To(Equal(controller.ReasonComponentsNotReady))
		g.Expect(r.Message).To(ContainSubstring("scoring"))
	}, wait, poll).Should(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(eventsOf(g, typical)).To(ContainElement(And(
			HaveField("Reason", controller.ReasonProgressing),
			HaveField("Message", ContainSubstring(controller.ConditionScoringReady+" is False")),
			HaveField("LastTimestamp.Time", BeTemporally(">=", brokeAt.Add(-time.Second))),
		)))
	}, wait, poll).Should(Succeed())
	out, err := kubectl("get", "leapterm", typical, "-n", samplesNamespace)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(out).To(ContainSubstring("False"))

	setPodReady(t, &broken, true)
	g.Eventually(func(g Gomega) {
		lt := getTerm(t, typical)
		g.Expect(condition(lt, controller.ConditionScoringReady)).To(Equal(metav1.ConditionTrue))
		g.Expect(condition(lt, controller.ConditionReady)).To(Equal(metav1.ConditionTrue))
	}, wait, poll).Should(Succeed())
	t.Logf("scale, break and recover in %s", time.Since(started).Round(time.Millisecond))
}

// TestRestartWithSameFlagsChangesNothing restarts the operator process with
// identical flags: once it has reconciled every LeapTerm again, no
// Deployment or StatefulSet has a new generation or ReplicaSet.
func TestRestartWithSameFlagsChangesNothing(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	requireOperator(t)
	started := time.Now()
	before := workloads(t)
	g.Expect(env.running.stop()).To(Succeed())
	var err error
	env.running, err = startOperator(env.operator)
	g.Expect(err).NotTo(HaveOccurred())
	terms := &v1alpha1.LeapTermList{}
	g.Expect(env.k8s.List(ctx, terms, client.InNamespace(samplesNamespace))).To(Succeed())
	g.Eventually(env.running.reconciles, wait, poll).Should(BeNumerically(">=", len(terms.Items)))
	time.Sleep(time.Second) // what a spurious change would have rolled by now
	g.Expect(workloads(t)).To(Equal(before))
	for _, term := range terms.Items {
		g.Expect(condition(getTerm(t, term.Name), controller.ConditionReady)).To(Equal(metav1.ConditionTrue))
	}
	t.Logf("restart: %d reconciles, nothing rolled, in %s", mustReconciles(t), time.Since(started).Round(time.Millisecond))
}

// TestUpgradeMovesComponentImages runs a build stamped with the next version
// (its default component image tag follows it): every Deployment rolls to
// the new tag and every LeapTerm is Ready again; Redis is not touched.
func TestUpgradeMovesComponentImages(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	requireOperator(t)
	started := time.Now()
	redisBefore := map[string]int64{}
	stsList := &appsv1.StatefulSetList{}
	g.Expect(env.k8s.List(ctx, stsList, client.InNamespace(samplesNamespace))).To(Succeed())
	for _, s := range stsList.Items {
		redisBefore[s.Name] = s.Generation
	}
	g.Expect(env.running.stop()).To(Succeed())
	var err error
	env.running, err = startOperator(env.upgraded)
	g.Expect(err).NotTo(HaveOccurred())
	terms := &v1alpha1.LeapTermList{}
	g.Expect(env.k8s.List(ctx, terms, client.InNamespace(samplesNamespace))).To(Succeed())
	g.Eventually(func(g Gomega) {
		list := &appsv1.DeploymentList{}
		g.Expect(env.k8s.List(ctx, list, client.InNamespace(samplesNamespace))).To(Succeed())
		g.Expect(list.Items).To(HaveLen(3 * len(terms.Items)))
		for _, d := range list.Items {
			g.Expect(d.Spec.Template.Spec.Containers[0].Image).To(HaveSuffix(":"+nextVersion), d.Name)
			g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
			g.Expect(d.Status.UpdatedReplicas).To(Equal(*d.Spec.Replicas))
			g.Expect(d.Status.ReadyReplicas).To(Equal(*d.Spec.Replicas))
		}
		for _, term := range terms.Items {
			g.Expect(condition(getTerm(t, term.Name), controller.ConditionReady)).To(Equal(metav1.ConditionTrue))
		}
	}, wait, poll).Should(Succeed())
	g.Expect(env.k8s.List(ctx, stsList, client.InNamespace(samplesNamespace))).To(Succeed())
	for _, s := range stsList.Items {
		g.Expect(s.Generation).To(Equal(redisBefore[s.Name]), "StatefulSet %s untouched by the upgrade", s.Name)
	}
	t.Logf("upgrade to %s rolled out in %s", nextVersion, time.Since(started).Round(time.Millisecond))
}

// TestDeleteCollectsEverything deletes the typical LeapTerm: the real
// garbage collector removes every object it owns, directly or through
// another (ReplicaSets, pods), and nothing of the other LeapTerms.
func TestDeleteCollectsEverything(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	requireOperator(t)
	started := time.Now()
	lt := getTerm(t, typical)
	objs := namespaced(t)
	owned := dependents(objs, lt.UID)
	kinds := map[string]int{}
	for _, o := range owned {
		kinds[o.GetKind()]++
	}
	t.Logf("%s owns %d objects, directly or not: %v", typical, len(owned), kinds)
	for _, k := range []string{"Deployment", "ReplicaSet", "Pod", "StatefulSet", "Service", "ConfigMap", "Secret"} {
		g.Expect(kinds).To(HaveKey(k), "the LeapTerm owns a %s", k)
	}
	g.Expect(kinds).To(HaveKeyWithValue("NetworkPolicy", 2), "one for the Managed Redis, one for scoring")
	terms := &v1alpha1.LeapTermList{}
	g.Expect(env.k8s.List(ctx, terms, client.InNamespace(samplesNamespace))).To(Succeed())

	g.Expect(env.k8s.Delete(ctx, lt)).To(Succeed())
	g.Eventually(func(g Gomega) {
		ownedUID := map[types.UID]bool{}
		for _, o := range owned {
			ownedUID[o.GetUID()] = true
		}
		var left []string
		for _, o := range namespaced(t) {
			if ownedUID[o.GetUID()] {
				left = append(left, fmt.Sprintf("%s %s (deleting since %v, finalizers %v, owners %v)",
					o.GetKind(), o.GetName(), o.GetDeletionTimestamp(), o.GetFinalizers(), o.GetOwnerReferences()))
			}
		}
		g.Expect(left).To(BeEmpty(), "not yet collected")
	}, wait, poll).Should(Succeed())
	// The other LeapTerms keep everything they own, and stay Ready.
	for _, other := range terms.Items {
		if other.Name == typical {
			continue
		}
		ownedByOther := dependents(objs, other.UID)
		left := map[types.UID]bool{}
		for _, o := range namespaced(t) {
			left[o.GetUID()] = true
		}
		for _, o := range ownedByOther {
			if o.GetKind() == "Pod" || o.GetKind() == "ReplicaSet" || o.GetKind() == "EndpointSlice" {
				continue // replaced by their controllers in the normal course
			}
			g.Expect(left).To(HaveKey(o.GetUID()), "%s %s of %s is kept", o.GetKind(), o.GetName(), other.Name)
		}
		g.Expect(condition(getTerm(t, other.Name), controller.ConditionReady)).To(Equal(metav1.ConditionTrue))
	}
	t.Logf("%d objects collected in %s", len(owned), time.Since(started).Round(time.Millisecond))
}

// --- helpers ---

func requireOperator(t *testing.T) {
	t.Helper()
	if env.running == nil {
		t.Fatal("the operator is not running (TestChartInstall failed)")
	}
	t.Cleanup(func() {
		if t.Failed() && env.running != nil {
			t.Logf("operator log:\n%s", env.running.logs())
		}
	})
}

func key(name string) types.NamespacedName {
	return types.NamespacedName{Namespace: samplesNamespace, Name: name}
}

func getTerm(t *testing.T, name string) *v1alpha1.LeapTerm {
	t.Helper()
	lt := &v1alpha1.LeapTerm{}
	if err := env.k8s.Get(t.Context(), key(name), lt); err != nil {
		t.Fatalf("get LeapTerm %s: %v", name, err)
	}
	return lt
}

func patchTerm(t *testing.T, name, patch string) {
	t.Helper()
	lt := &v1alpha1.LeapTerm{ObjectMeta: metav1.ObjectMeta{Namespace: samplesNamespace, Name: name}}
	if err := env.k8s.Patch(t.Context(), lt, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatalf("patch LeapTerm %s: %v", name, err)
	}
}

func condition(lt *v1alpha1.LeapTerm, typ string) metav1.ConditionStatus {
	if c := meta.FindStatusCondition(lt.Status.Conditions, typ); c != nil && c.ObservedGeneration == lt.Generation {
		return c.Status
	}
	return metav1.ConditionUnknown
}

func eventuallyCondition(t *testing.T, name, typ string, want metav1.ConditionStatus, timeout time.Duration) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		lt := &v1alpha1.LeapTerm{}
		g.Expect(env.k8s.Get(t.Context(), key(name), lt)).To(Succeed())
		g.Expect(condition(lt, typ)).To(Equal(want), "%s %s: %+v", name, typ, lt.Status.Conditions)
	}, timeout, poll).Should(Succeed())
}

// replicaSets are the names of the ReplicaSets a Deployment owns.
func replicaSets(t *testing.T, deployment string) []string {
	t.Helper()
	list := &appsv1.ReplicaSetList{}
	if err := env.k8s.List(t.Context(), list, client.InNamespace(samplesNamespace)); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, rs := range list.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.Kind == "Deployment" && ref.Name == deployment {
			names = append(names, rs.Name)
		}
	}
	slices.Sort(names)
	return names
}

// readyPods are the Deployment's pods that are ready and not terminating.
func readyPods(g Gomega, d *appsv1.Deployment) []corev1.Pod {
	list := &corev1.PodList{}
	g.Expect(env.k8s.List(context.Background(), list, client.InNamespace(d.Namespace), client.MatchingLabels(d.Spec.Selector.MatchLabels))).To(Succeed())
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				out = append(out, p)
			}
		}
	}
	return out
}

// setPodReady sets the pod's Ready and ContainersReady conditions, as its
// kubelet does when a readiness probe fails or passes again.
func setPodReady(t *testing.T, p *corev1.Pod, ready bool) {
	t.Helper()
	g := NewWithT(t)
	g.Eventually(func() error {
		cur := &corev1.Pod{}
		if err := env.k8s.Get(t.Context(), client.ObjectKeyFromObject(p), cur); err != nil {
			return err
		}
		s := corev1.ConditionFalse
		if ready {
			s = corev1.ConditionTrue
		}
		for i, c := range cur.Status.Conditions {
			if c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
				cur.Status.Conditions[i].Status = s
				cur.Status.Conditions[i].LastTransitionTime = metav1.Now()
			}
		}
		for i := range cur.Status.ContainerStatuses {
			cur.Status.ContainerStatuses[i].Ready = ready
		}
		return env.k8s.Status().Update(t.Context(), cur)
	}, wait, poll).Should(Succeed())
}

// eventsOf are the Events about a LeapTerm.
func eventsOf(g Gomega, name string) []corev1.Event {
	list := &corev1.EventList{}
	g.Expect(env.k8s.List(context.Background(), list, client.InNamespace(samplesNamespace))).To(Succeed())
	var out []corev1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.Kind == "LeapTerm" && e.InvolvedObject.Name == name {
			if e.LastTimestamp.IsZero() {
				// events.k8s.io/v1 Events read as core/v1: the time is eventTime.
				e.LastTimestamp = metav1.NewTime(e.EventTime.Time)
			}
			out = append(out, e)
		}
	}
	return out
}

// workloads are the generation of every Deployment and StatefulSet of the
// samples, and the ReplicaSets of each Deployment.
func workloads(t *testing.T) map[string]string {
	t.Helper()
	ctx := t.Context()
	out := map[string]string{}
	ds := &appsv1.DeploymentList{}
	if err := env.k8s.List(ctx, ds, client.InNamespace(samplesNamespace)); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds.Items {
		out["Deployment/"+d.Name] = fmt.Sprintf("generation %d, ReplicaSets %v", d.Generation, replicaSets(t, d.Name))
	}
	ss := &appsv1.StatefulSetList{}
	if err := env.k8s.List(ctx, ss, client.InNamespace(samplesNamespace)); err != nil {
		t.Fatal(err)
	}
	for _, s := range ss.Items {
		out["StatefulSet/"+s.Name] = fmt.Sprintf("generation %d, revision %s", s.Generation, s.Status.UpdateRevision)
	}
	return out
}

func mustReconciles(t *testing.T) int {
	n, err := env.running.reconciles()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func dynamicClient(t *testing.T) dynamic.Interface {
	t.Helper()
	dc, err := dynamic.NewForConfig(env.cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	return dc
}

// namespaced lists every object of every listable namespaced kind in the
// samples' namespace.
func namespaced(t *testing.T) []unstructured.Unstructured {
	t.Helper()
	disc, err := discovery.NewDiscoveryClientForConfig(env.cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	lists, err := disc.ServerPreferredNamespacedResources()
	if err != nil {
		t.Fatal(err)
	}
	dc := dynamicClient(t)
	var out []unstructured.Unstructured
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range l.APIResources {
			if !slices.Contains(r.Verbs, "list") || r.Name == "events" {
				continue
			}
			items, err := dc.Resource(gv.WithResource(r.Name)).Namespace(samplesNamespace).List(t.Context(), metav1.ListOptions{})
			if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
				continue
			}
			if err != nil {
				t.Fatalf("list %s: %v", r.Name, err)
			}
			out = append(out, items.Items...)
		}
	}
	return out
}

// dependents are the objects owned by uid, directly or through each other.
func dependents(objs []unstructured.Unstructured, uid types.UID) []unstructured.Unstructured {
	owners := map[types.UID]bool{uid: true}
	in := map[types.UID]bool{}
	for changed := true; changed; {
		changed = false
		for _, o := range objs {
			if in[o.GetUID()] {
				continue
			}
			for _, ref := range o.GetOwnerReferences() {
				if owners[ref.UID] {
					in[o.GetUID()], owners[o.GetUID()], changed = true, true, true
					break
				}
			}
		}
	}
	var out []unstructured.Unstructured
	for _, o := range objs {
		if in[o.GetUID()] {
			out = append(out, o)
		}
	}
	return out
}

func fromUnstructured(u *unstructured.Unstructured, into *v1alpha1.LeapTerm) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into)
}
