package charttest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/leap-dev/leap/operator/api/leapterm"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	build "github.com/leap-dev/leap/operator/internal/builder"
	"github.com/leap-dev/leap/operator/internal/testenv"
)

// TestPortalPolicy installs the chart's ValidatingAdmissionPolicy and its
// binding on the real API server, gives a LeapTerm's portal the Role and
// RoleBinding the operator makes, and patches the LeapTerm as the portal's
// ServiceAccount (impersonated): the attendance switch passes; an image,
// replicas, weights, label or annotation change is refused with the
// policy's message; the status subresource is not the portal's; the
// operator's own identity is unaffected.
func TestPortalPolicy(t *testing.T) {
	ctx := context.Background()
	const ns = "portal-policy"
	if err := ensureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	for _, o := range render(t, release{}) {
		if !strings.HasPrefix(o.u.GetKind(), "ValidatingAdmissionPolicy") {
			continue
		}
		u := o.u.DeepCopy()
		if err := k8s.Create(ctx, u); err != nil {
			t.Fatalf("%s: %v", o, err)
		}
		t.Cleanup(func() { _ = k8s.Delete(context.Background(), u) })
	}

	term := &v1alpha1.LeapTerm{}
	if err := readYAML(filepath.Join(testenv.Root(), "config", "samples", "leap_v1alpha1_leapterm_typical.yaml"), term); err != nil {
		t.Fatal(err)
	}
	term.Namespace = ns
	if err := k8s.Create(ctx, term); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), term) })
	for _, ac := range []runtime.ApplyConfiguration{build.PortalRole(term), build.PortalRoleBinding(term)} {
		if err := k8s.Apply(ctx, ac, client.FieldOwner("charttest"), client.ForceOwnership); err != nil {
			t.Fatal(err)
		}
	}
	// The operator's ServiceAccount as the chart names it, allowed the same
	// patches (its ClusterRole grants more).
	operatorUser := "system:serviceaccount:" + releaseNamespace + ":leap-leap-operator"
	operatorBinding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "operator", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: build.NamesOf(term).PortalAccount()},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "leap-leap-operator", Namespace: releaseNamespace}},
	}
	if err := k8s.Create(ctx, operatorBinding); err != nil {
		t.Fatal(err)
	}

	portalUser := "system:serviceaccount:" + ns + ":" + build.NamesOf(term).PortalAccount()
	portal := impersonating(t, portalUser)
	operator := impersonating(t, operatorUser)
	patch := func(c client.Client, body string) error {
		return c.Patch(ctx, &v1alpha1.LeapTerm{ObjectMeta: metav1.ObjectMeta{Name: term.Name, Namespace: ns}},
			client.RawPatch(types.MergePatchType, []byte(body)))
	}
	specRefused := func(field string) string {
		return fmt.Sprintf("the portal may change only spec.attendance, spec.scoring, spec.breaks and spec.policyHistory of LeapTerm %s, not %s;", term.Name, field)
	}
	const metadataRefused = "the portal may not change the labels or annotations of its LeapTerm"

	// RBAC and the policy reach the API server's caches within seconds (more
	// on a loaded machine): wait until both the attendance switch passes and
	// an image is refused.
	// Each try asks for a new image: one the API server accepted before the
	// policy was active would be no change, and no change is allowed.
	tries := 0
	image := func() string {
		tries++
		return fmt.Sprintf(`{"spec":{"portal":{"image":"registry.example.com/not-leap:%d"}}}`, tries)
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return patch(portal, `{"spec":{"attendance":{"enabled":false,"reason":"Teaching is online."}}}`) == nil &&
			patch(portal, image()) != nil, nil
	})
	if err != nil {
		t.Errorf("the portal's attendance switch and a refused image never held together: attendance %v, image %v",
			patch(portal, `{"spec":{"attendance":{"enabled":false}}}`), patch(portal, image()))
	}

	for _, tc := range []struct{ name, body, want string }{
		{"attendance back on", `{"spec":{"attendance":{"enabled":true,"reason":null}}}`, ""},
		{"policy history", `{"spec":{"policyHistory":[{"until":"2026-11-01","attendance":{"enabled":true}}]}}`, ""},
		{"policy history with weights", `{"spec":{"policyHistory":[{"until":"2026-11-02","attendance":{"enabled":true}}],"scoring":{"weights":{"tap_in":8}}}}`, ""},
		{"image", image(), specRefused("spec.portal")},
		{"replicas", `{"spec":{"scoringService":{"replicas":5}}}`, specRefused("spec.scoringService")},
		{"weights", `{"spec":{"scoring":{"weights":{"tap_in":9}}}}`, ""},
		{"bands", `{"spec":{"scoring":{"bands":{"high":80,"good":60,"partial":40,"low":20}}}}`, ""},
		{"breaks", `{"spec":{"breaks":[{"name":"Reading week","start":"2026-11-02","end":"2026-11-06"}]}}`, ""},
		{"weights with replicas", `{"spec":{"scoring":{"weights":{"tap_in":7}},"scoringService":{"replicas":4}}}`, specRefused("spec.scoringService")},
		{"attendance with an image", `{"spec":{"attendance":{"enabled":false},"ingestion":{"image":"x/y:1"}}}`, specRefused("spec.ingestion")},
		{"a field removed", `{"spec":{"telemetry":null}}`, specRefused("spec.telemetry")},
		{"pause annotation", `{"metadata":{"annotations":{"` + v1alpha1.PauseAnnotation + `":"disabled"}}}`, metadataRefused},
		{"claim annotation", `{"metadata":{"annotations":{"` + v1alpha1.OperatorAnnotation + `":"elsewhere/other"}}}`, metadataRefused},
		{"label", `{"metadata":{"labels":{"team":"portal"}}}`, metadataRefused},
	} {
		err := patch(portal, tc.body)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("portal, %s: refused: %v", tc.name, err)
		case tc.want != "" && err == nil:
			t.Errorf("portal, %s: accepted, want refused with %q", tc.name, tc.want)
		case tc.want != "" && (!apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("portal, %s: %v\nwant a refusal with %q", tc.name, err, tc.want)
		}
	}

	// The portal's own attendance switch: the very patch the portal sends
	// (leapterm.AttendancePatch), from a day, so it writes the policy history too.
	body, err := leapterm.AttendancePatch(false, "Teaching is online.",
		[]v1alpha1.PolicyEra{{Until: "2026-11-15", Attendance: v1alpha1.Attendance{Enabled: ptr.To(true)}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := portal.Patch(ctx, &v1alpha1.LeapTerm{ObjectMeta: metav1.ObjectMeta{Name: term.Name, Namespace: ns}},
		client.RawPatch(types.MergePatchType, body), client.FieldOwner(leapterm.FieldManager)); err != nil {
		t.Errorf("the portal's attendance switch refused: %v", err)
	}

	err = portal.Status().Patch(ctx, &v1alpha1.LeapTerm{ObjectMeta: metav1.ObjectMeta{Name: term.Name, Namespace: ns}},
		client.RawPatch(types.MergePatchType, []byte(`{"status":{"observedGeneration":1}}`)))
	if !apierrors.IsForbidden(err) {
		t.Errorf("portal patched the status subresource (%v): status is the operator's", err)
	}

	for _, body := range []string{
		`{"spec":{"portal":{"image":"registry.example.com/leap-portal:2"},"scoringService":{"replicas":3}}}`,
		`{"metadata":{"annotations":{"` + v1alpha1.PauseAnnotation + `":"disabled"}}}`,
	} {
		if err := patch(operator, body); err != nil {
			t.Errorf("the operator's patch %s refused: %v", body, err)
		}
	}
}

// impersonating is a client of the test API server acting as user.
func impersonating(t *testing.T, user string) client.Client {
	t.Helper()
	c, err := client.New(impersonatingConfig(user), client.Options{Scheme: newScheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// impersonatingConfig reaches the test API server as user.
func impersonatingConfig(user string) *rest.Config {
	cfg := rest.CopyConfig(restConfig)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	return cfg
}
