package controller

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	build "github.com/leap-dev/leap/operator/internal/builder"
)

// noSignInSpec is a LeapTerm as the minimal sample writes it: the portal
// behind an ingress, with neither OIDC nor local accounts.
const noSignInSpec = `
terms: [{name: autumn, start: "2026-10-05", end: "2026-12-11"}]
portal: {ingress: {host: leap.example.ac.uk}}
`

// portalMessage is the message of the LeapTerm's PortalReady condition.
func portalMessage(g Gomega, term *v1alpha1.LeapTerm) string {
	cur := &v1alpha1.LeapTerm{ObjectMeta: term.ObjectMeta}
	get(g, cur)
	c := meta.FindStatusCondition(cur.Status.Conditions, ConditionPortalReady)
	g.Expect(c).NotTo(BeNil())
	return c.Message
}

// eventsFor lists the Events with the given reason about the LeapTerm.
func eventsFor(g Gomega, term *v1alpha1.LeapTerm, reason string) []eventsv1.Event {
	list := &eventsv1.EventList{}
	g.Expect(k8s.List(context.Background(), list, client.InNamespace(term.Namespace))).To(Succeed())
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Reason == reason && e.Regarding.Name == term.Name {
			out = append(out, e)
		}
	}
	return out
}

// TestPortalWithoutSignInSaysSoAndWarnsOnce: a LeapTerm that sets neither
// OIDC nor local accounts is still Ready (ingestion and scoring work), its
// PortalReady message says that nobody can sign in, and one Warning Event
// says so however many reconciles follow. Configuring a sign-in clears the
// message.
func TestPortalWithoutSignInSaysSoAndWarnsOnce(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	term := reconciled(g, createTerm(t, ns, "nosignin", noSignInSpec))
	rollOut(g, term)
	g.Eventually(func(g Gomega) {
		g.Expect(condition(g, term, ConditionPortalReady)).To(Equal(metav1.ConditionTrue))
		g.Expect(condition(g, term, ConditionReady)).To(Equal(metav1.ConditionTrue))
	}).WithTimeout(10 * time.Second).Should(Succeed())
	g.Expect(portalMessage(g, term)).To(Equal("2 of 2 replicas available; " + noSignInMessage))

	// More reconciles: direct ones, with a recorder of their own, and the
	// manager's, woken by an annotation on a child.
	fake := events.NewFakeRecorder(100)
	r := &LeapTermReconciler{Client: mgrClient, Recorder: fake, Clock: testClock, Images: images, Random: rand.Reader}
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: term.Name}}
	for range 5 {
		_, err := r.Reconcile(ctx, req)
		g.Expect(err).NotTo(HaveOccurred())
	}
	for i := range 3 {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: build.NamesOf(term).Component(build.Portal)}}
		get(g, svc)
		svc.Annotations = map[string]string{"example.com/seen": string(rune('a' + i))}
		g.Expect(k8s.Update(ctx, svc)).To(Succeed())
	}
	g.Eventually(func(g Gomega) { g.Expect(eventsFor(g, term, ReasonNoSignIn)).NotTo(BeEmpty()) }).
		WithTimeout(10 * time.Second).Should(Succeed())
	// A repeated Event would be a second object or a series on the first.
	g.Consistently(func(g Gomega) {
		warnings := eventsFor(g, term, ReasonNoSignIn)
		g.Expect(warnings).To(HaveLen(1))
		g.Expect(warnings[0].Type).To(Equal(corev1.EventTypeWarning))
		g.Expect(warnings[0].Series).To(BeNil(), "the warning was recorded again")
		g.Expect(warnings[0].Note).To(ContainSubstring("spec.portal.localAccounts: true"))
	}).WithTimeout(2 * time.Second).Should(Succeed())
	g.Expect(fake.Events).To(BeEmpty(), "a reconcile that changed nothing recorded an Event")
	g.Expect(portalMessage(g, term)).To(HaveSuffix(noSignInMessage))

	// Local accounts on: the message no longer says it, and an Event says
	// that people can sign in.
	updateTerm(g, term, func(t *v1alpha1.LeapTerm) { t.Spec.Portal.LocalAccounts = ptr.To(true) })
	term = reconciled(g, term)
	rollOut(g, term)
	g.Eventually(func(g Gomega) {
		g.Expect(condition(g, term, ConditionReady)).To(Equal(metav1.ConditionTrue))
		g.Expect(portalMessage(g, term)).To(Equal("2 of 2 replicas available"))
		g.Expect(eventsFor(g, term, ReasonSignInConfigured)).To(ConsistOf(HaveField("Type", corev1.EventTypeNormal)))
	}).WithTimeout(10 * time.Second).Should(Succeed())

	// From local accounts to single sign-on in one change: never without a
	// sign-in, so no new warning.
	updateTerm(g, term, func(t *v1alpha1.LeapTerm) {
		t.Spec.Portal.LocalAccounts = ptr.To(false)
		t.Spec.Portal.OIDC = &v1alpha1.PortalOIDC{IssuerURL: "https://login.example.ac.uk/realms/uni", ClientID: "leap"}
	})
	term = reconciled(g, term)
	rollOut(g, term)
	g.Eventually(func(g Gomega) {
		g.Expect(condition(g, term, ConditionReady)).To(Equal(metav1.ConditionTrue))
		g.Expect(portalMessage(g, term)).NotTo(ContainSubstring("nobody can sign in"))
	}).WithTimeout(10 * time.Second).Should(Succeed())
	g.Consistently(func(g Gomega) {
		g.Expect(eventsFor(g, term, ReasonNoSignIn)).To(HaveLen(1))
		g.Expect(eventsFor(g, term, ReasonSignInConfigured)).To(HaveLen(1))
	}).WithTimeout(time.Second).Should(Succeed())
}

// TestPortalSignInMessageBeforeTheUpgrade: a LeapTerm whose status an
// operator from before sign-in wrote (no word about it) gets the message
// and the warning on its first reconcile, once.
func TestPortalSignInMessageBeforeTheUpgrade(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	term := reconciled(g, createTerm(t, ns, "upgraded", noSignInSpec))
	rollOut(g, term)
	g.Eventually(func(g Gomega) { g.Expect(condition(g, term, ConditionReady)).To(Equal(metav1.ConditionTrue)) }).
		WithTimeout(10 * time.Second).Should(Succeed())

	// Pause the manager's reconciler, then write status as the old operator did.
	updateTerm(g, term, func(t *v1alpha1.LeapTerm) { t.Annotations = map[string]string{v1alpha1.PauseAnnotation: "disabled"} })
	g.Eventually(func(g Gomega) { g.Expect(condition(g, term, ConditionPaused)).To(Equal(metav1.ConditionTrue)) }).
		WithTimeout(10 * time.Second).Should(Succeed())
	g.Eventually(func(g Gomega) {
		get(g, term)
		c := meta.FindStatusCondition(term.Status.Conditions, ConditionPortalReady)
		c.Message = "2 of 2 replicas available"
		g.Expect(k8s.Status().Update(ctx, term)).To(Succeed())
	}).WithTimeout(5 * time.Second).Should(Succeed())
	g.Expect(portalMessage(g, term)).NotTo(ContainSubstring("nobody"))

	fake := events.NewFakeRecorder(100)
	r := &LeapTermReconciler{Client: mgrClient, Recorder: fake, Clock: testClock, Images: images, Random: rand.Reader}
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: term.Name}}
	updateTerm(g, term, func(t *v1alpha1.LeapTerm) { delete(t.Annotations, v1alpha1.PauseAnnotation) })
	// The manager's reconciler and this one race on the unpaused LeapTerm;
	// the status patch's optimistic lock lets one of them announce it.
	g.Eventually(func(g Gomega) {
		_, err := r.Reconcile(ctx, req)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(portalMessage(g, term)).To(HaveSuffix(noSignInMessage))
	}).WithTimeout(10 * time.Second).Should(Succeed())
	for range 3 {
		_, err := r.Reconcile(ctx, req)
		g.Expect(err).NotTo(HaveOccurred())
	}
	var fromFake int
	for len(fake.Events) > 0 {
		if e := <-fake.Events; e == corev1.EventTypeWarning+" "+ReasonNoSignIn+" no sign-in configured for the portal; "+noSignInMessage {
			fromFake++
		}
	}
	// The recorder folds a repeated Event into a series on the first.
	occurrences := func(g Gomega) int {
		n := fromFake
		for _, e := range eventsFor(g, term, ReasonNoSignIn) {
			n++
			if e.Series != nil {
				n += int(e.Series.Count) - 1
			}
		}
		return n
	}
	g.Eventually(occurrences).WithTimeout(5*time.Second).Should(Equal(2), "one on creation, one after the upgrade")
	g.Consistently(occurrences).WithTimeout(time.Second).Should(Equal(2))
}
