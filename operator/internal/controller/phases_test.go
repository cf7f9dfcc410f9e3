package controller

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	build "github.com/leap-dev/leap/operator/internal/builder"
)

// TestRenumberedServicePortIsRecreatedAndTheOtherPhasesGoOn edits a
// Service's port by hand (80 to 8081, as kubectl edit does), which no apply
// can merge back (the desired port's name is then a duplicate), and widens
// scoring's NetworkPolicy, which the last phase writes. The Service is
// recreated as desired, with a Warning Event, and the NetworkPolicy is
// narrowed again: a child the API server refuses stops no other phase.
func TestRenumberedServicePortIsRecreatedAndTheOtherPhasesGoOn(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ctx := context.Background()
	term := reconciled(g, createTerm(t, ns, "renumber", typicalSpec))
	rollOut(g, term)
	n := build.NamesOf(term)

	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n.Component(build.Ingestion)}}
	get(g, svc)
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Name == build.PortNameHTTP {
			svc.Spec.Ports[i].Port = 8081
		}
	}
	g.Expect(k8s.Update(ctx, svc, client.FieldOwner("kubectl-edit"))).To(Succeed())

	np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n.Component(build.Scoring)}}
	get(g, np)
	want := np.Spec.DeepCopy()
	np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{}) // from anywhere
	g.Expect(k8s.Update(ctx, np, client.FieldOwner("kubectl-edit"))).To(Succeed())

	g.Eventually(func(g Gomega) {
		fresh := &corev1.Service{ObjectMeta: svc.ObjectMeta}
		get(g, fresh)
		g.Expect(fresh.UID).NotTo(Equal(svc.UID), "recreated")
		g.Expect(fresh.Spec.Ports).To(ConsistOf(
			And(HaveField("Name", build.PortNameHTTP), HaveField("Port", int32(build.ServicePort))),
			And(HaveField("Name", build.PortNameMetrics), HaveField("Port", int32(build.MetricsPort)))))
		get(g, np)
		g.Expect(np.Spec.Ingress).To(Equal(want.Ingress), "the widened NetworkPolicy is narrowed again")
	}).WithTimeout(15 * time.Second).Should(Succeed())

	g.Eventually(func(g Gomega) {
		g.Expect(eventsFor(g, term, ReasonServiceRecreated)).To(ContainElement(And(
			HaveField("Type", corev1.EventTypeWarning),
			HaveField("Reason", ReasonServiceRecreated),
			HaveField("Note", ContainSubstring(svc.Name)))))
	}).WithTimeout(10 * time.Second).Should(Succeed())
	g.Eventually(func(g Gomega) { g.Expect(condition(g, term, ConditionReady)).To(Equal(metav1.ConditionTrue)) }).
		WithTimeout(10 * time.Second).Should(Succeed())
}

// TestFailingPhaseLeavesStatusTrueToWhatRuns makes the API server refuse
// every change to one LeapTerm's Redis StatefulSet (a ValidatingAdmission
// Policy, as a cluster's own rules or an immutable field would), then asks
// for a new Redis image and attendance off at once. The services still
// roll to the new policy; status is written: Ready False with the Redis
// phase's reason and the refusal in a readable message, PolicyApplied
// following the rollout, observedGeneration not moved.
func TestFailingPhaseLeavesStatusTrueToWhatRuns(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ctx := context.Background()
	term := reconciled(g, createTerm(t, ns, "frozen", typicalSpec))
	rollOut(g, term)
	g.Eventually(func(g Gomega) { g.Expect(condition(g, term, ConditionReady)).To(Equal(metav1.ConditionTrue)) }).
		WithTimeout(10 * time.Second).Should(Succeed())
	n := build.NamesOf(term)
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n.Component(build.Redis)}}
	get(g, sts)
	redisImage := sts.Spec.Template.Spec.Containers[0].Image

	const refusal = "Redis is frozen for the exam period"
	freezeStatefulSets(t, ns, refusal)
	g.Eventually(func(g Gomega) {
		probe := sts.DeepCopy()
		probe.Spec.Template.Spec.Containers[0].Image = "redis:probe"
		err := k8s.Update(ctx, probe, client.DryRunAll)
		g.Expect(err).To(MatchError(ContainSubstring(refusal)), "the policy is in force")
	}).WithTimeout(10 * time.Second).Should(Succeed())

	updateTerm(g, term, func(t *v1alpha1.LeapTerm) {
		t.Spec.Redis.Image = "redis:8.0-alpine"
		t.Spec.Attendance = v1alpha1.Attendance{Enabled: ptr.To(false), Reason: "No physical teaching"}
	})
	var newHash string
	g.Eventually(func(g Gomega) {
		_, newHash = policyIn(g, term)
		for _, d := range deployments(g, term) {
			g.Expect(d.Spec.Template.Annotations).To(HaveKeyWithValue(build.AnnotationPolicyHash, newHash), "%s rolls although Redis failed", d.Name)
		}
		cur := &v1alpha1.LeapTerm{ObjectMeta: term.ObjectMeta}
		get(g, cur)
		ready := meta.FindStatusCondition(cur.Status.Conditions, ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(ready.Reason).To(Equal("RedisFailed"))
		g.Expect(ready.Message).To(HavePrefix("redis: "))
		g.Expect(ready.Message).To(ContainSubstring(refusal))
		g.Expect(ready.Message).To(ContainSubstring(sts.Name))
		g.Expect(ready.Message).NotTo(ContainSubstring("apply *v1."), "no Go type names")
		g.Expect(condition(g, term, ConditionPolicyApplied)).To(Equal(metav1.ConditionFalse), "the services are still rolling")
		g.Expect(cur.Status.ObservedGeneration).To(BeNumerically("<", cur.Generation), "the generation was not fully reconciled")
		g.Expect(cur.Status.AppliedAttendance).To(HaveValue(BeTrue()), "the pods still count card taps")
	}).WithTimeout(15 * time.Second).Should(Succeed())

	rollOut(g, term)
	g.Eventually(func(g Gomega) {
		cur := &v1alpha1.LeapTerm{ObjectMeta: term.ObjectMeta}
		get(g, cur)
		g.Expect(cur.Status.PolicyHash).To(Equal(newHash))
		applied := meta.FindStatusCondition(cur.Status.Conditions, ConditionPolicyApplied)
		g.Expect(applied).NotTo(BeNil())
		g.Expect(applied.Status).To(Equal(metav1.ConditionTrue), "every service runs the new policy")
		g.Expect(cur.Status.AppliedAttendance).To(HaveValue(BeFalse()), "attendance is off where it runs")
		g.Expect(meta.FindStatusCondition(cur.Status.Conditions, ConditionReady).Reason).To(Equal("RedisFailed"))
	}).WithTimeout(10 * time.Second).Should(Succeed())
	get(g, sts)
	g.Expect(sts.Spec.Template.Spec.Containers[0].Image).To(Equal(redisImage), "the refused change did not happen")
}

// freezeStatefulSets makes the API server refuse, with message, every
// update of a StatefulSet in namespace ns, until the test ends.
func freezeStatefulSets(t *testing.T, ns, message string) {
	t.Helper()
	ctx := context.Background()
	name := "freeze-" + ns
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
						Rule: admissionregistrationv1.Rule{
							APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"statefulsets"},
						},
					},
				}},
			},
			Validations: []admissionregistrationv1.Validation{{Expression: "false", Message: message}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}},
			},
		},
	}
	for _, obj := range []client.Object{policy, binding} {
		if err := k8s.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k8s.Delete(ctx, obj) })
	}
}
