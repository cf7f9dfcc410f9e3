package portal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leap-dev/leap/services/policy"
	"github.com/leap-dev/leap/services/scoring"
)

func typicalPolicy(t *testing.T) *policy.Loaded {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "leap_v1alpha1_leapterm_typical.yaml"))
	must(t, err)
	l, err := policy.ParseFile("test", b)
	must(t, err)
	return l
}

// The day in progress is drawn as a mark of its own, never joined to the
// trend line nor counted in a tutor's sparkline: its score is the day so
// far, and joining it would draw a fall every morning.
func TestDayInProgressIsNotOnTheLine(t *testing.T) {
	score := func(v float64) *float64 { return &v }
	e := &scoring.Engagement{Days: []scoring.DayJSON{
		{Date: "2026-10-15", Teaching: true, Score: score(60), Band: "good"},
		{Date: "2026-10-16", Teaching: true, Score: score(70), Band: "high"},
		{Date: "2026-10-19", Teaching: true, Score: score(0), Band: "very_low", InProgress: true},
	}}
	svg := string(trendChart(e, typicalPolicy(t)))
	_, line, ok := strings.Cut(svg, `<polyline class="line" points="`)
	line, _, closed := strings.Cut(line, `"/>`)
	if !ok || !closed {
		t.Fatalf("no trend line: %s", svg)
	}
	if n := strings.Count(line, ","); n != 2 {
		t.Errorf("the line has %d points, want the 2 ended days: %s", n, line)
	}
	if !strings.Contains(svg, `<circle class="so-far"`) || !strings.Contains(svg, "Today so far: 0.0") {
		t.Errorf("no mark for the day so far: %s", svg)
	}
	if got := lastScores(e, 14); len(got) != 2 || got[1] != 70 {
		t.Errorf("sparkline scores %v, want [60 70]", got)
	}
}

// The student's page explains the rule in a student's words, and names
// the day its figure is for.
func TestStudentHelpText(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	s1 := f.signIn(t, "s1")
	_, page := fetch(t, s1.Client, f.url+"/me")
	for _, want := range []string{`id="how"`, "daily limit", "counts as zero", "Today is not over", "as of Monday 19 October"} {
		if !strings.Contains(page, want) {
			t.Errorf("the student's page lacks %q", want)
		}
	}
}
