package builder

import (
	"encoding/json"
	"testing"

	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

func withNotifications(t *v1alpha1.LeapTerm) *v1alpha1.LeapTerm {
	two := int32(2)
	t.Spec.Portal.Ingress = &v1alpha1.Ingress{Host: "leap.uni.test"}
	t.Spec.Notifications = &v1alpha1.Notifications{
		Enabled: true, UniversityName: "University of Testing",
		SMTP:            &v1alpha1.SMTP{Host: "smtp.uni.test", Port: 587, From: "leap@uni.test", TLS: v1alpha1.SMTPStartTLS, CredentialsSecret: "smtp-login"},
		Digest:          v1alpha1.DigestSchedule{Days: []v1alpha1.Weekday{"Monday"}, Time: "08:00"},
		ReferralTargets: []v1alpha1.ReferralTarget{{Service: "wellbeing", Email: "wellbeing@uni.test"}},
		Notifier:        v1alpha1.Component{Replicas: &two},
	}
	return t
}

// The notifier's Deployment: its own image, its settings as JSON (with the
// portal's address from the Ingress, without its replicas), scoring's
// address, and the SMTP credentials mounted from the Secret named.
func TestNotifierDeployment(t *testing.T) {
	term := withNotifications(leapTerm())
	d, err := NotifierDeployment(term, images, "h1")
	if err != nil {
		t.Fatal(err)
	}
	if *d.Name != "y2026-notifier" || *d.Spec.Replicas != 2 {
		t.Errorf("Deployment %s with %d replicas, want y2026-notifier with 2", *d.Name, *d.Spec.Replicas)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if *c.Image != "registry.test/leap-notifier:v1.2.3" {
		t.Errorf("image %s", *c.Image)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if e.Value != nil {
			env[*e.Name] = *e.Value
		}
	}
	var got v1alpha1.Notifications
	if err := json.Unmarshal([]byte(env["NOTIFICATIONS"]), &got); err != nil {
		t.Fatalf("NOTIFICATIONS %q: %v", env["NOTIFICATIONS"], err)
	}
	if got.PortalURL != "https://leap.uni.test" || got.Notifier.Replicas != nil || got.SMTP.Host != "smtp.uni.test" {
		t.Errorf("NOTIFICATIONS %s: want the portal's Ingress address and no replicas", env["NOTIFICATIONS"])
	}
	if env["SCORING_URL"] != "http://y2026-scoring.leap.svc:80" || env["SMTP_CREDENTIALS_DIR"] != SMTPCredentialsDir || env["LEAP_POLICY_FILE"] == "" {
		t.Errorf("env %v", env)
	}
	var secret string
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Secret != nil && *v.Name == "smtp-credentials" {
			secret = *v.Secret.SecretName
		}
	}
	if secret != "smtp-login" {
		t.Errorf("SMTP credentials from Secret %q, want smtp-login", secret)
	}

	// Scaling the notifier changes no setting, so rolls nothing else.
	three := int32(3)
	term.Spec.Notifications.Notifier.Replicas = &three
	d3, _ := NotifierDeployment(term, images, "h1")
	if a, b := envValue(d.Spec.Template.Spec.Containers[0].Env, "NOTIFICATIONS"), envValue(d3.Spec.Template.Spec.Containers[0].Env, "NOTIFICATIONS"); a != b {
		t.Errorf("replicas changed NOTIFICATIONS:\n%s\n%s", a, b)
	}

	// No Secret named: no volume, no credentials.
	term.Spec.Notifications.SMTP.CredentialsSecret = ""
	d, _ = NotifierDeployment(term, images, "h1")
	if len(d.Spec.Template.Spec.Volumes) != 2 || envValue(d.Spec.Template.Spec.Containers[0].Env, "SMTP_CREDENTIALS_DIR") != "" {
		t.Errorf("credentials mounted though no Secret is named: %d volumes", len(d.Spec.Template.Spec.Volumes))
	}
}

func envValue(env []corev1ac.EnvVarApplyConfiguration, name string) string {
	for _, e := range env {
		if *e.Name == name && e.Value != nil {
			return *e.Value
		}
	}
	return ""
}

// The notifier reaches Redis and scoring through policies of its own,
// which select those pods and admit the notifier's alone; nobody reaches
// the notifier's API.
func TestNotifierNetworkPolicies(t *testing.T) {
	term := withNotifications(leapTerm())
	notifier := podLabels(term, Notifier)
	for _, tc := range []struct {
		name   string
		c      string
		port   int
		policy func(*v1alpha1.LeapTerm) *networkingv1ac.NetworkPolicyApplyConfiguration
	}{
		{"to redis", Redis, RedisPort, NotifierToRedisNetworkPolicy},
		{"to scoring", Scoring, HTTPPort, NotifierToScoringNetworkPolicy},
	} {
		p := tc.policy(term)
		if !selects(t, p.Spec.PodSelector, podLabels(term, tc.c)) || selects(t, p.Spec.PodSelector, notifier) {
			t.Errorf("%s: selects the wrong pods", tc.name)
		}
		from := p.Spec.Ingress[0].From[0].PodSelector
		if !selects(t, from, notifier) || selects(t, from, podLabels(term, Portal)) || selects(t, from, podLabels(term, Ingestion)) {
			t.Errorf("%s: admits others than the notifier", tc.name)
		}
		if got := p.Spec.Ingress[0].Ports[0].Port.IntValue(); got != tc.port {
			t.Errorf("%s: port %d, want %d", tc.name, got, tc.port)
		}
	}
	own := NotifierNetworkPolicy(term)
	if !selects(t, own.Spec.PodSelector, notifier) || len(own.Spec.Ingress) != 0 {
		t.Errorf("the notifier's own policy admits %d rules, want none without scrapers", len(own.Spec.Ingress))
	}
}
