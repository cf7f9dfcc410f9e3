package portal

import (
	"context"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/store"
)

// TestByNeedPutsScoreBeforeSilence: within a band the lower score comes
// first, however long either has been silent.
func TestByNeedPutsScoreBeforeSilence(t *testing.T) {
	low24 := TuteeRow{Student: store.Student{ID: "a", Name: "A"}, Band: "low", Score: 24, DaysSince: 10}
	low11 := TuteeRow{Student: store.Student{ID: "b", Name: "B"}, Band: "low", Score: 11.6, DaysSince: 2}
	if byNeed(low11, low24) >= 0 {
		t.Error("Low 24, silent longer, is put before Low 11.6")
	}
	sameScore := low24
	sameScore.ID, sameScore.DaysSince = "c", 3
	if byNeed(low24, sameScore) >= 0 {
		t.Error("at the same score, the longer silence is not first")
	}
}

// TestSparklineShowsTheBand: the zones are drawn, and the last point is
// coloured by its band, so a very low and a good student differ.
func TestSparklineShowsTheBand(t *testing.T) {
	bands := v1alpha1.Bands{Low: 20, Partial: 40, Good: 60, High: 80}
	low, good := string(sparkline([]float64{10, 8, 5}, bands)), string(sparkline([]float64{70, 65, 66}, bands))
	for _, zone := range []string{"zone-very_low", "zone-low", "zone-partial", "zone-good", "zone-high"} {
		if !strings.Contains(low, zone) {
			t.Errorf("no %s in %s", zone, low)
		}
	}
	if !strings.Contains(low, "spark-end spark-very_low") || !strings.Contains(good, "spark-end spark-good") {
		t.Errorf("the last point is not coloured by band:\n%s\n%s", low, good)
	}
}

var bandRule = regexp.MustCompile(`\.band-([a-z_]+) \{ background: #([0-9a-f]{6}); color: #([0-9a-f]{3,6}); \}`)

// TestBandColoursHaveContrast: every band's text on its colour reaches
// WCAG AA's 4.5:1 (the "Good" chip was 4.22:1).
func TestBandColoursHaveContrast(t *testing.T) {
	css, err := os.ReadFile("static/leap.css")
	must(t, err)
	rules := bandRule.FindAllStringSubmatch(string(css), -1)
	if len(rules) < 6 {
		t.Fatalf("found %d band rules", len(rules))
	}
	for _, r := range rules {
		if c := contrast(r[2], r[3]); c < 4.5 {
			t.Errorf(".band-%s: #%s on #%s is %.2f:1, want at least 4.5:1", r[1], r[3], r[2], c)
		}
	}
}

func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

func luminance(hex string) float64 {
	if len(hex) == 3 {
		hex = string([]byte{hex[0], hex[0], hex[1], hex[1], hex[2], hex[2]})
	}
	var l float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		v, _ := strconv.ParseUint(hex[2*i:2*i+2], 16, 8)
		c := float64(v) / 255
		if c <= 0.03928 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		l += w * c
	}
	return l
}

// TestTutorSeesExchangeTuteeAndDepartment: an exchange tutee is marked on
// the list and their note form says they cannot read it yet; the other
// students of the tutor's department are a list of links that open.
func TestTutorSeesExchangeTuteeAndDepartment(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	must(t, store.PutTutors(context.Background(), f.rdb, []store.Tutoring{{Staff: "t1", Student: "s1"}, {Staff: "t1", Student: "r1"}, {Staff: "t1", Student: "x1"}}))
	ctx := browser(t)
	screenshotOnFailure(t, ctx, "tutor-exchange-department")
	must(t, chromedp.Do(ctx, signInAs(f.url, "t1"), chromedp.WaitVisible(chromedp.ID("students"))))

	tag, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr[data-id="x1"] .exchange`)))
	if err != nil || !strings.Contains(tag, "cannot sign in") {
		t.Errorf("the exchange tutee is marked %q (%v)", tag, err)
	}
	marked, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("tr.student .exchange").length`))
	if err != nil || marked != 1 {
		t.Errorf("%d students marked as exchange (%v), want one", marked, err)
	}
	dept, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("department")))
	if err != nil || !strings.Contains(dept, "Ben Student (s2)") || strings.Contains(dept, "(s1)") || strings.Contains(dept, "(s3)") {
		t.Errorf("the department list says %q (%v), want s2 only", dept, err)
	}
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#department a[href="/students/s2"]`)), chromedp.WaitVisible(chromedp.ID("band-h"))))
	h1, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
	if err != nil || !strings.Contains(h1, "Ben Student") {
		t.Errorf("the department link opened %q (%v)", h1, err)
	}

	must(t, chromedp.Do(ctx, chromedp.Navigate(f.url+"/students/x1"), chromedp.WaitVisible(chromedp.ID("note-form"))))
	notice, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("exchange-notice")))
	if err != nil || !strings.Contains(notice, "cannot sign in to LEAP yet") {
		t.Errorf("the note form says %q (%v)", notice, err)
	}
}

// TestStaffReadTheBandInTheirOwnWords: the tutor reading a very low
// student's page is not told "your tutor may get in touch"; the student
// is.
func TestStaffReadTheBandInTheirOwnWords(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	_, mine := fetch(t, f.signIn(t, "s1").Client, f.url+"/me")
	_, theirs := fetch(t, f.signIn(t, "t1").Client, f.url+"/students/s1")
	if !strings.Contains(mine, "Your tutor may get in touch") {
		t.Error("the student's page lost the student's words")
	}
	if strings.Contains(theirs, "Your tutor") || !strings.Contains(theirs, "The student has used very little recently") {
		t.Errorf("the tutor reads: %s", between(theirs, `id="band-words"`, "</p>"))
	}
}
