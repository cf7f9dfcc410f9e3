package portal

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/calendar"
	"github.com/leap-dev/leap/services/policy"
	"github.com/leap-dev/leap/services/scoring"
)

// Chart geometry, in SVG user units; the SVG scales to its container.
const (
	chartW, chartH = 720.0, 220.0
	padL, padB     = 36.0, 22.0
)

// trendChart draws the daily scores of the year so far as an SVG: the five
// bands as background zones, breaks and vacation shaded, a line through
// teaching days. Drawn on the server, so it needs no script and no CDN; the
// page carries a table with the same figures for screen readers.
func trendChart(e *scoring.Engagement, pol *policy.Loaded) template.HTML {
	if e == nil || len(e.Days) == 0 {
		return ""
	}
	n := float64(len(e.Days))
	x := func(i int) float64 { return padL + (chartW-padL)*float64(i)/max(n-1, 1) }
	y := func(score float64) float64 { return (chartH - padB) * (1 - score/100) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="trend" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="trend-title"><title id="trend-title">Daily engagement score, %s to %s</title>`,
		chartW, chartH, e.Days[0].Date, e.Days[len(e.Days)-1].Date)
	bands := pol.Doc.Scoring.Bands
	edges := []struct {
		name     string
		from, to float64
	}{{"very_low", 0, float64(bands.Low)}, {"low", float64(bands.Low), float64(bands.Partial)},
		{"partial", float64(bands.Partial), float64(bands.Good)}, {"good", float64(bands.Good), float64(bands.High)}, {"high", float64(bands.High), 100}}
	for _, z := range edges {
		fmt.Fprintf(&b, `<rect class="zone zone-%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, z.name, padL, y(z.to), chartW-padL, y(z.from)-y(z.to))
		fmt.Fprintf(&b, `<text class="zone-label" x="2" y="%.1f">%d</text>`, y(z.from)-2, int(z.from))
	}
	for i, d := range e.Days {
		day, err := calendar.ParseDay(d.Date)
		if err != nil {
			continue
		}
		if p := pol.Calendar.PlaceOf(day).Period; p != v1alpha1.PeriodInTerm {
			fmt.Fprintf(&b, `<rect class="off off-%s" x="%.1f" y="0" width="%.1f" height="%.1f"/>`, strings.ToLower(string(p)), x(i)-(chartW-padL)/(2*n), (chartW-padL)/n, chartH-padB)
		}
	}
	// The day in progress is not on the line: its score is the day so far,
	// and joining it would draw a fall every morning. It is a mark of its
	// own, labelled as such.
	var pts []string
	for i, d := range e.Days {
		if d.Teaching && d.Score != nil && !d.InProgress {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(*d.Score)))
		}
	}
	if len(pts) > 0 {
		fmt.Fprintf(&b, `<polyline class="line" points="%s"/>`, strings.Join(pts, " "))
	}
	for i, d := range e.Days {
		if d.InProgress && d.Teaching && d.Score != nil {
			fmt.Fprintf(&b, `<circle class="so-far" cx="%.1f" cy="%.1f" r="3"><title>Today so far: %.1f</title></circle>`, x(i), y(*d.Score), *d.Score)
		}
	}
	fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f">%s</text><text class="axis" x="%.1f" y="%.1f" text-anchor="end">%s</text></svg>`,
		padL, chartH-4, e.Days[0].Date, chartW, chartH-4, e.Days[len(e.Days)-1].Date)
	return template.HTML(b.String()) //nolint:gosec // built above from numbers and dates only
}

// Tab is one activity's daily counts, for the activity tabs.
type Tab struct {
	Key         string
	Title       string
	What        string
	Counted     bool
	DisplayOnly bool
	Days        []TabDay
	Total       int32
}

// Dates are the tab's days, newest first, for its challenge form.
func (t Tab) Dates() []string {
	out := make([]string, len(t.Days))
	for i, d := range t.Days {
		out[i] = d.Date
	}
	return out
}

// TabDay is one day of one activity.
type TabDay struct {
	Date  string
	Count int32
}

// activityTabs lists each activity's last 28 days of counts, newest first.
func activityTabs(e *scoring.Engagement, pol *policy.Loaded) []Tab {
	displayOnly := map[v1alpha1.Activity]bool{}
	for _, a := range pol.Doc.Scoring.DisplayOnly {
		displayOnly[a] = true
	}
	var tabs []Tab
	for _, a := range v1alpha1.Catalogue {
		t := Tab{Key: string(a.Key), Title: a.Title, What: a.What, DisplayOnly: displayOnly[a.Key],
			Counted: pol.Doc.Scoring.Weights[string(a.Key)] > 0 && !displayOnly[a.Key] && (a.Key != v1alpha1.TapIn || pol.Doc.Attendance.IsEnabled())}
		for i := len(e.Days) - 1; i >= 0 && len(t.Days) < 28; i-- {
			n := e.Days[i].Counts[string(a.Key)]
			t.Days = append(t.Days, TabDay{Date: e.Days[i].Date, Count: n})
			t.Total += n
		}
		tabs = append(tabs, t)
	}
	return tabs
}

// Sparkline geometry, in SVG user units.
const sparkW, sparkH = 112.0, 24.0

// sparkline draws recent daily scores as a small line for the list of
// tutees: on the server like the trend chart, with presentation attributes
// and classes only, as the CSP forbids inline styles. Its label carries the
// figures for screen readers.
func sparkline(scores []float64) template.HTML {
	if len(scores) == 0 {
		return ""
	}
	x := func(i int) float64 { return 2 + (sparkW-4)*float64(i)/max(float64(len(scores)-1), 1) }
	y := func(s float64) float64 { return 2 + (sparkH-4)*(1-min(max(s, 0), 100)/100) }
	pts := make([]string, len(scores))
	words := make([]string, len(scores))
	for i, s := range scores {
		pts[i] = fmt.Sprintf("%.1f,%.1f", x(i), y(s))
		words[i] = fmt.Sprintf("%.0f", s)
	}
	last := len(scores) - 1
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="spark" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="Scores of the last %d teaching days: %s">`,
		sparkW, sparkH, sparkW, sparkH, len(scores), strings.Join(words, ", "))
	fmt.Fprintf(&b, `<polyline class="spark-line" fill="none" points="%s"/><circle class="spark-end" cx="%.1f" cy="%.1f" r="2.5"/></svg>`,
		strings.Join(pts, " "), x(last), y(scores[last]))
	return template.HTML(b.String()) //nolint:gosec // built above from numbers only
}
