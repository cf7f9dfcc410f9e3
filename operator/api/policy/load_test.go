package policy

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

func repoFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEverySampleLoadsWithDefaults(t *testing.T) {
	for _, name := range []string{"typical", "covid", "minimal"} {
		l, err := ParseFile(name, repoFile(t, "config/samples/leap_v1alpha1_leapterm_"+name+".yaml"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if l.Doc.Scoring.WindowDays != 7 || l.Doc.Scoring.Weights["tap_in"] != 3 || l.Doc.Timezone != "Europe/London" || len(l.Hash) != 16 {
			t.Errorf("%s: defaults missing: %+v", name, l.Doc.Scoring)
		}
		if name == "covid" && l.Doc.Attendance.IsEnabled() {
			t.Error("covid: attendance on")
		}
	}
}

func TestLeapTermFilesGetTheDefaultXAPIMappings(t *testing.T) {
	l, err := ParseFile("minimal", repoFile(t, "config/samples/leap_v1alpha1_leapterm_minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := FromLeapTerm(&v1alpha1.LeapTerm{Spec: v1alpha1.LeapTermSpec{Terms: l.Doc.Terms, XAPI: v1alpha1.DefaultXAPI()}}).XAPI
	if !reflect.DeepEqual(l.Doc.XAPI, want) {
		t.Errorf("xapi of a defaulted file:\n%+v\nwant\n%+v", l.Doc.XAPI, want)
	}
	if len(l.Doc.XAPI.Mappings) == 0 || l.Doc.XAPI.Mappings[0].Activity != v1alpha1.TapIn {
		t.Errorf("mappings %+v", l.Doc.XAPI.Mappings)
	}
	// A document that names no xapi maps nothing: services have no defaults of their own.
	d, err := Parse([]byte(`{"leapTerm":"a/b","terms":[{"name":"t","start":"2026-01-01","end":"2026-02-01"}]}`))
	if err != nil || len(d.XAPI.Mappings) != 0 {
		t.Errorf("document without xapi: %+v %v", d.XAPI, err)
	}
}

func TestDocumentAndLeapTermGiveTheSamePolicy(t *testing.T) {
	fromYAML, err := ParseFile("typical", repoFile(t, "config/samples/leap_v1alpha1_leapterm_typical.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := fromYAML.Doc.Marshal()
	fromJSON, err := ParseFile("policy.json", b)
	if err != nil {
		t.Fatal(err)
	}
	if fromJSON.Hash != fromYAML.Hash {
		t.Error("the same policy hashes differently as a document")
	}
}

// TestBadLeapTermFilesAreRefusedWithTheReason: make run's file is checked
// by the CRD's rules, so each refusal is the API server's, at its field.
func TestBadLeapTermFilesAreRefusedWithTheReason(t *testing.T) {
	base := string(repoFile(t, "config/samples/leap_v1alpha1_leapterm_minimal.yaml"))
	cases := map[string]struct{ doc, want string }{
		"unknown field":  {base + "  surprise: 1\n", "unknown field"},
		"bad window":     {base + "  scoring: {windowDays: 99}\n", "windowDays must be between 1 and 56"},
		"no weights":     {base + "  scoring: {weights: {tap_in: 0}}\n", "at least one activity"},
		"unknown weight": {base + "  scoring: {weights: {gym: 1}}\n", "unknown activity"},
		"bands":          {base + "  scoring: {bands: {high: 10, good: 20, partial: 30, low: 40}}\n", "strictly descending"},
		"timezone":       {base + "  timezone: Mars/Olympus\n", "timezone"},
		"bad date":       {strings.Replace(base, "2026-12-11", "2026-13-11", 1), "date"},
		"wrong version":  {strings.Replace(base, "leap.dev/v1alpha1", "leap.dev/v9", 1), "apiVersion"},
		"not yaml":       {"{{{", "policy"},
		"xapi activity":  {base + "  xapi: {mappings: [{verbs: [\"http://adlnet.gov/expapi/verbs/attended\"], activity: gym}]}\n", "spec.xapi.mappings[0].activity: Unsupported value: \"gym\""},
		"xapi verb":      {base + "  xapi: {mappings: [{verbs: [attended], activity: tap_in}]}\n", "must be an IRI"},
		"xapi no verbs":  {base + "  xapi: {mappings: [{activity: tap_in}]}\n", "spec.xapi.mappings[0].verbs: Required value"},
		"xapi home page": {base + "  xapi: {accountHomePages: [moodle.example.ac.uk]}\n", "must be an IRI"},
		"xapi extension": {base + "  xapi: {mobile: {extensions: [{key: \"http://x.example/ua\"}]}}\n", "needs equals or contains"},
		"xapi mobile": {base + "  xapi: {mobile: {platforms: [], extensions: []}, mappings: [{verbs: [\"http://adlnet.gov/expapi/verbs/attended\"], mobile: true, activity: moodle_mobile}]}\n",
			"mobile: true needs spec.xapi.mobile"},
		"xapi unknown field": {base + "  xapi: {mapping: []}\n", "unknown field"},
		"history bad day":    {base + "  policyHistory: [{until: \"2026-02-30\"}]\n", "policyHistory[0].until"},
		"history twice":      {base + "  policyHistory: [{until: \"2026-11-01\"}, {until: \"2026-11-01\"}]\n", "different days"},
		"history scoring":    {base + "  policyHistory: [{until: \"2026-11-01\", scoring: {windowDays: 0}}]\n", "spec.policyHistory[0].scoring.windowDays: Invalid value: 0: windowDays must be between 1 and 56"},
		"history unknown":    {base + "  policyHistory: [{until: \"2026-11-01\", when: 1}]\n", "unknown field"},
	}
	for name, c := range cases {
		if _, err := ParseFile(name, []byte(c.doc)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, c.want)
		}
	}
}

func TestSourceReloadsAndKeepsTheOldPolicyOnABadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "term.yaml")
	base := repoFile(t, "config/samples/leap_v1alpha1_leapterm_minimal.yaml")
	if err := os.WriteFile(path, base, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	first := s.Current().Hash
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Watch(ctx, 10*time.Millisecond)

	off := append(append([]byte{}, base...), "  attendance: {enabled: false}\n"...)
	if err := os.WriteFile(path, off, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return s.Current().Hash != first && !s.Current().Doc.Attendance.IsEnabled() })
	second := s.Current().Hash

	if err := os.WriteFile(path, []byte("kind: LeapTerm\nspec: [broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if s.Current().Hash != second {
		t.Fatal("a broken file replaced the policy in force")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met in 5s")
}

func FuzzParseFile(f *testing.F) {
	f.Add(repoFile(&testing.T{}, "config/samples/leap_v1alpha1_leapterm_minimal.yaml"))
	f.Add([]byte("kind: LeapTerm\napiVersion: leap.dev/v1alpha1\nspec: {terms: [{name: a, start: '2026-01-01', end: '2026-01-02'}]}"))
	f.Add([]byte("{}"))
	f.Add([]byte("kind: LeapTerm\napiVersion: leap.dev/v1alpha1\nspec: {terms: [{name: a, start: '2026-01-01', end: '2026-01-02'}], " +
		"policyHistory: [{until: '2026-01-01', attendance: {enabled: false}, scoring: {windowDays: 3}}]}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseFile("fuzz", b)
		if err != nil {
			return
		}
		if l.Calendar == nil || len(l.Hash) != 16 || Validate(l.Doc) != nil {
			t.Fatalf("accepted an invalid policy: %+v", l.Doc)
		}
	})
}

// A LeapTerm file's policy history is defaulted as the API server would:
// attendance always, scoring when given, with its weights whole.
func TestPolicyHistoryFromAFile(t *testing.T) {
	base := string(repoFile(t, "config/samples/leap_v1alpha1_leapterm_minimal.yaml"))
	l, err := ParseFile("history", []byte(base+"  policyHistory:\n"+
		"  - {until: \"2026-11-20\", scoring: {weights: {moodle_login: 1}}}\n"+
		"  - {until: \"2026-11-01\", attendance: {enabled: false}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := l.Doc.PolicyHistory
	if len(h) != 2 || h[0].Until != "2026-11-01" || h[1].Until != "2026-11-20" {
		t.Fatalf("history %+v, want two entries ordered by day", h)
	}
	if h[0].Attendance.IsEnabled() || h[0].Scoring != nil || !h[1].Attendance.IsEnabled() {
		t.Errorf("attendance %+v / %+v, scoring %+v", h[0].Attendance, h[1].Attendance, h[0].Scoring)
	}
	if s := h[1].Scoring; s == nil || len(s.Weights) != 1 || s.WindowDays != 7 || s.Bands.High != 70 {
		t.Errorf("scoring of the second entry %+v, want its one weight and the default window and bands", s)
	}
	plain, err := ParseFile("plain", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(must(plain.Doc.Marshal())), "policyHistory") {
		t.Error("a policy without history writes policyHistory, which would change its hash")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestBadDocumentsAreRefusedByTheCRDRules: a policy document given to a
// service directly (not by the operator) is checked by the same rules as
// a LeapTerm, and must hold every field the defaults would fill.
func TestBadDocumentsAreRefusedByTheCRDRules(t *testing.T) {
	l, err := ParseFile("typical", repoFile(t, "config/samples/leap_v1alpha1_leapterm_typical.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		change func(d *Document)
		want   string
	}{
		"bands":          {func(d *Document) { d.Scoring.Bands.Good = 90 }, "spec.scoring.bands: Invalid value"},
		"min cohort":     {func(d *Document) { d.Privacy.MinCohortSize = 1 }, "spec.privacy.minCohortSize"},
		"overlap breaks": {func(d *Document) { d.Breaks = append(d.Breaks, d.Breaks...) }, "spec.breaks"},
		"no window":      {func(d *Document) { d.Scoring.WindowDays = 0 }, "incomplete"},
	} {
		d := l.Doc
		d.Scoring.Bands = l.Doc.Scoring.Bands
		d.Breaks = slices.Clone(l.Doc.Breaks)
		c.change(&d)
		b, err := d.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseFile("policy.json", b); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, c.want)
		}
	}
}
