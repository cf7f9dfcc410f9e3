package apivalidation

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/operator/internal/testenv"
)

var (
	k8s client.Client
	// apiServer is where the tests' API server listens, with admin
	// credentials.
	apiServer *rest.Config
)

func TestMain(m *testing.M) {
	env, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	apiServer = env.Config
	k8s, err = client.New(env.Config, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "api-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// sample reads a LeapTerm of config/samples as an unstructured document.
func sample(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.Root(), "config", "samples", name))
	if err != nil {
		t.Fatal(err)
	}
	obj := map[string]any{}
	if err := yaml.Unmarshal(b, &obj); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &unstructured.Unstructured{Object: obj}
}

func typical(t *testing.T, ns string) *unstructured.Unstructured {
	u := sample(t, "leap_v1alpha1_leapterm_typical.yaml")
	u.SetNamespace(ns)
	return u
}

func set(path string, value any) func(*unstructured.Unstructured) {
	return func(u *unstructured.Unstructured) {
		if err := unstructured.SetNestedField(u.Object, runtime.DeepCopyJSONValue(value), strings.Split(path, ".")...); err != nil {
			panic(err)
		}
	}
}

func term(name, start, end string) any {
	return map[string]any{"name": name, "start": start, "end": end}
}

// invalid lists every rule of the API with a LeapTerm that breaks it and
// the message a person is shown.
var invalid = []struct {
	name    string
	change  func(*unstructured.Unstructured)
	message string
}{
	{"term ends before it starts", set("spec.terms", []any{term("autumn", "2026-12-11", "2026-10-05")}),
		"a term or break must not end before it starts"},
	{"break ends before it starts", set("spec.breaks", []any{term("rw", "2026-11-13", "2026-11-09")}),
		"a term or break must not end before it starts"},
	{"overlapping breaks", set("spec.breaks", []any{term("rw", "2026-11-09", "2026-11-13"), term("open-day", "2026-11-13", "2026-11-14")}),
		"breaks must not overlap"},
	{"overlapping terms", set("spec.terms", []any{term("autumn", "2026-10-05", "2026-12-11"), term("winter", "2026-12-01", "2027-01-10")}),
		"spec.terms: Invalid value: terms must not overlap"},
	{"a day February lacks", set("spec.terms", []any{term("autumn", "2026-10-05", "2026-12-11"), term("spring", "2027-01-18", "2027-02-29")}),
		"2027-02-29 is not a day of the calendar"},
	{"the 31st of a 30-day month", set("spec.breaks", []any{term("rw", "2026-11-09", "2026-11-31")}),
		"2026-11-31 is not a day of the calendar"},
	{"External Redis URL with a password", set("spec.redis", map[string]any{"mode": "External", "address": "redis://:hunter2@redis.example:6379/0"}),
		"spec.redis.address must not hold a password"},
	{"External Redis URL with a user and password", set("spec.redis", map[string]any{"mode": "External", "address": "rediss://leap:hunter2@redis.example:6380?addr=r2:6380"}),
		"put the password in a Secret and name it in spec.redis.passwordSecret"},
	{"break outside every term", set("spec.breaks", []any{term("xmas", "2026-12-20", "2027-01-02")}),
		"every break must lie inside one term"},
	{"break across two terms", set("spec.breaks", []any{term("long", "2026-12-10", "2027-01-19")}),
		"every break must lie inside one term"},
	{"negative weight", set("spec.scoring.weights", map[string]any{"tap_in": int64(-1), "moodle_login": int64(1)}),
		"weights must not be negative"},
	{"no weight above zero", set("spec.scoring.weights", map[string]any{"tap_in": int64(0), "moodle_login": int64(0)}),
		"at least one activity must have a weight above zero"},
	{"unknown activity key", set("spec.scoring.weights", map[string]any{"tap_in": int64(3), "gym_visit": int64(1)}),
		"weights name an unknown activity"},
	{"display-only activity weighted", set("spec.scoring.weights", map[string]any{"tap_in": int64(3), "library_loan": int64(1)}),
		"a display-only activity cannot have a weight above zero"},
	{"bands not descending", set("spec.scoring.bands", map[string]any{"high": int64(70), "good": int64(70), "partial": int64(30), "low": int64(10)}),
		"band thresholds must be strictly descending"},
	{"window of zero days", set("spec.scoring.windowDays", int64(0)),
		"windowDays must be between 1 and 56 teaching days"},
	{"window over 56 days", set("spec.scoring.windowDays", int64(57)),
		"windowDays must be between 1 and 56 teaching days"},
	{"part-time window over 56 days", set("spec.scoring.partTimeWindowDays", int64(60)),
		"partTimeWindowDays must be between 1 and 56 teaching days"},
	{"External Redis without address", set("spec.redis", map[string]any{"mode": "External"}),
		"External Redis needs an address"},
	{"telemetry endpoint not a URL", set("spec.telemetry", map[string]any{"otlpEndpoint": "otel:4318"}),
		"otlpEndpoint must be an http:// or https:// URL"},
	{"sampling ratio above one", set("spec.telemetry", map[string]any{"otlpEndpoint": "http://otel:4318", "samplingRatio": "1.5"}),
		"should match"},
	{"metrics peer naming nothing", set("spec.telemetry", map[string]any{"metricsFrom": []any{map[string]any{}}}),
		"each metricsFrom peer names either an ipBlock, or a podSelector and/or a namespaceSelector"},
	{"metrics peer with an ip block and a selector", set("spec.telemetry", map[string]any{"metricsFrom": []any{map[string]any{
		"ipBlock": map[string]any{"cidr": "10.0.0.0/8"}, "namespaceSelector": map[string]any{}}}}),
		"each metricsFrom peer names either an ipBlock, or a podSelector and/or a namespaceSelector"},
	{"External Redis with empty address", set("spec.redis", map[string]any{"mode": "External", "address": ""}),
		"External Redis needs an address"},
	{"unknown study level", set("spec.privacy.noIndicatorFor", []any{"phd"}),
		"Unsupported value: \"phd\""},
	{"not a date", set("spec.terms", []any{term("autumn", "5 October", "2026-12-11")}),
		"should match"},
	{"name too long", func(u *unstructured.Unstructured) { u.SetName(strings.Repeat("y", 41)) },
		"metadata.name: Invalid value: a LeapTerm name must be at most 40 characters"},
	{"xAPI mapping to an unknown activity", set("spec.xapi.mappings", []any{mapping("gym_visit", attended)}),
		`Unsupported value: "gym_visit"`},
	{"xAPI verb not an IRI", set("spec.xapi.mappings", []any{mapping("tap_in", "attended")}),
		"must be an IRI with a scheme and no spaces"},
	{"xAPI activity type not an IRI", set("spec.xapi.mappings", []any{map[string]any{
		"verbs": []any{attended}, "activityTypes": []any{"event timetabled"}, "activity": "tap_in"}}),
		"must be an IRI with a scheme and no spaces"},
	{"xAPI mapping without verbs", set("spec.xapi.mappings", []any{map[string]any{"activity": "tap_in"}}),
		"spec.xapi.mappings[0].verbs: Required value"},
	{"xAPI home page not an IRI", set("spec.xapi.accountHomePages", []any{"moodle.example.ac.uk"}),
		"must be an IRI with a scheme and no spaces"},
	{"xAPI extension match without values", set("spec.xapi.mobile.extensions", []any{map[string]any{"key": "http://xapi.jisc.ac.uk/captured_from"}}),
		"an extension match needs equals or contains values"},
	{"xAPI mobile mapping with no mark of mobile use", set("spec.xapi", map[string]any{
		"mobile":   map[string]any{"platforms": []any{}, "extensions": []any{}},
		"mappings": []any{map[string]any{"verbs": []any{attended}, "mobile": true, "activity": "moodle_mobile"}}}),
		"a mapping with mobile: true needs spec.xapi.mobile to name the platforms or extensions"},
	{"OIDC issuer over plain http", set("spec.portal.oidc", oidc("issuerURL", "http://login.example.ac.uk")),
		"issuerURL must be an https:// URL"},
	{"OIDC issuer not a URL", set("spec.portal.oidc", oidc("issuerURL", "login.example.ac.uk")),
		"issuerURL must be an https:// URL"},
	{"OIDC without a client id", set("spec.portal.oidc", oidc("clientID", nil)),
		"spec.portal.oidc.clientID: Required value"},
	{"OIDC without a redirect URL or an ingress", set("spec.portal", map[string]any{"oidc": oidc()}),
		"single sign-on needs to know the portal's address: set spec.portal.oidc.redirectURL, or spec.portal.ingress"},
	{"OIDC with an empty redirect URL and no ingress", set("spec.portal", map[string]any{"oidc": oidc("redirectURL", "")}),
		"single sign-on needs to know the portal's address"},
	{"OIDC redirect URL not a URL", set("spec.portal.oidc", oidc("redirectURL", "leap.example.ac.uk/auth/callback")),
		"redirectURL must be an http:// or https:// URL"},
	{"trusted proxy not a CIDR", set("spec.portal.trustedProxies", []any{"10.0.0.0/8", "ingress-nginx"}),
		"trustedProxies must be CIDRs such as 10.0.0.0/8, or single addresses"},
	{"audit kept less than a month", set("spec.privacy.auditRetentionDays", int64(7)),
		"spec.privacy.auditRetentionDays: Invalid value"},
	{"OIDC scopes without openid", set("spec.portal.oidc", oidc("scopes", []any{"profile", "email"})),
		"scopes must include openid"},
	{"OIDC redirect URL elsewhere than the callback", set("spec.portal.oidc", oidc("redirectURL", "https://leap.example.ac.uk/login")),
		"ending in /auth/callback"},
	{"OIDC scope with a comma", set("spec.portal.oidc", oidc("scopes", []any{"openid", "profile,email"})),
		"should match"},
	{"OIDC scope with a space", set("spec.portal.oidc", oidc("scopes", []any{"openid", "profile email"})),
		"should match"},
	{"OIDC with no staff values", set("spec.portal.oidc", oidc("staffValues", []any{})),
		"should have at least 1 items"},
	{"OIDC staff value with a comma", set("spec.portal.oidc", oidc("staffValues", []any{"cn=staff,ou=groups"})),
		"staffValues must not contain commas"},
	{"OIDC client secret without a name", set("spec.portal.oidc", oidc("clientSecret", map[string]any{"key": "secret"})),
		"spec.portal.oidc.clientSecret.name: Required value"},
	{"policy history ending twice on a day", set("spec.policyHistory", []any{map[string]any{"until": "2026-11-01"}, map[string]any{"until": "2026-11-01"}}),
		"policyHistory entries must end on different days"},
	{"policy history with a bad day", set("spec.policyHistory", []any{map[string]any{"until": "1 November"}}),
		"should match"},
	{"policy history with a bad window", set("spec.policyHistory", []any{map[string]any{"until": "2026-11-01", "scoring": map[string]any{"windowDays": int64(0)}}}),
		"windowDays must be between 1 and 56 teaching days"},
}

// oidc is a valid spec.portal.oidc with the given fields changed (a nil
// value removes the field).
func oidc(changes ...any) map[string]any {
	doc := map[string]any{"issuerURL": "https://login.example.ac.uk/realms/uni", "clientID": "leap-portal"}
	for i := 0; i+1 < len(changes); i += 2 {
		if changes[i+1] == nil {
			delete(doc, changes[i].(string))
			continue
		}
		doc[changes[i].(string)] = changes[i+1]
	}
	return doc
}

const attended = "http://adlnet.gov/expapi/verbs/attended"

func mapping(activity string, verbs ...any) map[string]any {
	return map[string]any{"verbs": verbs, "activity": activity}
}

func TestInvalidLeapTermsAreRejectedOnCreate(t *testing.T) {
	ns := newNamespace(t)
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			u := typical(t, ns)
			u.SetName("bad-" + strings.ReplaceAll(strings.ToLower(tc.name), " ", "-")[:min(30, len(tc.name))])
			tc.change(u)
			err := k8s.Create(context.Background(), u)
			g.Expect(err).To(HaveOccurred(), "the API server accepted a LeapTerm with %s", tc.name)
			g.Expect(err.Error()).To(ContainSubstring(tc.message))
		})
	}
}

func TestInvalidLeapTermsAreRejectedOnUpdate(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	for i, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			u := typical(t, ns)
			u.SetName(fmt.Sprintf("update-%d", i))
			g.Expect(k8s.Create(ctx, u)).To(Succeed())
			if tc.name == "name too long" {
				return // a name cannot change on update
			}
			tc.change(u)
			err := k8s.Update(ctx, u)
			g.Expect(err).To(HaveOccurred(), "the API server accepted an update to %s", tc.name)
			g.Expect(err.Error()).To(ContainSubstring(tc.message))
		})
	}
}

func TestSamplesAreAccepted(t *testing.T) {
	ns := newNamespace(t)
	files, err := filepath.Glob(filepath.Join(testenv.Root(), "config", "samples", "leap_*.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("want at least 3 samples, found %d (%v)", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			u := sample(t, filepath.Base(f))
			u.SetNamespace(ns)
			if err := k8s.Create(context.Background(), u); err != nil {
				t.Fatalf("sample %s rejected: %v", filepath.Base(f), err)
			}
		})
	}
}

// TestCalendarDaysAreAccepted: the calendar rule refuses only days a month
// lacks: the last day of each month, and the 29th of February in a leap
// year (2028, 2000), are taken.
func TestCalendarDaysAreAccepted(t *testing.T) {
	ns := newNamespace(t)
	days := []string{"2027-01-31", "2027-02-28", "2028-02-29", "2027-03-31", "2027-04-30", "2027-05-31",
		"2027-06-30", "2027-07-31", "2027-08-31", "2027-09-30", "2027-10-31", "2027-11-30", "2027-12-31", "2000-02-29"}
	for i, day := range days {
		t.Run(day, func(t *testing.T) {
			u := typical(t, ns)
			u.SetName(fmt.Sprintf("day-%d", i))
			set("spec.terms", []any{term("only", "1999-01-01", day)})(u)
			set("spec.breaks", []any{term("end", day, day)})(u)
			if err := k8s.Create(context.Background(), u); err != nil {
				t.Fatalf("%s refused: %v", day, err)
			}
		})
	}
	u := typical(t, ns)
	u.SetName("day-1900")
	set("spec.terms", []any{term("only", "1900-02-01", "1900-02-29")})(u)
	set("spec.breaks", nil)(u)
	err := k8s.Create(context.Background(), u)
	if err == nil || !strings.Contains(err.Error(), "1900-02-29 is not a day of the calendar") {
		t.Fatalf("1900 was no leap year; got %v", err)
	}
}

// TestRedisVolumeCannotChangeInPlace: a StatefulSet's volume claim cannot
// change, so the API server refuses a new storage size or class of a
// Managed Redis, saying how to resize; External Redis, and a change that
// moves to or from it, are free.
func TestRedisVolumeCannotChangeInPlace(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ctx := context.Background()
	u := typical(t, ns)
	u.SetName("volume")
	g.Expect(k8s.Create(ctx, u)).To(Succeed())
	for name, change := range map[string]func(*unstructured.Unstructured){
		"a larger volume":  set("spec.redis.storage", "5Gi"),
		"a storage class":  set("spec.redis.storageClassName", "fast"),
		"a smaller volume": set("spec.redis.storage", "512Mi"),
	} {
		changed := u.DeepCopy()
		change(changed)
		err := k8s.Update(ctx, changed)
		g.Expect(err).To(HaveOccurred(), "%s was accepted", name)
		g.Expect(err.Error()).To(ContainSubstring("spec.redis.storage and storageClassName cannot change while the Managed Redis exists"), name)
		g.Expect(err.Error()).To(ContainSubstring("patch the PersistentVolumeClaim data-NAME-redis-0"), name)
	}
	// Other Redis fields still change.
	set("spec.redis.image", "redis:8.0-alpine")(u)
	g.Expect(k8s.Update(ctx, u)).To(Succeed())

	ext := typical(t, ns)
	ext.SetName("volume-external")
	set("spec.redis", map[string]any{"mode": "External", "address": "redis://r:6379"})(ext)
	g.Expect(k8s.Create(ctx, ext)).To(Succeed())
	set("spec.redis.storage", "5Gi")(ext)
	g.Expect(k8s.Update(ctx, ext)).To(Succeed(), "External Redis has no volume to keep")
	set("spec.redis.mode", "Managed")(ext)
	set("spec.redis.storage", "8Gi")(ext)
	g.Expect(k8s.Update(ctx, ext)).To(Succeed(), "a Managed Redis made now gets the size asked")
}

// TestPortalSignInIsAccepted applies LeapTerms that configure sign-in in
// each allowed way and checks what the API server keeps and defaults.
func TestPortalSignInIsAccepted(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	ingress := map[string]any{"host": "leap.example.ac.uk"}
	cases := []struct {
		name   string
		portal map[string]any
		check  func(g Gomega, p v1alpha1.Portal)
	}{
		{"no sign-in settings", map[string]any{}, func(g Gomega, p v1alpha1.Portal) {
			g.Expect(p.LocalAccounts).To(HaveValue(BeFalse()), "local accounts are not off by default")
			g.Expect(p.LocalAccountsEnabled()).To(BeFalse())
			g.Expect(p.OIDC).To(BeNil())
		}},
		{"local accounts on", map[string]any{"localAccounts": true}, func(g Gomega, p v1alpha1.Portal) {
			g.Expect(p.LocalAccountsEnabled()).To(BeTrue())
		}},
		{"public client behind an ingress", map[string]any{"ingress": ingress, "oidc": oidc()}, func(g Gomega, p v1alpha1.Portal) {
			o := p.OIDC
			g.Expect(o.ClientSecret).To(BeNil())
			g.Expect(o.RedirectURL).To(BeEmpty())
			g.Expect(o.PersonClaim).To(Equal("preferred_username"))
			g.Expect(o.StaffClaim).To(Equal("groups"))
			g.Expect(o.StaffValues).To(Equal([]string{"staff"}))
			g.Expect(o.Scopes).To(Equal([]string{"openid", "profile", "email"}))
		}},
		{"confidential client with a redirect URL and no ingress", map[string]any{"oidc": oidc(
			"redirectURL", "https://leap.example.ac.uk/auth/callback",
			"clientSecret", map[string]any{"name": "leap-oidc"},
			"personClaim", "email", "staffClaim", "eduPersonAffiliation", "staffValues", []any{"staff", "faculty"},
			"scopes", []any{"openid", "email"})}, func(g Gomega, p v1alpha1.Portal) {
			o := p.OIDC
			g.Expect(o.ClientSecret).To(Equal(&v1alpha1.ClientSecretRef{Name: "leap-oidc", Key: "client-secret"}))
			g.Expect(o.RedirectURL).To(Equal("https://leap.example.ac.uk/auth/callback"))
			g.Expect(o.PersonClaim).To(Equal("email"))
			g.Expect(o.StaffValues).To(ConsistOf("staff", "faculty"))
			g.Expect(o.Scopes).To(ConsistOf("openid", "email"))
		}},
		{"both ways of signing in", map[string]any{"localAccounts": true, "ingress": ingress,
			"oidc": oidc("clientSecret", map[string]any{"name": "leap-oidc", "key": "secret"})}, func(g Gomega, p v1alpha1.Portal) {
			g.Expect(p.LocalAccountsEnabled()).To(BeTrue())
			g.Expect(p.OIDC.ClientSecret.Key).To(Equal("secret"))
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			u := sample(t, "leap_v1alpha1_leapterm_minimal.yaml")
			u.SetNamespace(ns)
			u.SetName(fmt.Sprintf("sign-in-%d", i))
			set("spec.portal", tc.portal)(u)
			g.Expect(k8s.Create(ctx, u)).To(Succeed())
			got := &v1alpha1.LeapTerm{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(u), got)).To(Succeed())
			tc.check(g, got.Spec.Portal)
		})
	}
}

// TestSignInExampleOfTheTypicalSampleIsAccepted uncomments the sign-in
// example of the typical sample, so that the example shown stays valid.
func TestSignInExampleOfTheTypicalSampleIsAccepted(t *testing.T) {
	g := NewWithT(t)
	b, err := os.ReadFile(filepath.Join(testenv.Root(), "config", "samples", "leap_v1alpha1_leapterm_typical.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	var example []string
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "    # ")
		if !ok && example != nil {
			break // the end of the example
		}
		if ok && (example != nil || strings.HasPrefix(rest, "localAccounts:")) {
			example = append(example, rest)
		}
	}
	g.Expect(example).To(ContainElement(HavePrefix("oidc:")), "no sign-in example in the typical sample")
	portal := map[string]any{}
	g.Expect(yaml.Unmarshal([]byte(strings.Join(example, "\n")), &portal)).To(Succeed())

	u := typical(t, newNamespace(t))
	for k, v := range portal {
		set("spec.portal."+k, v)(u)
	}
	g.Expect(k8s.Create(context.Background(), u)).To(Succeed())
	got := &v1alpha1.LeapTerm{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(u), got)).To(Succeed())
	g.Expect(got.Spec.Portal.OIDC).NotTo(BeNil())
	g.Expect(got.Spec.Portal.OIDC.ClientSecret).To(Equal(&v1alpha1.ClientSecretRef{Name: "y2026-27-oidc", Key: "client-secret"}))
}

// TestSchemaDefaultsEqualFileDefaults creates LeapTerms on the API server
// and checks that the spec it defaults equals what v1alpha1.ApplyDefaults
// makes of the same document, as the services do with a LeapTerm file.
func TestSchemaDefaultsEqualFileDefaults(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	docs := map[string]func(*unstructured.Unstructured){
		"minimal":          func(*unstructured.Unstructured) {},
		"attendance off":   set("spec.attendance", map[string]any{"enabled": false, "reason": "online"}),
		"own weights":      set("spec.scoring.weights", map[string]any{"moodle_login": int64(2)}),
		"partial scoring":  set("spec.scoring", map[string]any{"windowDays": int64(14)}),
		"replicas zero":    set("spec.portal", map[string]any{"replicas": int64(0)}),
		"external redis":   set("spec.redis", map[string]any{"mode": "External", "address": "redis://r:6379"}),
		"redis backup":     set("spec.redis.backup", backupSpec("retention", nil)),
		"late arrivals 0":  set("spec.privacy", map[string]any{"lateArrivalDays": int64(0)}),
		"audit retention":  set("spec.privacy", map[string]any{"auditRetentionDays": int64(730)}),
		"trusted proxies":  set("spec.portal.trustedProxies", []any{"10.42.0.0/16", "192.168.1.7", "fd00::/8"}),
		"explicit nothing": set("spec.privacy.noIndicatorFor", []any{}),
		"xapi home pages":  set("spec.xapi.accountHomePages", []any{"https://moodle.example.ac.uk"}),
		"xapi own mappings": set("spec.xapi.mappings", []any{map[string]any{
			"verbs": []any{attended}, "platform": "Study Goal", "mobile": false, "activity": "tap_in"}}),
		"xapi own mobile":  set("spec.xapi.mobile", map[string]any{"platforms": []any{"phone"}}),
		"xapi no mappings": set("spec.xapi", map[string]any{"mappings": []any{}}),
		"local accounts":   set("spec.portal", map[string]any{"localAccounts": true}),
		"oidc least":       set("spec.portal.oidc", oidc("redirectURL", "https://leap.example.ac.uk/auth/callback")),
		"oidc secret no key": set("spec.portal", map[string]any{"ingress": map[string]any{"host": "leap.example.ac.uk"},
			"oidc": oidc("clientSecret", map[string]any{"name": "leap-oidc"})}),
		"oidc own claims": set("spec.portal.oidc", oidc("redirectURL", "http://leap.test/auth/callback",
			"clientSecret", map[string]any{"name": "leap-oidc", "key": "secret"}, "personClaim", "email",
			"staffValues", []any{"tutor"}, "scopes", []any{"openid"})),
		"oidc null": set("spec.portal.oidc", nil),
		"policy history": set("spec.policyHistory", []any{
			map[string]any{"until": "2026-11-01"},
			map[string]any{"until": "2026-11-20", "attendance": map[string]any{"enabled": false}, "scoring": map[string]any{"weights": map[string]any{"moodle_login": int64(1)}}},
		}),
	}
	i := 0
	for name, change := range docs {
		i++
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			u := sample(t, "leap_v1alpha1_leapterm_minimal.yaml")
			u.SetNamespace(ns)
			u.SetName(fmt.Sprintf("defaults-%d", i))
			change(u)
			local := u.DeepCopy()

			g.Expect(k8s.Create(ctx, u)).To(Succeed())
			fromServer := &v1alpha1.LeapTerm{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(u), fromServer)).To(Succeed())

			v1alpha1.ApplyDefaults(local.Object)
			fromFile := &v1alpha1.LeapTerm{}
			g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(local.Object, fromFile)).To(Succeed())

			g.Expect(equality.Semantic.DeepEqual(fromServer.Spec, fromFile.Spec)).To(BeTrue(),
				"server defaults:\n%s\nfile defaults:\n%s", toYAML(fromServer.Spec), toYAML(fromFile.Spec))
		})
	}
}

func toYAML(v any) string {
	b, _ := yaml.Marshal(v)
	return string(b)
}
