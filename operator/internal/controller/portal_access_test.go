package controller

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/leap-dev/leap/operator/api/leapterm"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	build "github.com/leap-dev/leap/operator/internal/builder"
)

// TestPortalMayPatchItsOwnLeapTermOnly runs the portal's attendance switch
// on the real API server as the portal's ServiceAccount (impersonated), with
// the Role and RoleBinding the operator made: its own LeapTerm can be
// patched, and the change reaches the policy ConfigMap; another LeapTerm
// in the same namespace cannot.
func TestPortalMayPatchItsOwnLeapTermOnly(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	term := reconciled(g, createTerm(t, ns, "own", typicalSpec))
	other := reconciled(g, createTerm(t, ns, "other", typicalSpec))

	as := rest.CopyConfig(cfg)
	as.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + build.NamesOf(term).PortalAccount()}
	client, err := rest.HTTPClientFor(as)
	g.Expect(err).NotTo(HaveOccurred())
	writer := func(name string) *leapterm.Client {
		return &leapterm.Client{BaseURL: cfg.Host, HTTP: client, Namespace: ns, Name: name}
	}

	g.Expect(writer(other.Name).SetAttendance(context.Background(), false, "not mine", nil)).To(MatchError(ContainSubstring(`cannot patch resource \"leapterms\" in API group \"leap.dev\"`)))

	// From 2 November: attendance was on until the 1st, and the history
	// reaches the policy document through the LeapTerm.
	history := []v1alpha1.PolicyEra{{Until: "2026-11-01", Attendance: v1alpha1.Attendance{Enabled: ptr.To(true)}}}
	g.Eventually(func() error {
		return writer(term.Name).SetAttendance(context.Background(), false, "Teaching is online.", history)
	}).WithTimeout(5 * time.Second).Should(Succeed()) // RBAC caches settle within a moment
	g.Eventually(func(g Gomega) {
		doc, _ := policyIn(g, term)
		g.Expect(doc.Attendance.IsEnabled()).To(BeFalse())
		g.Expect(doc.Attendance.Reason).To(Equal("Teaching is online."))
		g.Expect(doc.PolicyHistory).To(HaveLen(1))
		g.Expect(doc.PolicyHistory[0].Until).To(Equal(v1alpha1.Date("2026-11-01")))
		g.Expect(doc.PolicyHistory[0].Attendance.IsEnabled()).To(BeTrue())
	}).WithTimeout(10 * time.Second).Should(Succeed())

	get(g, other)
	g.Expect(other.Spec.Attendance.IsEnabled()).To(BeTrue(), "the portal changed a LeapTerm that is not its own")
}
