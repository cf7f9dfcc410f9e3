package portal

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/scoring"
)

// Chart geometry, in SVG user units; the SVG scales to its container.
const (
	chartW, chartH = 720.0, 220.0
	padL, padB     = 36.0, 22.0
)

// trendChart draws the daily scores of the year so far as an SVG: the five
// bands as background zones, breaks and vacation shaded, a line through
// teaching days and, dashed beneath it, the course's mean on the days
// scoring shows one. Drawn on the server, so it needs no script and no
// CDN; the page carries a table with the same figures for screen readers.
func trendChart(e *scoring.Engagement, pol *policy.Loaded, course courseLine) template.HTML {
	if e == nil || len(e.Days) == 0 {
		return ""
	}
	n := float64(len(e.Days))
	x := func(i int) float64 { return padL + (chartW-padL)*float64(i)/max(n-1, 1) }
	y := func(score float64) float64 { return (chartH - padB) * (1 - score/100) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="trend" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="trend-title"><title id="trend-title">Daily engagement score, %s to %s</title>`,
		chartW, chartH, e.Days[0].Date, e.Days[len(e.Days)-1].Date)
	for _, z := range bandZones(pol.Doc.Scoring.Bands) {
		fmt.Fprintf(&b, `<rect class="zone zone-%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, z.name, padL, y(z.to), chartW-padL, y(z.from)-y(z.to))
		fmt.Fprintf(&b, `<text class="zone-label" x="2" y="%.1f">%d</text>`, y(z.from)-2, int(z.from))
		// The band's name sits inside its zone, at the right, where the
		// line of the latest days is read against it.
		fmt.Fprintf(&b, `<text class="zone-name" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, chartW-4, (y(z.from)+y(z.to))/2+4, bandName(z.name))
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
	// The course's line is broken at a teaching day without a figure (a
	// group below the minimum that day), so that it never claims one.
	var run []string
	endRun := func() {
		switch {
		case len(run) == 1:
			cx, cy, _ := strings.Cut(run[0], ",")
			fmt.Fprintf(&b, `<circle class="course-dot" cx="%s" cy="%s" r="2"/>`, cx, cy)
		case len(run) > 1:
			fmt.Fprintf(&b, `<polyline class="course-line" points="%s"/>`, strings.Join(run, " "))
		}
		run = run[:0]
	}
	for i, d := range e.Days {
		if !d.Teaching {
			continue
		}
		if m, ok := course.Mean(d.Date); ok {
			run = append(run, fmt.Sprintf("%.1f,%.1f", x(i), y(m)))
		} else {
			endRun()
		}
	}
	endRun()
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
	// A policy change is marked on the day it took effect, so that a step
	// in the line has its reason beside it.
	for _, ch := range policyChanges(pol.Doc) {
		for i, d := range e.Days {
			if d.Date == ch.From.String() {
				fmt.Fprintf(&b, `<line class="policy-mark" x1="%.1f" y1="0" x2="%.1f" y2="%.1f"><title>%s from %s</title></line><text class="policy-mark-label" x="%.1f" y="10">%s from %s</text>`,
					x(i), x(i), chartH-padB, ch.What, d.Date, x(i)+3, ch.What, fmtShortDay(ch.From))
			}
		}
	}
	// A tick for each week, on its Monday, and the month's name at the
	// first Monday of each month, so that a day is found without counting.
	named := false
	for i, d := range e.Days {
		day, err := calendar.ParseDay(d.Date)
		if err != nil || day.Weekday() != time.Monday {
			continue
		}
		fmt.Fprintf(&b, `<line class="tick" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, x(i), chartH-padB, x(i), chartH-padB+4)
		if day.Day <= 7 || !named {
			named = true
			fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f">%s</text>`, x(i), chartH-4, fmtShortDay(day)[4:])
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built above from numbers and dates only
}

// PolicyChange is a day from which another policy was in force.
type PolicyChange struct {
	From calendar.Day
	// What changed, in a few words: "Attendance off", "Attendance on" or
	// "Policy changed".
	What string
	// Attendance is the attendance switch from that day.
	Attendance v1alpha1.Attendance
}

// policyChanges lists the days the policy history says a policy began,
// oldest first: the day after each entry's until.
func policyChanges(doc policy.Document) []PolicyChange {
	var out []PolicyChange
	for i, h := range doc.PolicyHistory {
		until, err := calendar.ParseDay(string(h.Until))
		if err != nil {
			continue
		}
		next := doc.Attendance
		if i+1 < len(doc.PolicyHistory) {
			next = doc.PolicyHistory[i+1].Attendance
		}
		what := "Policy changed"
		switch {
		case h.Attendance.IsEnabled() && !next.IsEnabled():
			what = "Attendance off"
		case !h.Attendance.IsEnabled() && next.IsEnabled():
			what = "Attendance on"
		}
		out = append(out, PolicyChange{From: until.AddDays(1), What: what, Attendance: next})
	}
	return out
}

// attendanceNotice is what the student's band area says while attendance
// is off: since when, when the history says, and what it does to the
// figures. Empty while attendance counts.
func attendanceNotice(doc policy.Document) string {
	if doc.Attendance.IsEnabled() {
		return ""
	}
	since := ""
	if changes := policyChanges(doc); len(changes) > 0 {
		if last := changes[len(changes)-1]; last.What == "Attendance off" {
			since = fmt.Sprintf(" since %d %s", last.From.Day, last.From.Month)
		}
	}
	effect := "indicators run lower than usual"
	if doc.Attendance.Renormalize {
		effect = "the other activities are re-weighted to make up for it"
	}
	return "Attendance is not counted" + since + "; " + effect + "."
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

// Challenge is the tab's challenge form: a choice of its days, newest
// first.
func (t Tab) Challenge() challengeForm {
	dates := make([]string, len(t.Days))
	for i, d := range t.Days {
		dates[i] = d.Date
	}
	return challengeForm{Activity: t.Key, Dates: dates}
}

// TabDay is one day of one activity.
type TabDay struct {
	Date  string
	Count int32
}

// activityTabs lists the activity tabs: every activity added up, then
// each activity, with its last 28 days of counts, newest first.
func activityTabs(e *scoring.Engagement, pol *policy.Loaded) []Tab {
	displayOnly := map[v1alpha1.Activity]bool{}
	for _, a := range pol.Doc.Scoring.DisplayOnly {
		displayOnly[a] = true
	}
	tabs := []Tab{{Key: allActivities, Title: "All activities", What: "Everything recorded for you, added up", Counted: true}}
	for _, a := range v1alpha1.Catalogue {
		tabs = append(tabs, Tab{Key: string(a.Key), Title: a.Title, What: a.What, DisplayOnly: displayOnly[a.Key],
			Counted: pol.Doc.Scoring.Weights[string(a.Key)] > 0 && !displayOnly[a.Key] && (a.Key != v1alpha1.TapIn || pol.Doc.Attendance.IsEnabled())})
	}
	for i := range tabs {
		t := &tabs[i]
		for j := len(e.Days) - 1; j >= 0 && len(t.Days) < 28; j-- {
			n := dayCount(e.Days[j], t.Key)
			t.Days = append(t.Days, TabDay{Date: e.Days[j].Date, Count: n})
			t.Total += n
		}
	}
	return tabs
}

// selectTab is the tab asked for by key, or the first (every activity)
// when key names none.
func selectTab(tabs []Tab, key string) Tab {
	for _, t := range tabs {
		if t.Key == key {
			return t
		}
	}
	return tabs[0]
}

// Sparkline geometry, in SVG user units.
const sparkW, sparkH = 112.0, 32.0

// sparkline draws recent daily scores as a small line for the list of
// tutees, over the five bands as shaded zones, so that a very low and a
// good student differ at a glance; the last point is coloured by its band.
// On the server like the trend chart, with presentation attributes and
// classes only, as the CSP forbids inline styles. Its label carries the
// figures for screen readers.
func sparkline(scores []float64, bands v1alpha1.Bands) template.HTML {
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
	end := "very_low"
	for _, z := range bandZones(bands) {
		fmt.Fprintf(&b, `<rect class="zone zone-%s" x="0" y="%.1f" width="%.0f" height="%.1f"/>`, z.name, y(z.to), sparkW, y(z.from)-y(z.to))
		if scores[last] >= z.from {
			end = z.name
		}
	}
	fmt.Fprintf(&b, `<polyline class="spark-line" fill="none" points="%s"/><circle class="spark-end spark-%s" cx="%.1f" cy="%.1f" r="3"/></svg>`,
		strings.Join(pts, " "), end, x(last), y(scores[last]))
	return template.HTML(b.String()) //nolint:gosec // built above from numbers only
}

// bandZone is one band's range of scores, from its lower edge.
type bandZone struct {
	name     string
	from, to float64
}

// bandZones are the five bands' ranges, very low first.
func bandZones(bands v1alpha1.Bands) []bandZone {
	return []bandZone{{"very_low", 0, float64(bands.Low)}, {"low", float64(bands.Low), float64(bands.Partial)},
		{"partial", float64(bands.Partial), float64(bands.Good)}, {"good", float64(bands.Good), float64(bands.High)}, {"high", float64(bands.High), 100}}
}
