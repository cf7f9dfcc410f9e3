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

// allActivities is the activity tab that adds every activity up.
const allActivities = "all"

// Calendar heatmap geometry, in SVG user units: one column per week
// (Monday at the top), a column of weekday names on the left and a row of
// month names above. Cells are sized by the stylesheet (.hm rect), which
// keeps a year of cells small.
const (
	hmCell, hmStep  = 12.0, 14.0
	hmLeft, hmTop   = 30.0, 16.0
	hmLevels        = 4
	hmMinimumWeeks  = 4
	hmWeekdayLabels = "Mon,,Wed,,Fri,,Sun"
	// hmMonthGap is the fewest columns between two month names: a name
	// ("Sep", 10 px) is wider than one column, so names one column apart
	// overlap.
	hmMonthGap = 2
)

// monthLabel is a month's name over the column of its first Monday.
type monthLabel struct {
	col  int
	name string
}

// monthLabels names each month from first to last over the column of its
// first Monday, and the first day's month over the first column. When the
// calendar starts late in a month, that month's name would sit on the
// next one's: it is left out, the month whose weeks follow is named.
func monthLabels(first, last calendar.Day, col func(calendar.Day) int) []monthLabel {
	var labels []monthLabel
	add := func(d calendar.Day) {
		l := monthLabel{col(d), d.Month.String()[:3]}
		n := len(labels)
		if n > 0 && labels[n-1].name == l.name {
			return // the first day's month, already named
		}
		if n > 0 && l.col-labels[n-1].col < hmMonthGap {
			labels = labels[:n-1]
		}
		labels = append(labels, l)
	}
	add(first)
	for d := first.AddDays(1); !last.Before(d); d = d.AddDays(1) {
		if d.Weekday() == time.Monday && d.Day <= 7 {
			add(d)
		}
	}
	return labels
}

// shortDay writes a YYYY-MM-DD date as people read it in a table or a
// list, "Mon 19 Oct"; anything else is returned as it is.
func shortDay(date string) string {
	d, err := calendar.ParseDay(date)
	if err != nil {
		return date
	}
	return fmtShortDay(d)
}

func fmtShortDay(d calendar.Day) string {
	return fmt.Sprintf("%s %d %s", d.Weekday().String()[:3], d.Day, d.Month.String()[:3])
}

// shortTime is shortDay for an instant, in its own time zone.
func shortTime(t time.Time) string { return fmtShortDay(calendar.DayOf(t)) }

// dayCount is the count of key ("all": every activity) on day d.
func dayCount(d scoring.Day, key string) int32 {
	if key != allActivities {
		return d.Counts[key]
	}
	var n int32
	for _, c := range d.Counts {
		n += c
	}
	return n
}

// activityHeatmap draws a calendar of the year so far, one cell per day,
// shaded by how much of activity key ("all": every activity) the day
// holds, relative to the busiest day. Weekends and breaks are outlined as
// days off. Each cell is an image named by its day and count, so a screen
// reader reads the calendar cell by cell; the tab's table has the recent
// figures too. Drawn on the server with classes only: the CSP allows no
// inline style and the page no script.
func activityHeatmap(e *scoring.Engagement, pol *policy.Loaded, key, title string) template.HTML {
	if e == nil || len(e.Days) == 0 {
		return ""
	}
	first, err := calendar.ParseDay(e.Days[0].Date)
	if err != nil {
		return ""
	}
	// Columns start on the Monday of the first day's week.
	monday := first.AddDays(-((int(first.Weekday()) + 6) % 7))
	var busiest int32
	for _, d := range e.Days {
		busiest = max(busiest, dayCount(d, key))
	}
	type cell struct {
		day   calendar.Day
		count int32
	}
	cells := make([]cell, 0, len(e.Days))
	for _, d := range e.Days {
		day, err := calendar.ParseDay(d.Date)
		if err != nil {
			continue
		}
		cells = append(cells, cell{day, dayCount(d, key)})
	}
	col := func(d calendar.Day) int {
		return int(d.Start(time.UTC).Sub(monday.Start(time.UTC)).Hours()/24) / 7
	}
	weeks := max(col(cells[len(cells)-1].day)+1, hmMinimumWeeks)
	w, h := hmLeft+float64(weeks)*hmStep, hmTop+7*hmStep
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="hm" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="group" aria-label="%s each day, %s to %s">`,
		w, h, 1.5*w, 1.5*h, template.HTMLEscapeString(title), fmtShortDay(cells[0].day), fmtShortDay(cells[len(cells)-1].day))
	for i, name := range strings.Split(hmWeekdayLabels, ",") {
		if name != "" {
			fmt.Fprintf(&b, `<text class="hm-label" x="0" y="%.0f" aria-hidden="true">%s</text>`, hmTop+float64(i)*hmStep+hmCell-2, name)
		}
	}
	for _, l := range monthLabels(cells[0].day, cells[len(cells)-1].day, col) {
		fmt.Fprintf(&b, `<text class="hm-label" x="%.0f" y="11" aria-hidden="true">%s</text>`, hmLeft+float64(l.col)*hmStep, l.name)
	}
	for _, c := range cells {
		level := 0
		if c.count > 0 && busiest > 0 {
			level = int((int64(c.count)*hmLevels + int64(busiest) - 1) / int64(busiest))
		}
		class := fmt.Sprintf("h%d", level)
		what := ""
		switch p := pol.Calendar.PlaceOf(c.day).Period; {
		case p != v1alpha1.PeriodInTerm:
			class, what = class+" off", ", break"
		case c.day.Weekday() == time.Saturday || c.day.Weekday() == time.Sunday:
			class, what = class+" off", ", weekend"
		}
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" class="%s" role="img" aria-label="%s: %d%s"/>`,
			hmLeft+float64(col(c.day))*hmStep, hmTop+float64((int(c.day.Weekday())+6)%7)*hmStep, class, fmtShortDay(c.day), c.count, what)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built above from numbers, dates and an escaped title
}
