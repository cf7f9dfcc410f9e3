package xapi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leap-dev/leap/operator/api/policy"
)

// readFixture reads a file of testdata/statements with the statement reader.
func readFixture(t testing.TB, name string, m *Mapper) []Statement {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "statements", name))
	if err != nil {
		t.Fatal(err)
	}
	sts, err := Parse(b, Options{ExtKeys: m.ExtKeys})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return sts
}

// fixtureActivities is what the default mapping table makes of every
// statement of the fixtures, in order: an activity, or the reason it is
// ignored.
var fixtureActivities = map[string][]string{
	"moodle_course_viewed.json": {"moodle_course"},
	// login, page, quiz started, assignment submitted, book, dashboard, logout
	"moodle_session.json":          {"moodle_login", "moodle_course", "moodle_course", "moodle_course", "moodle_course", ReasonUnmapped, ReasonUnmapped},
	"moodle_mobile.json":           {"moodle_mobile", "moodle_mobile"},
	"jisc_attendance.json":         {"tap_in"},
	"jisc_absence.json":            {ReasonIncomplete},
	"jisc_library_loan.json":       {"library_loan"},
	"jisc_reading_list.json":       {"reading_list"},
	"jisc_vle_login.json":          {"moodle_login", "moodle_mobile"},
	"jisc_video.json":              {"listen_again"},
	"odd_no_timestamp.json":        {"moodle_course"},
	"odd_no_id.json":               {"moodle_course"},
	"odd_unknown_extensions.json":  {"moodle_course"},
	"odd_language_maps.json":       {"moodle_course"},
	"odd_object_type_omitted.json": {"moodle_course"},
	"odd_actor_mbox.json":          {"moodle_login"},
}

func TestDefaultMappingOfTheFixtures(t *testing.T) {
	m := NewMapper(loadPolicy(t, ""))
	files, _ := filepath.Glob(filepath.Join("testdata", "statements", "*.json"))
	if len(files) != len(fixtureActivities) {
		t.Errorf("%d fixtures, %d expectations", len(files), len(fixtureActivities))
	}
	for name, want := range fixtureActivities {
		sts := readFixture(t, name, m)
		if len(sts) != len(want) {
			t.Errorf("%s: %d statements, want %d", name, len(sts), len(want))
			continue
		}
		for i := range sts {
			activity, reason := m.Match(&sts[i])
			got := activity
			if got == "" {
				got = reason
			}
			if got != want[i] {
				t.Errorf("%s[%d] (%s, %s, %q): %s, want %s", name, i, sts[i].Verb, sts[i].ActivityType, sts[i].Platform, got, want[i])
			}
		}
	}
}

// TestMappingRules: the first rule that matches wins; verbs and types
// compare without a trailing slash; platforms by substring; mobile by
// platform or extension; skipIncomplete passes absent completion.
func TestMappingRules(t *testing.T) {
	m := NewMapper(loadPolicy(t, ""))
	const viewed, attended = "http://id.tincanapi.com/verb/viewed", "http://adlnet.gov/expapi/verbs/attended"
	cases := []struct {
		name string
		st   Statement
		want string
	}{
		{"attendance without completion counts", Statement{Verb: attended, ActivityType: "http://xapi.jisc.ac.uk/event_timetabled"}, "tap_in"},
		{"attendance completed", Statement{Verb: attended, ActivityType: "http://xapi.jisc.ac.uk/event_timetabled/", Completion: 1}, "tap_in"},
		{"absence", Statement{Verb: attended, ActivityType: "http://xapi.jisc.ac.uk/event_timetabled", Completion: -1}, ReasonIncomplete},
		{"attendance of an unknown kind of event", Statement{Verb: attended, ActivityType: "http://example.org/party"}, ReasonUnmapped},
		{"attendance from a phone is still attendance", Statement{Verb: attended, ActivityType: "http://xapi.jisc.ac.uk/event_timetabled",
			Platform: "Moodle Mobile"}, "tap_in"},
		{"platform by substring, any case", Statement{Verb: viewed, ActivityType: "http://id.tincanapi.com/activitytype/lms/course", Platform: "MOODLE 4.3"}, "moodle_course"},
		{"no platform, no Moodle", Statement{Verb: viewed, ActivityType: "http://id.tincanapi.com/activitytype/lms/course"}, ReasonUnmapped},
		{"mobile by captured_from", Statement{Verb: viewed, ActivityType: "http://id.tincanapi.com/activitytype/lms/module", Platform: "Moodle",
			Extensions: []Extension{{"http://xapi.jisc.ac.uk/captured_from", "Android"}}}, "moodle_mobile"},
		{"captured_from equals, not contains", Statement{Verb: viewed, ActivityType: "http://id.tincanapi.com/activitytype/lms/module", Platform: "Moodle",
			Extensions: []Extension{{"http://xapi.jisc.ac.uk/captured_from", "kiosk"}}}, "moodle_course"},
		{"desktop user agent", Statement{Verb: "https://w3id.org/xapi/adl/verbs/logged-in", Platform: "Moodle",
			Extensions: []Extension{{"http://xapi.jisc.ac.uk/extensions/user-agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}}}, "moodle_login"},
		{"FASER upload", Statement{Verb: "http://activitystrea.ms/schema/1.0/submit", ActivityType: "http://adlnet.gov/expapi/activities/assessment", Platform: "FASER"}, "faser_upload"},
		{"FASER view", Statement{Verb: viewed, Platform: "FASER"}, "faser_view"},
		{"Moodle assignment submitted is Moodle", Statement{Verb: "http://activitystrea.ms/schema/1.0/submit", ActivityType: "http://adlnet.gov/expapi/activities/assessment", Platform: "Moodle"}, "moodle_course"},
		{"video from Moodle is a recording", Statement{Verb: viewed, ActivityType: "https://w3id.org/xapi/video/activity-type/video", Platform: "Moodle Mobile"}, "listen_again"},
		{"loan whatever the object", Statement{Verb: "http://activitystrea.ms/schema/1.0/borrowed"}, "library_loan"},
		{"return of a loan", Statement{Verb: "http://activitystrea.ms/schema/1.0/return"}, ReasonUnmapped},
	}
	for _, c := range cases {
		activity, reason := m.Match(&c.st)
		if got := activity + reason; got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestAccountHomePages(t *testing.T) {
	open := NewMapper(loadPolicy(t, ""))
	if !open.AcceptsHomePage("https://whatever.example") {
		t.Error("an empty list accepts no home page")
	}
	pol := loadPolicy(t, "attendance:\n    enabled: true\n  xapi:\n    accountHomePages: [\"https://Moodle.Uni.example/\"]")
	m := NewMapper(pol)
	for home, want := range map[string]bool{"https://moodle.uni.example": true, "https://moodle.uni.example/": true, "https://library.uni.example": false} {
		if got := m.AcceptsHomePage(home); got != want {
			t.Errorf("%s: %v, want %v", home, got, want)
		}
	}
	if len(m.rules) == 0 {
		t.Error("listing home pages lost the default mappings")
	}
}

// loadPolicy is the typical sample policy, with its attendance line
// replaced by mutate when one is given.
func loadPolicy(t testing.TB, mutate string) *policy.Loaded {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "config", "samples", "leap_v1alpha1_leapterm_typical.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	if mutate != "" {
		doc = strings.Replace(doc, "attendance:\n    enabled: true", mutate, 1)
	}
	l, err := policy.ParseFile("test", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return l
}
