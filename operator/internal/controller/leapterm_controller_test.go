package controller

import (
	"context"
	"crypto/rand"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	build "github.com/leap-dev/leap/operator/internal/builder"
)

// children lists every object the operator makes for a LeapTerm with
// Managed Redis and an Ingress, empty, for Get.
func children(term *v1alpha1.LeapTerm) []client.Object {
	n := build.NamesOf(term)
	m := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: term.Namespace, Name: name} }
	objs := []client.Object{
		&corev1.ConfigMap{ObjectMeta: m(n.PolicyConfigMap())},
		&corev1.Secret{ObjectMeta: m(n.IngestTokens())},
		&corev1.Secret{ObjectMeta: m(n.PortalSession())},
		&corev1.Secret{ObjectMeta: m(n.RedisAuth())},
		&appsv1.StatefulSet{ObjectMeta: m(n.Component(build.Redis))},
		&corev1.Service{ObjectMeta: m(n.Component(build.Redis))},
		&networkingv1.NetworkPolicy{ObjectMeta: m(n.Component(build.Redis))},
		&networkingv1.NetworkPolicy{ObjectMeta: m(n.Component(build.Scoring))},
		&corev1.ServiceAccount{ObjectMeta: m(n.PortalAccount())},
		&rbacv1.Role{ObjectMeta: m(n.PortalAccount())},
		&rbacv1.RoleBinding{ObjectMeta: m(n.PortalAccount())},
		&networkingv1.Ingress{ObjectMeta: m(n.Component(build.Portal))},
	}
	for _, c := range build.Services {
		objs = append(objs,
			&appsv1.Deployment{ObjectMeta: m(n.Component(c))},
			&corev1.Service{ObjectMeta: m(n.Component(c))},
			&policyv1.PodDisruptionBudget{ObjectMeta: m(n.Component(c))})
	}
	return objs
}

func deployments(g Gomega, term *v1alpha1.LeapTerm) []*appsv1.Deployment {
	var out []*appsv1.Deployment
	for _, c := range build.Services {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: term.Namespace, Name: build.NamesOf(term).Component(c)}}
		get(g, d)
		out = append(out, d)
	}
	return out
}

func resourceVersions(g Gomega, term *v1alpha1.LeapTerm) map[string]string {
	rv := map[string]string{}
	for _, obj := range children(term) {
		get(g, obj)
		rv[kindName(obj)] = obj.GetResourceVersion()
	}
	return rv
}

func kindName(obj client.Object) string { return fmtType(obj) + "/" + obj.GetName() }

func fmtType(obj client.Object) string {
	switch obj.(type) {
	case *corev1.ConfigMap:
		return "ConfigMap"
	case *corev1.Secret:
		return "Secret"
	case *corev1.Service:
		return "Service"
	case *corev1.ServiceAccount:
		return "ServiceAccount"
	case *appsv1.Deployment:
		return "Deployment"
	case *appsv1.StatefulSet:
		return "StatefulSet"
	case *networkingv1.NetworkPolicy:
		return "NetworkPolicy"
	case *networkingv1.Ingress:
		return "Ingress"
	case *policyv1.PodDisruptionBudget:
		return "PodDisruptionBudget"
	case *rbacv1.Role:
		return "Role"
	case *rbacv1.RoleBinding:
		return "RoleBinding"
	}
	return "Unknown"
}

func TestCreatesEveryChildOwnedLabelledAndRestricted(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	term := createTerm(t, ns, "y2026", typicalSpec)
	term = reconciled(g, term)
	g.Expect(term.Status.PolicyHash).To(HaveLen(16))

	for _, obj := range children(term) {
		get(g, obj)
		refs := obj.GetOwnerReferences()
		g.Expect(refs).To(HaveLen(1), kindName(obj))
		g.Expect(refs[0].UID).To(Equal(term.UID), kindName(obj))
		g.Expect(*refs[0].Controller).To(BeTrue(), kindName(obj))
		g.Expect(obj.GetLabels()).To(HaveKeyWithValue(build.LabelManagedBy, build.ManagedBy), kindName(obj))
		g.Expect(obj.GetLabels()).To(HaveKeyWithValue(build.LabelInstance, term.Name), kindName(obj))
	}

	for _, d := range deployments(g, term) {
		tpl := d.Spec.Template
		g.Expect(tpl.Annotations).To(HaveKeyWithValue(build.AnnotationPolicyHash, term.Status.PolicyHash), d.Name)
		g.Expect(*d.Spec.Replicas).To(Equal(int32(2)))
		pod := tpl.Spec.SecurityContext
		g.Expect(*pod.RunAsNonRoot).To(BeTrue())
		g.Expect(pod.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
		c := tpl.Spec.Containers[0]
		g.Expect(c.Image).To(HavePrefix("registry.test/leap/leap-"))
		g.Expect(c.Image).To(HaveSuffix(":v0.0.0-test"))
		g.Expect(*c.SecurityContext.AllowPrivilegeEscalation).To(BeFalse())
		g.Expect(*c.SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
		g.Expect(c.SecurityContext.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
		g.Expect(c.LivenessProbe.HTTPGet.Path).To(Equal("/healthz"))
		g.Expect(c.ReadinessProbe.HTTPGet.Path).To(Equal("/readyz"))
		g.Expect(c.VolumeMounts).To(ContainElement(HaveField("MountPath", build.PolicyDir)))
	}

	doc, hash := policyIn(g, term)
	g.Expect(doc.Attendance.IsEnabled()).To(BeTrue())
	g.Expect(doc.Scoring.Weights).To(HaveKeyWithValue("tap_in", int32(3)))
	g.Expect(hash).To(Equal(term.Status.PolicyHash))

	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: build.NamesOf(term).PortalAccount()}}
	get(g, role)
	g.Expect(role.Rules).To(Equal([]rbacv1.PolicyRule{{
		APIGroups: []string{"leap.dev"}, Resources: []string{"leapterms"}, ResourceNames: []string{term.Name}, Verbs: []string{"get", "patch"},
	}}))

	tokens := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: build.NamesOf(term).IngestTokens()}}
	get(g, tokens)
	g.Expect(tokens.Data).To(HaveLen(len(build.IngestSources)))
	for source, tok := range tokens.Data {
		g.Expect(len(tok)).To(BeNumerically(">=", 40), source)
	}
}

func TestAttendanceFlipRollsEveryDeploymentAndTouchesNothingElse(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	term := reconciled(g, createTerm(t, ns, "y2020", typicalSpec))
	oldHash := term.Status.PolicyHash
	before := resourceVersions(g, term)

	start := time.Now()
	updateTerm(g, term, func(t *v1alpha1.LeapTerm) {
		t.Spec.Attendance = v1alpha1.Attendance{Enabled: ptr.To(false), Reason: "No physical teaching"}
	})

	var newHash string
	g.Eventually(func(g Gomega) {
		var doc policy.Document
		doc, newHash = policyIn(g, term)
		g.Expect(doc.Attendance.IsEnabled()).To(BeFalse())
		g.Expect(doc.Attendance.Reason).To(Equal("No physical teaching"))
		for _, d := range deployments(g, term) {
			g.Expect(d.Spec.Template.Annotations[build.AnnotationPolicyHash]).To(Equal(newHash), d.Name)
		}
	}).WithTimeout(10 * time.Second).WithPolling(10 * time.Millisecond).Should(Succeed())
	t.Logf("LeapTerm update to ConfigMap and every Deployment template updated: %v", time.Since(start))
	g.Expect(newHash).NotTo(Equal(oldHash))

	after := resourceVersions(g, term)
	for name, rv := range before {
		changed := after[name] != rv
		shouldChange := strings.HasPrefix(name, "ConfigMap/") || strings.HasPrefix(name, "Deployment/")
		g.Expect(changed).To(Equal(shouldChange), "%s changed=%v", name, changed)
	}
}

func TestReplicasChangeKeepsPolicyHash(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	term := reconciled(g, createTerm(t, ns, "scale", typicalSpec))
	hash := term.Status.PolicyHash

	updateTerm(g, term, func(t *v1alpha1.LeapTerm) { t.Spec.Ingestion.Replicas = ptr.To[int32](5) })
	g.Eventually(func(g Gomega) {
		d := deployments(g, term)[0]
		g.Expect(*d.Spec.Replicas).To(Equal(int32(5)))
	}).WithTimeout(10 * time.Second).Should(Succeed())
	term = reconciled(g, term)
	g.Expect(term.Status.PolicyHash).To(Equal(hash))
	for _, d := range deployments(g, term) {
		g.Expect(d.Spec.Template.Annotations[build.AnnotationPolicyHash]).To(Equal(hash), d.Name)
	}
}

// TestUnchangedLeapTermWritesNothing runs the reconciler on a LeapTerm that
// is already in its desired state, counting every write it sends.
func TestUnchangedLeapTermWritesNothing(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	term := reconciled(g, createTerm(t, ns, "steady", typicalSpec))
	rollOut(g, term)
	g.Eventually(func(g Gomega) { g.Expect(condition(g, term, ConditionReady)).To(Equal(metav1.ConditionTrue)) }).
		WithTimeout(10 * time.Second).Should(Succeed())

	var n atomic.Int64
	clk := clocktesting.NewFakeClock(testClock.Now())
	r := &LeapTermReconciler{Client: countingClient(mgrClient, &n), Clock: clk, Images: images, Random: rand.Reader}
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: term.Name}}
	reconcileOnce := func() int64 {
		n.Store(0)
		_, err := r.Reconcile(context.Background(), req)
		g.Expect(err).NotTo(HaveOccurred())
		return n.Load()
	}
	// The manager's cache may lag a moment behind the last status write.
	g.Eventually(reconcileOnce).WithTimeout(5 * time.Second).Should(BeZero())
	for range 5 {
		g.Expect(reconcileOnce()).To(BeZero(), "a reconcile of an unchanged LeapTerm wrote to the API server")
	}

	// The one exception: the heartbeat. Half an interval after the last
	// one, a reconcile writes status.observedAt, and that alone; then
	// nothing again until the next is due.
	seen := reconciled(g, term).Status.ObservedAt
	g.Expect(seen).NotTo(BeNil())
	clk.SetTime(seen.Add(HeartbeatInterval/2 - time.Second))
	g.Expect(reconcileOnce()).To(BeZero(), "a heartbeat was written before it was due")
	clk.SetTime(seen.Add(HeartbeatInterval / 2))
	before := reconciled(g, term).Status
	g.Expect(reconcileOnce()).To(Equal(int64(1)), "the heartbeat is one status write")
	after := reconciled(g, term).Status
	g.Expect(after.ObservedAt.Time).To(BeTemporally("==", clk.Now()))
	after.ObservedAt = before.ObservedAt
	g.Expect(after).To(Equal(before), "the heartbeat changed more than observedAt")
	g.Eventually(reconcileOnce).WithTimeout(5 * time.Second).Should(BeZero())
	for range 3 {
		g.Expect(reconcileOnce()).To(BeZero(), "a reconcile right after a heartbeat wrote to the API server")
	}

	// The same holds through the manager: a watch event for an unchanged
	// child (an annotation another tool adds) must not cause writes.
	rvs := resourceVersions(g, term)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: build.NamesOf(term).Component(build.Scoring)}}
	get(g, svc)
	svc.Annotations = map[string]string{"example.com/seen": "yes"}
	g.Expect(k8s.Update(context.Background(), svc)).To(Succeed())
	g.Consistently(func(g Gomega) {
		after := resourceVersions(g, term)
		for name, rv := range rvs {
			if name == "Service/"+svc.Name {
				continue
			}
			g.Expect(after[name]).To(Equal(rv), name)
		}
	}).WithTimeout(time.Second).Should(Succeed())
}

func TestHandEditedOrDeletedChildComesBack(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ctx := context.Background()
	term := reconciled(g, createTerm(t, ns, "heal", typicalSpec))
	n := build.NamesOf(term)

	// Deleted by hand.
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n.Component(build.Portal)}}
	get(g, svc)
	g.Expect(k8s.Delete(ctx, svc)).To(Succeed())
	g.Eventually(func(g Gomega) {
		fresh := &corev1.Service{ObjectMeta: svc.ObjectMeta}
		get(g, fresh)
		g.Expect(fresh.UID).NotTo(Equal(svc.UID))
	}).WithTimeout(10 * time.Second).Should(Succeed())

	// Edited by hand, as kubectl edit does: an update by another manager.
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n.Component(build.Ingestion)}}
	get(g, d)
	want := d.Spec.Template.Spec.Containers[0].Image
	d.Spec.Template.Spec.Containers[0].Image = "evil.example/ingestion:latest"
	d.Spec.Template.Annotations[build.AnnotationPolicyHash] = "stale"
	g.Expect(k8s.Update(ctx, d, client.FieldOwner("kubectl-edit"))).To(Succeed())
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n.PolicyConfigMap()}}
	get(g, cm)
	cm.Data[policy.FileName] = `{"tampered": true}`
	g.Expect(k8s.Update(ctx, cm, client.FieldOwner("kubectl-edit"))).To(Succeed())

	g.Eventually(func(g Gomega) {
		get(g, d)
		g.Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal(want))
		g.Expect(d.Spec.Template.Annotations[build.AnnotationPolicyHash]).To(Equal(term.Status.PolicyHash))
		get(g, cm)
		g.Expect(policy.HashBytes([]byte(cm.Data[policy.FileName]))).To(Equal(term.Status.PolicyHash))
	}).WithTimeout(10 * time.Second).Should(Succeed())
}

func TestPauseStopsChangesButNotDeletion(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ctx := context.Background()
	term := reconciled(g, createTerm(t, ns, "paused", typicalSpec))
	n := build.NamesOf(term)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n.PolicyConfigMap()}}
	get(g, cm)
	pausedRV := cm.ResourceVersion

	rollOut(g, term)
	g.Eventually(func(g Gomega) { g.Expect(condition(g, term, ConditionReady)).To(Equal(metav1.ConditionTrue)) }).
		WithTimeout(10 * time.Second).Should(Succeed())
	get(g, term)
	notPaused := meta.FindStatusCondition(term.Status.Conditions, ConditionPaused)
	g.Expect(notPaused.Reason).To(Equal(ReasonReconcileEnabled))
	g.Expect(notPaused.Message).To(ContainSubstring(v1alpha1.PauseAnnotation + "=disabled"))
	figures := term.Status.Portal

	updateTerm(g, term, func(t *v1alpha1.LeapTerm) { t.Annotations = map[string]string{v1alpha1.PauseAnnotation: "disabled"} })
	g.Eventually(func(g Gomega) {
		g.Expect(condition(g, term, ConditionPaused)).To(Equal(metav1.ConditionTrue))
		// Ready claims nothing the operator does not check while paused.
		get(g, term)
		ready := meta.FindStatusCondition(term.Status.Conditions, ConditionReady)
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal(ReasonPaused))
		g.Expect(term.Status.Portal).To(Equal(figures), "the last observed figures are kept")
	}).WithTimeout(10 * time.Second).Should(Succeed())

	updateTerm(g, term, func(t *v1alpha1.LeapTerm) { t.Spec.Scoring.Weights = map[string]int32{"moodle_login": 5} })
	g.Consistently(func(g Gomega) {
		get(g, cm)
		g.Expect(cm.ResourceVersion).To(Equal(pausedRV))
	}).WithTimeout(1500 * time.Millisecond).Should(Succeed())

	updateTerm(g, term, func(t *v1alpha1.LeapTerm) { delete(t.Annotations, v1alpha1.PauseAnnotation) })
	g.Eventually(func(g Gomega) {
		doc, _ := policyIn(g, term)
		g.Expect(doc.Scoring.Weights).To(Equal(map[string]int32{"moodle_login": 5}))
		g.Expect(condition(g, term, ConditionPaused)).To(Equal(metav1.ConditionFalse))
	}).WithTimeout(10 * time.Second).Should(Succeed())

	// Paused again, then deleted: nothing holds the LeapTerm back.
	updateTerm(g, term, func(t *v1alpha1.LeapTerm) { t.Annotations = map[string]string{v1alpha1.PauseAnnotation: "disabled"} })
	g.Expect(k8s.Delete(ctx, term)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(term), &v1alpha1.LeapTerm{}))
	}).WithTimeout(10 * time.Second).Should(BeTrue())
}

func TestReadyAndPolicyAppliedFollowTheRollout(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ctx := context.Background()
	term := reconciled(g, createTerm(t, ns, "rollout", typicalSpec))
	g.Expect(condition(g, term, ConditionReady)).To(Equal(metav1.ConditionFalse))

	rollOut(g, term)
	g.Eventually(func(g Gomega) {
		for _, c := range []string{ConditionReady, ConditionRedisReady, ConditionIngestionReady, ConditionScoringReady, ConditionPortalReady, ConditionPolicyApplied} {
			g.Expect(condition(g, term, c)).To(Equal(metav1.ConditionTrue), c)
		}
		get(g, term)
		g.Expect(term.Status.Portal).To(Equal(&v1alpha1.ComponentStatus{Replicas: 2, ReadyReplicas: 2, UpdatedReplicas: 2}))
	}).WithTimeout(10 * time.Second).Should(Succeed())

	updateTerm(g, term, func(t *v1alpha1.LeapTerm) { t.Spec.Scoring.WindowDays = 14 })
	g.Eventually(func(g Gomega) {
		g.Expect(condition(g, term, ConditionPolicyApplied)).To(Equal(metav1.ConditionFalse))
		g.Expect(condition(g, term, ConditionReady)).To(Equal(metav1.ConditionFalse))
	}).WithTimeout(10 * time.Second).Should(Succeed())

	rollOut(g, term)
	g.Eventually(func(g Gomega) {
		g.Expect(condition(g, term, ConditionPolicyApplied)).To(Equal(metav1.ConditionTrue))
		g.Expect(condition(g, term, ConditionReady)).To(Equal(metav1.ConditionTrue))
	}).WithTimeout(10 * time.Second).Should(Succeed())

	// Events mark transitions, not loops.
	events := &corev1.EventList{}
	g.Expect(k8s.List(ctx, events, client.InNamespace(ns))).To(Succeed())
	var readyEvents int
	for _, e := range events.Items {
		if strings.HasPrefix(e.Message, "Ready is") {
			readyEvents++
		}
	}
	if readyEvents > 4 {
		for _, e := range events.Items {
			t.Logf("%s %s %s %s", e.FirstTimestamp, e.Reason, e.Message, e.Type)
		}
	}
	g.Expect(readyEvents).To(BeNumerically("<=", 4))
}

func TestExternalRedisRunsNoRedis(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	term := reconciled(g, createTerm(t, ns, "ext", `
terms: [{name: autumn, start: "2026-10-05", end: "2026-12-11"}]
redis: {mode: External, address: "redis://leap@redis.example:6379/0", topology: Sentinel, sentinelMaster: leap,
        passwordSecret: {name: uni-redis, key: password}}
`))
	n := build.NamesOf(term)
	err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: n.Component(build.Redis)}, &appsv1.StatefulSet{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
	g.Expect(apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: n.RedisAuth()}, &corev1.Secret{}))).To(BeTrue())

	d := deployments(g, term)[0]
	env := map[string]corev1.EnvVar{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e
	}
	g.Expect(env["REDIS_URL"].Value).To(Equal("redis://leap@redis.example:6379/0"))
	g.Expect(env["REDIS_TOPOLOGY"].Value).To(Equal("Sentinel"))
	g.Expect(env["REDIS_PASSWORD"].ValueFrom.SecretKeyRef.Name).To(Equal("uni-redis"))

	rollOut(g, term)
	g.Eventually(func(g Gomega) {
		get(g, term)
		g.Expect(condition(g, term, ConditionReady)).To(Equal(metav1.ConditionTrue))
		for _, c := range term.Status.Conditions {
			g.Expect(c.Message).NotTo(ContainSubstring("secret"), "a password reached status")
		}
	}).WithTimeout(10 * time.Second).Should(Succeed())
}

// TestNetworkPoliciesGuardScoringAndRedis checks the policies as the API
// server stored them, and that moving to an External Redis removes the
// Redis policy with the Redis it guarded, leaving scoring's.
func TestNetworkPoliciesGuardScoringAndRedis(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	term := reconciled(g, createTerm(t, ns, "fence", typicalSpec))
	n := build.NamesOf(term)

	scoring := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n.Component(build.Scoring)}}
	get(g, scoring)
	g.Expect(scoring.Spec.PodSelector.MatchLabels).To(Equal(build.SelectorLabels(term, build.Scoring)))
	g.Expect(scoring.Spec.PolicyTypes).To(ConsistOf(networkingv1.PolicyTypeIngress))
	g.Expect(scoring.Spec.Ingress).To(HaveLen(2))
	portal := scoring.Spec.Ingress[0]
	g.Expect(portal.From).To(HaveLen(1))
	g.Expect(portal.From[0].PodSelector.MatchLabels).To(Equal(build.SelectorLabels(term, build.Portal)))
	g.Expect(portal.From[0].NamespaceSelector).To(BeNil())
	g.Expect(portal.Ports).To(HaveLen(1))
	g.Expect(portal.Ports[0].Port.IntValue()).To(Equal(build.HTTPPort))
	// Scrapers reach the metrics port alone: on the API's port they could
	// call scoring.
	scrapers := scoring.Spec.Ingress[1]
	g.Expect(scrapers.From[0].NamespaceSelector.MatchLabels).To(HaveKeyWithValue("kubernetes.io/metadata.name", "monitoring"))
	g.Expect(scrapers.Ports).To(HaveLen(1))
	g.Expect(scrapers.Ports[0].Port.IntValue()).To(Equal(build.MetricsPort))
	// ...which the scoring pods declare and their Service exposes by name,
	// for a ServiceMonitor to select.
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n.Component(build.Scoring)}}
	get(g, svc)
	g.Expect(svc.Spec.Ports).To(ContainElement(And(
		HaveField("Name", build.PortNameMetrics), HaveField("Port", int32(build.MetricsPort)),
		HaveField("TargetPort", intstr.FromString(build.PortNameMetrics)))))
	deploy := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n.Component(build.Scoring)}}
	get(g, deploy)
	g.Expect(deploy.Spec.Template.Spec.Containers[0].Ports).To(ContainElement(And(
		HaveField("Name", build.PortNameMetrics), HaveField("ContainerPort", int32(build.MetricsPort)))))

	redis := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n.Component(build.Redis)}}
	get(g, redis)
	g.Expect(redis.Spec.PodSelector.MatchLabels).To(Equal(build.SelectorLabels(term, build.Redis)))
	g.Expect(redis.Spec.Ingress[0].Ports[0].Port.IntValue()).To(Equal(build.RedisPort))

	// No scrapers named: the portal alone.
	updateTerm(g, term, func(t *v1alpha1.LeapTerm) { t.Spec.Telemetry = nil })
	g.Eventually(func(g Gomega) {
		get(g, scoring)
		g.Expect(scoring.Spec.Ingress).To(HaveLen(1))
	}).WithTimeout(10 * time.Second).Should(Succeed())

	// To an External Redis: the Managed Redis and its policy go.
	updateTerm(g, term, func(t *v1alpha1.LeapTerm) {
		t.Spec.Redis.Mode, t.Spec.Redis.Address = v1alpha1.RedisExternal, "redis://redis.example:6379/0"
	})
	g.Eventually(func(g Gomega) {
		g.Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(redis), &networkingv1.NetworkPolicy{}))).To(BeTrue())
		g.Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(redis), &appsv1.StatefulSet{}))).To(BeTrue())
	}).WithTimeout(10 * time.Second).Should(Succeed())
	get(g, scoring)
	g.Expect(scoring.Spec.Ingress).To(HaveLen(1))
}

// TestPeriodFollowsTheClock drives an injected clock across term, break and
// vacation boundaries; days begin at midnight in the LeapTerm's timezone.
func TestPeriodFollowsTheClock(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	term := reconciled(g, createTerm(t, ns, "clock", typicalSpec))
	// The manager's reconciler and this one share the clock, so that they
	// agree on the period; the clock goes back when the test ends.
	clock := testClock
	was := testClock.Now()
	t.Cleanup(func() { testClock.SetTime(was) })
	r := &LeapTermReconciler{Client: mgrClient, Clock: clock, Images: images, Random: rand.Reader}
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: term.Name}}
	london, _ := time.LoadLocation("Europe/London")

	steps := []struct {
		at       time.Time
		period   v1alpha1.Period
		name     string
		boundary time.Time
	}{
		// 4 October 23:30 UTC is 00:30 on 5 October in London (summer time):
		// the autumn term has begun there.
		{time.Date(2026, 10, 4, 22, 30, 0, 0, time.UTC), v1alpha1.PeriodVacation, "", time.Date(2026, 10, 5, 0, 0, 0, 0, london)},
		{time.Date(2026, 10, 4, 23, 30, 0, 0, time.UTC), v1alpha1.PeriodInTerm, "autumn", time.Date(2026, 11, 9, 0, 0, 0, 0, london)},
		{time.Date(2026, 11, 9, 0, 0, 0, 0, london), v1alpha1.PeriodBreak, "reading-week", time.Date(2026, 11, 14, 0, 0, 0, 0, london)},
		{time.Date(2026, 11, 13, 23, 59, 0, 0, london), v1alpha1.PeriodBreak, "reading-week", time.Date(2026, 11, 14, 0, 0, 0, 0, london)},
		{time.Date(2026, 11, 14, 0, 0, 0, 0, london), v1alpha1.PeriodInTerm, "autumn", time.Date(2026, 12, 12, 0, 0, 0, 0, london)},
		{time.Date(2026, 12, 25, 12, 0, 0, 0, london), v1alpha1.PeriodVacation, "", time.Date(2027, 1, 18, 0, 0, 0, 0, london)},
		// After the last term the year is over: Ended, not Vacation.
		{time.Date(2027, 3, 27, 0, 0, 0, 0, london), v1alpha1.PeriodEnded, "", time.Time{}},
	}
	for _, s := range steps {
		clock.SetTime(s.at)
		var res ctrl.Result
		g.Eventually(func(g Gomega) {
			var err error
			res, err = r.Reconcile(context.Background(), req)
			g.Expect(err).NotTo(HaveOccurred())
			get(g, term)
			g.Expect(term.Status.Period).To(Equal(s.period), "at %v", s.at)
			g.Expect(term.Status.PeriodName).To(Equal(s.name), "at %v", s.at)
			// A reconcile that lost a status race to the manager's asks to
			// be run again soon; the one that wins answers with the boundary.
			if s.boundary.IsZero() {
				g.Expect(res.RequeueAfter).To(BeZero(), "after the last term there is no boundary to wait for")
				g.Expect(term.Status.NextPeriodChange).To(BeNil())
				return
			}
			g.Expect(term.Status.NextPeriodChange).NotTo(BeNil())
			g.Expect(term.Status.NextPeriodChange.Time.Equal(s.boundary)).To(BeTrue(), "at %v next change %v, want %v", s.at, term.Status.NextPeriodChange, s.boundary)
			g.Expect(res.RequeueAfter).To(Equal(s.boundary.Sub(s.at)+time.Second), "at %v", s.at)
		}).WithTimeout(5 * time.Second).Should(Succeed())
	}
}

func TestUnknownTimezoneIsReportedNotRetried(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	term := createTerm(t, ns, "tz", `
timezone: Europe/Atlantis
terms: [{name: autumn, start: "2026-10-05", end: "2026-12-11"}]
`)
	g.Eventually(func(g Gomega) {
		get(g, term)
		g.Expect(term.Status.Conditions).To(ContainElement(And(
			HaveField("Type", ConditionReady),
			HaveField("Reason", ReasonInvalidCalendar),
			HaveField("Message", ContainSubstring("Europe/Atlantis")))))
		g.Expect(term.Status.ObservedGeneration).To(BeZero())
	}).WithTimeout(10 * time.Second).Should(Succeed())
	// A LeapTerm that cannot be served is a warning, though Ready was
	// never True.
	g.Eventually(func(g Gomega) {
		g.Expect(eventsFor(g, term, ReasonInvalidCalendar)).To(ContainElement(HaveField("Type", corev1.EventTypeWarning)))
	}).WithTimeout(10 * time.Second).Should(Succeed())
	// Not retried: the error is terminal, which controller-runtime neither
	// requeues nor backs off on, and counts apart from the others.
	r := &LeapTermReconciler{Client: mgrClient, Clock: testClock, Images: images, Random: rand.Reader, Instance: testInstance}
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(term)})
	g.Expect(err).To(MatchError(reconcile.TerminalError(nil)))
	g.Expect(err.Error()).To(ContainSubstring("Europe/Atlantis"))
	g.Expect(res).To(Equal(ctrl.Result{}))
}
