package controller

import (
	"context"
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/client-go/rest"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/draft"
	"github.com/leap-dev/leap/operator/api/leapterm"
	build "github.com/leap-dev/leap/operator/internal/builder"
)

// TestPolicyApplyRefusesAStaleChange: two LEAP team members work out a
// change from the same LeapTerm; the first applies, the second's apply,
// made from the version before, is refused with 409 Conflict by the real
// API server and changes nothing.
func TestPolicyApplyRefusesAStaleChange(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	term := reconciled(g, createTerm(t, ns, "apply", typicalSpec))
	as := rest.CopyConfig(cfg)
	as.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + build.NamesOf(term).PortalAccount()}
	httpClient, err := rest.HTTPClientFor(as)
	g.Expect(err).NotTo(HaveOccurred())
	portal := &leapterm.Client{BaseURL: cfg.Host, HTTP: httpClient, Namespace: ns, Name: term.Name}
	ctx := context.Background()
	today := calendar.Day{Year: 2026, Month: 11, Day: 2}

	var (
		spec          map[string]any
		rv            string
		first, second map[string]any
	)
	change := func(g Gomega, body string) map[string]any {
		d, errs := draft.Parse([]byte(body))
		g.Expect(errs).To(BeEmpty())
		res, errs, err := d.Apply(ctx, ns+"/"+term.Name, spec, today)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(errs).To(BeEmpty())
		return res.Patch
	}
	// Retried only while RBAC caches settle, or should the operator write
	// status between the read and the first apply (that is a conflict too).
	g.Eventually(func(g Gomega) {
		spec, rv, err = portal.GetSpec(ctx)
		g.Expect(err).NotTo(HaveOccurred())
		first = change(g, `{"attendance":{"enabled":false,"reason":"Teaching is online."}}`)
		second = change(g, `{"attendance":{"enabled":false,"reason":"Buildings closed."}}`)
		// A dry run is checked and written nowhere.
		g.Expect(portal.DryRunPolicy(ctx, rv, first)).To(Succeed())
		g.Expect(portal.ApplyPolicy(ctx, rv, first)).To(Succeed())
	}).WithTimeout(10 * time.Second).Should(Succeed())
	g.Expect(errors.Is(portal.DryRunPolicy(ctx, rv, second), leapterm.ErrConflict)).To(BeTrue(), "a dry run from a stale version was not refused")
	err = portal.ApplyPolicy(ctx, rv, second)
	g.Expect(errors.Is(err, leapterm.ErrConflict)).To(BeTrue(), "a change from a stale version was not refused: %v", err)

	get(g, term)
	g.Expect(term.Spec.Attendance.IsEnabled()).To(BeFalse())
	g.Expect(term.Spec.Attendance.Reason).To(Equal("Teaching is online."), "the stale change overwrote the first")
	g.Expect(term.Spec.PolicyHistory).To(HaveLen(1))
	g.Expect(string(term.Spec.PolicyHistory[0].Until)).To(Equal("2026-11-01"))
	g.Expect(term.Spec.PolicyHistory[0].Attendance.IsEnabled()).To(BeTrue())

	// Read again, the second change applies.
	spec, rv, err = portal.GetSpec(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(portal.ApplyPolicy(ctx, rv, change(g, `{"attendance":{"enabled":false,"reason":"Buildings closed."}}`))).To(Succeed())
	get(g, term)
	g.Expect(term.Spec.Attendance.Reason).To(Equal("Buildings closed."))
}
