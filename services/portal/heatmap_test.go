package portal

import (
	"strings"
	"testing"

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
