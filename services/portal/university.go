package portal

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/leap-dev/leap/services/scoring"
	"github.com/leap-dev/leap/services/scoring/engine"
	"github.com/leap-dev/leap/services/server"
)

// universityPage is university.html's data: the whole university at a
// glance, for the LEAP team.
type universityPage struct {
	Session *Session
	Weekly  scoring.Weekly
	// University and Departments are the charts with their tables;
	// Rest is the small departments merged, when shown at all.
	University  DistributionView
	Departments []DistributionView
	Rest        *DistributionView
	Alerts      []AlertRow
	AlertsRest  *AlertRow
	Fresh       []Freshness
}

// DistributionView is one group's weekly distribution: its chart and the
// same figures as a table.
type DistributionView struct {
	ID, Name string
	Chart    template.HTML
	Rows     []DistributionRow
}

// DistributionRow is one week of a group, or a week withheld (too few
// students with an indicator to show).
type DistributionRow struct {
	Week     scoring.WeekOf
	Withheld bool
	Size     int
	Bands    []BandShare
}

// BandShare is one band's students in a week.
type BandShare struct {
	Band           string
	Count, Percent int
}

// universityPage shows the band distribution week by week for the
// university and each department, the alerts open by department and the
// freshness of each source. Scoring works the figures out and applies
// the privacy rule; the page only draws them.
func (p *Portal) universityPage(c echo.Context) error {
	ctx := c.Request().Context()
	var w scoring.Weekly
	status, err := p.fromScoring(ctx, "/v1/distribution/weekly", &w, http.StatusServiceUnavailable)
	if err != nil {
		return err
	}
	if status == http.StatusServiceUnavailable {
		return server.Problem(http.StatusServiceUnavailable, "The figures cannot be worked out just now: the data store cannot be reached. Try again in a minute.")
	}
	fresh, err := p.freshness(ctx)
	if err != nil {
		return err
	}
	page := universityPage{Session: sessionOf(c), Weekly: w, Fresh: fresh,
		University: distributionView("university", "The whole university", w.Weeks, w.University)}
	page.Alerts, page.AlertsRest = alertRows(w.Alerts)
	for i, d := range w.Departments {
		page.Departments = append(page.Departments, distributionView(fmt.Sprintf("dept-%d", i), d.Department, w.Weeks, d.Weeks))
	}
	for _, r := range w.Rest {
		if r != nil {
			v := distributionView("rest", "Other departments, merged", w.Weeks, w.Rest)
			page.Rest = &v
			break
		}
	}
	return p.render(c, http.StatusOK, "university.html", page)
}

func distributionView(id, name string, weeks []scoring.WeekOf, series []*scoring.BandCounts) DistributionView {
	v := DistributionView{ID: id, Name: name, Chart: distributionChart(id, name, weeks, series)}
	for i, w := range weeks {
		row := DistributionRow{Week: w, Withheld: i >= len(series) || series[i] == nil}
		if !row.Withheld {
			row.Size = series[i].Size
			for _, b := range engine.Bands {
				n := series[i].Bands[b]
				row.Bands = append(row.Bands, BandShare{Band: string(b), Count: n, Percent: percent(n, row.Size)})
			}
		}
		v.Rows = append(v.Rows, row)
	}
	return v
}

func percent(n, of int) int {
	if of == 0 {
		return 0
	}
	return (100*n + of/2) / of
}

// bandFill is each band's colour in the distribution charts, the band
// chips' own, as presentation attributes (the CSP forbids inline styles).
var bandFill = map[engine.Band]string{
	engine.High: "#1d6b2f", engine.Good: "#3f7518", engine.Partial: "#f2c94c", engine.Low: "#e07b39", engine.VeryLow: "#a4000f",
}

// Distribution chart geometry, in SVG user units; the SVG scales to its
// container, so it fits a phone's width.
const (
	distW, distH = 720.0, 200.0
	distPadL     = 34.0
	distPadT     = 10.0
	distPadB     = 22.0
)

// distributionChart draws a group's weeks as stacked bars of the share of
// its students in each band, very low at the bottom; a week withheld is
// an outlined empty bar. Drawn on the server, no script; the title and
// description say what it shows, and the page's table beside it carries
// the figures for anyone who cannot see it.
func distributionChart(id, name string, weeks []scoring.WeekOf, series []*scoring.BandCounts) template.HTML {
	if len(weeks) == 0 {
		return ""
	}
	esc := template.HTMLEscapeString
	slot := (distW - distPadL) / float64(len(weeks))
	barW := max(slot*0.7, 1)
	plotH := distH - distPadB - distPadT
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="distribution" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="%s-title %s-desc">`, distW, distH, id, id)
	fmt.Fprintf(&b, `<title id="%s-title">%s: share of students in each band, week by week, %s to %s</title>`, id, esc(name), weeks[0].Week, weeks[len(weeks)-1].AsOf)
	fmt.Fprintf(&b, `<desc id="%s-desc">Stacked bars, one a week: very low at the bottom, then low, partial, good and high at the top. An empty outlined bar is a week with too few students to show. The table below gives the same figures.</desc>`, id)
	for _, pct := range []int{0, 50, 100} {
		y := distPadT + plotH*(1-float64(pct)/100)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#c4c9d0" stroke-width="0.5"/><text class="axis" x="2" y="%.1f">%d%%</text>`, distPadL, y, distW, y, y+4, pct)
	}
	for i, w := range weeks {
		x := distPadL + slot*float64(i) + (slot-barW)/2
		var bc *scoring.BandCounts
		if i < len(series) {
			bc = series[i]
		}
		if bc == nil || bc.Size == 0 {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#8a929c" stroke-dasharray="3 3"><title>Week of %s: withheld, too few students</title></rect>`, x, distPadT, barW, plotH, w.Week)
		} else {
			y := distPadT + plotH
			for k := len(engine.Bands) - 1; k >= 0; k-- {
				band := engine.Bands[k]
				n := bc.Bands[band]
				if n == 0 {
					continue
				}
				h := plotH * float64(n) / float64(bc.Size)
				y -= h
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>Week of %s: %s %d of %d (%d%%)</title></rect>`,
					x, y, barW, h, bandFill[band], w.Week, bandName(string(band)), n, bc.Size, percent(n, bc.Size))
			}
		}
		// Every other week's Monday under its bar, so that labels never
		// run into one another.
		if i%2 == 0 || len(weeks) <= 8 {
			fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.0f" text-anchor="middle">%s</text>`, x+barW/2, distH-6, w.Week[5:])
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // numbers, dates and escaped names only
}

// AlertRow is a department's alerts open today, for the page's table.
type AlertRow struct {
	Department                    string
	Students, Alerted             int
	NoEngagement, VeryLowForAWeek int
}

func alertRows(a scoring.AlertsByDepartment) (rows []AlertRow, rest *AlertRow) {
	row := func(d scoring.DepartmentAlerts) AlertRow {
		return AlertRow{Department: d.Department, Students: d.Students, Alerted: d.Alerted,
			NoEngagement: d.Open[engine.NoEngagement], VeryLowForAWeek: d.Open[engine.VeryLowForAWeek]}
	}
	for _, d := range a.Departments {
		rows = append(rows, row(d))
	}
	if a.Rest != nil {
		r := row(*a.Rest)
		rest = &r
	}
	return rows, rest
}

// bandList is the bands from most to least engaged, for templates.
func bandList() []string {
	out := make([]string, len(engine.Bands))
	for i, b := range engine.Bands {
		out[i] = string(b)
	}
	return out
}

// Choice is one option of a select.
type Choice struct{ Value, Text string }

// alertChoices are the alert filter's choices beside "any student".
func alertChoices() []Choice {
	return []Choice{{alertAny, "With an alert"}, {alertNone, "Without an alert"},
		{string(engine.NoEngagement), alertKindName(string(engine.NoEngagement))}, {string(engine.VeryLowForAWeek), alertKindName(string(engine.VeryLowForAWeek))}}
}
