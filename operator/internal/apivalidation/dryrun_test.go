package apivalidation

import (
	"context"
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/draft"
	"github.com/leap-dev/leap/operator/api/leapterm"
)

// TestDryRunReportsWhatTheGoRulesMiss: the API server's CRD is the one
// source of truth. Here it holds a rule the Go check's copy lacks (as
// when the operator, and its CRD, are upgraded before the portal): a
// draft the Go rules accept is refused by the server-side dry run the
// portal sends before a preview, with the path of the refused field, so
// the form shows it beside that field; nothing is written.
func TestDryRunReportsWhatTheGoRulesMiss(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	u := typical(t, ns)
	g.Expect(k8s.Create(ctx, u)).To(Succeed())
	httpClient, err := rest.HTTPClientFor(apiServer)
	g.Expect(err).NotTo(HaveOccurred())
	c := &leapterm.Client{BaseURL: apiServer.Host, HTTP: httpClient, Namespace: ns, Name: u.GetName()}

	const message = "this cluster allows a part-time window of at most 28 teaching days"
	tightenCRD(t, "partTimeWindowDays", 40, "self <= 28", message)

	spec, rv, err := c.GetSpec(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	d, errs := draft.Parse([]byte(`{"scoring":{"partTimeWindowDays":40}}`))
	g.Expect(errs).To(BeEmpty())
	res, errs, err := d.Apply(ctx, ns+"/"+u.GetName(), spec, calendar.Day{Year: 2026, Month: 11, Day: 2})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(errs).To(BeEmpty(), "the Go rules refused the draft: this test needs one they accept")

	var refusal *leapterm.Refusal
	g.Eventually(func() bool {
		return errors.As(c.DryRunPolicy(ctx, rv, res.Patch), &refusal)
	}).WithTimeout(20*time.Second).Should(BeTrue(), "the API server's dry run accepted a draft its CRD refuses")
	g.Expect(refusal.Code).To(Equal(422))
	g.Expect(refusal.Causes).To(ContainElement(And(
		HaveField("Field", "spec.scoring.partTimeWindowDays"),
		HaveField("Message", ContainSubstring(message)))))

	got, _, err := c.GetSpec(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got["scoring"].(map[string]any)["partTimeWindowDays"]).To(BeEquivalentTo(21), "a dry run wrote the LeapTerm")
}

// tightenCRD adds a CEL rule to a field of spec.scoring in the API
// server's LeapTerm CRD until the test ends, and waits for the server to
// serve the CRD as it was again afterwards: until it takes probe, a value
// of the field the rule refuses.
func tightenCRD(t *testing.T, field string, probe int64, rule, message string) {
	t.Helper()
	g := NewWithT(t)
	ctx := context.Background()
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
	key := client.ObjectKey{Name: "leapterms.leap.dev"}
	edit := func(rules func([]any) []any) {
		g.Eventually(func() error {
			if err := k8s.Get(ctx, key, crd); err != nil {
				return err
			}
			versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
			for i := range versions {
				v := versions[i].(map[string]any)
				fieldPath := []string{"schema", "openAPIV3Schema", "properties", "spec", "properties", "scoring", "properties", field}
				existing, _, _ := unstructured.NestedSlice(v, append(fieldPath, "x-kubernetes-validations")...)
				if err := unstructured.SetNestedSlice(v, rules(existing), append(fieldPath, "x-kubernetes-validations")...); err != nil {
					return err
				}
				versions[i] = v
			}
			if err := unstructured.SetNestedSlice(crd.Object, versions, "spec", "versions"); err != nil {
				return err
			}
			return k8s.Update(ctx, crd)
		}).WithTimeout(10 * time.Second).Should(Succeed())
	}
	var original []any
	edit(func(existing []any) []any {
		original = existing
		return append(append([]any{}, existing...), map[string]any{"rule": rule, "message": message})
	})
	t.Cleanup(func() {
		edit(func([]any) []any { return original })
		u := typical(t, newNamespace(t))
		set("spec.scoring."+field, probe)(u)
		g.Eventually(func() error {
			return k8s.Create(ctx, u.DeepCopy(), client.DryRunAll)
		}).WithTimeout(20 * time.Second).Should(Succeed())
	})
}
