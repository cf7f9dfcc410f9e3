package portal

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/services/scoring"
)

// TestTrendChartNamesBandsAndMarksWeeks: each zone carries its band's
// name, each week a tick on its Monday and each month its name.
func TestTrendChartNamesBandsAndMarksWeeks(t *testing.T) {
	half := 50.0
	e := &scoring.Engagement{}
	for _, d := range []string{"2026-10-01", "2026-10-02", "2026-10-05", "2026-10-12", "2026-10-19", "2026-10-26", "2026-11-02", "2026-11-09"} {
		e.Days = append(e.Days, scoring.Day{Date: d, Teaching: true, Score: &half})
	}
	svg := string(trendChart(e, typicalPolicy(t), nil))
	for _, want := range []string{">Very low</text>", ">Low</text>", ">Partial</text>", ">Good</text>", ">High</text>", ">5 Oct</text>", ">2 Nov</text>"} {
		if !strings.Contains(svg, want) {
			t.Errorf("the trend lacks %q", want)
		}
	}
	if n := strings.Count(svg, `class="tick"`); n != 6 {
		t.Errorf("%d week ticks, want one for each of the 6 Mondays", n)
	}
	if strings.Contains(svg, ">12 Oct</text>") {
		t.Error("a week that starts no month is named")
	}
}

// TestHeatmapMonthNamesDoNotCrowd: a calendar that starts in the last days
// of a month names the next month, not both on top of each other; one
// that starts early in a month names it once, over its first column.
func TestHeatmapMonthNamesDoNotCrowd(t *testing.T) {
	names := regexp.MustCompile(`<text class="hm-label" x="(\d+)" y="11" aria-hidden="true">([A-Z][a-z]{2})</text>`)
	for _, tc := range []struct {
		first string
		want  []string
	}{
		{"2026-09-28", []string{"Oct", "Nov"}}, // Sep's name would sit on Oct's
		{"2026-09-30", []string{"Oct", "Nov"}},
		{"2026-09-21", []string{"Sep", "Oct", "Nov"}},
		{"2026-10-01", []string{"Oct", "Nov"}},
		{"2026-10-05", []string{"Oct", "Nov"}},
	} {
		first, err := calendar.ParseDay(tc.first)
		must(t, err)
		e := &scoring.Engagement{}
		for d := first; d.Before(calendar.Day{Year: 2026, Month: time.November, Day: 20}); d = d.AddDays(1) {
			e.Days = append(e.Days, scoring.Day{Date: d.String(), Teaching: true})
		}
		svg := string(activityHeatmap(e, typicalPolicy(t), allActivities, "Activity"))
		var got []string
		lastX := -100
		for _, m := range names.FindAllStringSubmatch(svg, -1) {
			x, _ := strconv.Atoi(m[1])
			if x-lastX < hmMonthGap*hmStep {
				t.Errorf("from %s: %s at x=%d is %d units after the name before it", tc.first, m[2], x, x-lastX)
			}
			lastX = x
			got = append(got, m[2])
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("from %s: months %v, want %v", tc.first, got, tc.want)
		}
	}
}
