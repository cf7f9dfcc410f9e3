package apivalidation

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// notifications is a valid spec.notifications with changes applied
// (field, value, ...); a nil value removes the field.
func notifications(changes ...any) map[string]any {
	n := map[string]any{
		"enabled":        true,
		"universityName": "University of Testing",
		"smtp":           map[string]any{"host": "smtp.example.ac.uk", "port": int64(587), "from": "leap@example.ac.uk", "tls": "StartTLS", "credentialsSecret": "smtp-login"},
		"digest":         map[string]any{"days": []any{"Monday", "Thursday"}, "time": "08:00"},
		"referralTargets": []any{
			map[string]any{"service": "wellbeing", "email": "wellbeing@example.ac.uk"},
		},
	}
	for i := 0; i+1 < len(changes); i += 2 {
		path := strings.Split(changes[i].(string), ".")
		parent := n
		for _, p := range path[:len(path)-1] {
			parent = maps.Clone(parent[p].(map[string]any))
			n[p] = parent // one level deep is all the cases need
		}
		if changes[i+1] == nil {
			delete(parent, path[len(path)-1])
		} else {
			parent[path[len(path)-1]] = changes[i+1]
		}
	}
	return n
}

// Every rule of spec.notifications refuses what breaks it with a message
// naming the field and what is wanted.
func TestInvalidNotificationsAreRejected(t *testing.T) {
	ns := newNamespace(t)
	for i, tc := range []struct {
		name    string
		n       map[string]any
		message string
	}{
		{"time without a leading zero", notifications("digest.time", "8:00"), "digest.time must be HH:MM on a 24-hour clock"},
		{"time past midnight", notifications("digest.time", "24:30"), "digest.time must be HH:MM on a 24-hour clock"},
		{"a day that is not one", notifications("digest.days", []any{"Funday"}), `Unsupported value: "Funday"`},
		{"no day at all", notifications("digest.days", []any{}), "should have at least 1 items"},
		{"from not an address", notifications("smtp.from", "leap at example"), "smtp.from must be an email address"},
		{"from with a display name", notifications("smtp.from", "LEAP <leap@example.ac.uk>"), "smtp.from must be an email address"},
		{"referral address without a domain", notifications("referralTargets", []any{map[string]any{"service": "wellbeing", "email": "wellbeing@"}}),
			"referralTargets[].email must be an email address"},
		{"referral address with two recipients", notifications("referralTargets", []any{map[string]any{"service": "wellbeing", "email": "a@x.ac.uk,b@x.ac.uk"}}),
			"referralTargets[].email must be an email address"},
		{"a referral service named twice", notifications("referralTargets", []any{
			map[string]any{"service": "wellbeing", "email": "a@x.ac.uk"}, map[string]any{"service": "wellbeing", "email": "b@x.ac.uk"},
		}), `referralTargets[1]: Duplicate value: {"service":"wellbeing"}`},
		{"a referral target without a service", notifications("referralTargets", []any{map[string]any{"service": "", "email": "a@x.ac.uk"}}),
			"should be at least 1 chars long"},
		{"host with a port", notifications("smtp.host", "smtp.example.ac.uk:25"), "smtp.host must be a host name"},
		{"port out of range", notifications("smtp.port", int64(70000)), "should be less than or equal to 65535"},
		{"unknown TLS mode", notifications("smtp.tls", "Sometimes"), `Unsupported value: "Sometimes"`},
		{"password in plain text", notifications("smtp.tls", "None"), "smtp.credentialsSecret needs tls StartTLS or ImplicitTLS"},
		{"enabled without SMTP", notifications("smtp", nil), "notifications.smtp is required when notifications are enabled"},
		{"enabled without a university", notifications("universityName", nil), "notifications.universityName is required"},
		{"portal URL not http", notifications("portalURL", "leap.example.ac.uk"), "portalURL must be an http:// or https:// address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			u := typical(t, ns)
			u.SetName(fmt.Sprintf("notify-%d", i))
			set("spec.notifications", tc.n)(u)
			err := k8s.Create(context.Background(), u)
			g.Expect(err).To(HaveOccurred(), "the API server accepted notifications with %s", tc.name)
			g.Expect(err.Error()).To(ContainSubstring(tc.message))
		})
	}
}

// Valid notifications are taken, off ones need nothing else, and the API
// server's defaults are those a LeapTerm file gets (make run).
func TestNotificationsDefaults(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	for i, n := range []map[string]any{
		notifications(),
		{"enabled": false},
		notifications("digest", nil, "smtp", map[string]any{"host": "10.0.0.25", "from": "leap@example.ac.uk"}, "portalURL", "https://leap.example.ac.uk/"),
		notifications("smtp", map[string]any{"host": "mailpit", "port": int64(1025), "from": "leap@example.ac.uk", "tls": "None"}),
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			g := NewWithT(t)
			u := sample(t, "leap_v1alpha1_leapterm_minimal.yaml")
			u.SetNamespace(ns)
			u.SetName(fmt.Sprintf("notify-defaults-%d", i))
			set("spec.notifications", n)(u)
			local := u.DeepCopy()
			g.Expect(k8s.Create(ctx, u)).To(Succeed())
			fromServer := &v1alpha1.LeapTerm{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(u), fromServer)).To(Succeed())
			v1alpha1.ApplyDefaults(local.Object)
			fromFile := &v1alpha1.LeapTerm{}
			g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(local.Object, fromFile)).To(Succeed())
			g.Expect(equality.Semantic.DeepEqual(fromServer.Spec, fromFile.Spec)).To(BeTrue(),
				"server defaults:\n%s\nfile defaults:\n%s", toYAML(fromServer.Spec), toYAML(fromFile.Spec))
			g.Expect(fromServer.Spec.Notifications.Digest.Time).To(Equal("08:00"))
		})
	}
}
