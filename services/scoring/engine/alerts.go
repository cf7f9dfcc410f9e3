package engine

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// AlertKind says what an alert is about.
type AlertKind string

// The kinds of alert.
const (
	// NoEngagement: nothing counted on the last NoEngagementAlertDays
	// teaching days.
	NoEngagement AlertKind = "no_engagement"
	// VeryLowForAWeek: the indicator was very low as of each of the last
	// veryLowDays teaching days.
	VeryLowForAWeek AlertKind = "very_low_week"
)

// veryLowDays is a teaching week: one very low day is noise, a week of them
// is worth a tutor's message.
const veryLowDays = 5

// Alert is something a student's tutor should know.
type Alert struct {
	Kind AlertKind
	// Since is the first teaching day of the run that raised the alert.
	Since calendar.Day
	// Days is the length of that run, in teaching days, up to the last
	// teaching day evaluated.
	Days    int
	Message string
}

// Alerts are the alerts for a student as of the end of asOf, no-engagement
// first. They are evaluated as of the last teaching day up to asOf, so a
// weekend, a break or vacation neither raises an alert nor clears one: on a
// Saturday a tutor sees Friday's. None are raised for levels that get no
// indicator, nor before enough teaching days have passed to tell.
func (e *Engine) Alerts(s Student, counts map[calendar.Day]Counts, asOf calendar.Day) []Alert {
	if e.withheld(s.Level) != "" {
		return nil
	}
	past := e.teaching[:e.teachingUpTo(asOf)] // ends at the last teaching day up to asOf
	if len(past) == 0 {
		return nil
	}
	var alerts []Alert
	// Each day is judged under the policy of its day; the length of run
	// that alerts, and the window, are those of the last day's policy.
	now := e.on(past[len(past)-1])

	// Display-only activity, and taps while attendance is off, are not
	// engagement the policy counts, so they do not stop this alert.
	run := 0
	for run < len(past) {
		d := past[len(past)-1-run]
		c := counts[d]
		if e.on(d).counted(&c) {
			break
		}
		run++
	}
	if run >= now.alertDays {
		alerts = append(alerts, newAlert(NoEngagement, past[len(past)-run], run))
	}

	// Walk back from the end while the indicator stays very low, scoring
	// each teaching day once, only as far back as the walk needs.
	scores := make([]float64, len(past))
	scored := len(past) // scores[scored:] are known
	run = 0
	for ; run < len(past); run++ {
		end := len(past) - run // the indicator as of past[end-1]
		r := e.on(past[end-1])
		start := max(0, end-r.windowFor(s))
		for ; scored > start; scored-- {
			d := past[scored-1]
			c := counts[d]
			scores[scored-1] = e.on(d).score(&c, nil)
		}
		if r.Band(mean(scores[start:end])) != VeryLow {
			break
		}
	}
	if run >= veryLowDays {
		alerts = append(alerts, newAlert(VeryLowForAWeek, past[len(past)-run], run))
	}
	return alerts
}

// AlertsToday are the alerts while today is in progress: those as of the
// end of yesterday, less any that today's activity so far has ended. A day
// in progress never raises an alert (it is empty until its data arrive),
// and so the first teaching day after a break raises none from the days
// before the break alone; but a student who comes back is seen at once.
func (e *Engine) AlertsToday(s Student, counts map[calendar.Day]Counts, today calendar.Day) []Alert {
	alerts := e.Alerts(s, counts, today.AddDays(-1))
	if len(alerts) == 0 || !e.isTeaching(today) {
		return alerts
	}
	c := counts[today]
	ended := func(k AlertKind) bool {
		switch k {
		case NoEngagement:
			return e.on(today).counted(&c)
		case VeryLowForAWeek:
			ind, _ := e.indicator(s, counts, today)
			return ind != nil && ind.Band != VeryLow
		}
		return false
	}
	kept := alerts[:0]
	for _, a := range alerts {
		if !ended(a.Kind) {
			kept = append(kept, a)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	return kept
}

func newAlert(kind AlertKind, since calendar.Day, days int) Alert {
	what := "Nothing counted toward engagement"
	if kind == VeryLowForAWeek {
		what = "Engagement indicator very low"
	}
	return Alert{kind, since, days, fmt.Sprintf("%s since %s: %d teaching days.", what, LongDay(since), days)}
}

// LongDay writes a day as people read it: "Tuesday 10 November".
func LongDay(d calendar.Day) string {
	return fmt.Sprintf("%s %d %s", d.Weekday(), d.Day, d.Month)
}

// Episode is one alert from when it was raised to when it ended: a
// student's alert history is a list of them.
type Episode struct {
	Kind AlertKind
	// Since is the first teaching day of the run; Raised the teaching day
	// that made it long enough to alert.
	Since, Raised calendar.Day
	// Days is the run's length in teaching days, up to its end or to the
	// last teaching day evaluated.
	Days int
	// Ended is the teaching day whose activity ended the alert, zero while
	// it is open; EndedBy says what ended it: the activity that counted
	// most that day, or the band the indicator rose to.
	Ended   calendar.Day
	EndedBy string
}

// Alert is the episode as an alert of today.
func (ep Episode) Alert() Alert { return newAlert(ep.Kind, ep.Since, ep.Days) }

// Open reports whether the alert has not ended.
func (ep Episode) Open() bool { return ep.Ended.IsZero() }

// AlertHistory is every alert of the year for a student up to today (in
// progress, as in AlertsToday), oldest raised first. It is worked out from
// the counts, so it needs nothing stored beyond them and is the same on
// every replica; its open episodes are the alerts of AlertsToday.
func (e *Engine) AlertHistory(s Student, counts map[calendar.Day]Counts, today calendar.Day) []Episode {
	if e.withheld(s.Level) != "" {
		return nil
	}
	past := e.teaching[:e.teachingUpTo(today.AddDays(-1))]
	inProgress := e.isTeaching(today)
	var out []Episode

	// No engagement: runs of teaching days with nothing counted.
	var open *Episode
	run := 0
	endBy := func(d calendar.Day, c *Counts) {
		open.Ended, open.EndedBy = d, string(e.on(d).topActivity(c))
		out = append(out, *open)
		open = nil
	}
	for i, d := range past {
		c := counts[d]
		if e.on(d).counted(&c) {
			if open != nil {
				endBy(d, &c)
			}
			run = 0
			continue
		}
		run++
		if open == nil && run >= e.on(d).alertDays {
			open = &Episode{Kind: NoEngagement, Since: past[i+1-run], Raised: d}
		}
		if open != nil {
			open.Days = run
		}
	}
	if c := counts[today]; open != nil && inProgress && e.on(today).counted(&c) {
		endBy(today, &c)
	}
	if open != nil {
		out = append(out, *open)
	}

	// Very low for a week: runs of teaching days as of each of which the
	// indicator was very low.
	scores := make([]float64, len(past))
	for i, d := range past {
		c := counts[d]
		scores[i] = e.on(d).score(&c, nil)
	}
	var low *Episode
	run = 0
	for i, d := range past {
		r := e.on(d)
		band := r.Band(mean(scores[max(0, i+1-r.windowFor(s)) : i+1]))
		if band != VeryLow {
			if low != nil {
				low.Ended, low.EndedBy = d, "indicator rose to "+string(band)
				out = append(out, *low)
				low = nil
			}
			run = 0
			continue
		}
		run++
		if run == veryLowDays {
			low = &Episode{Kind: VeryLowForAWeek, Since: past[i+1-run], Raised: d}
		}
		if low != nil {
			low.Days = run
		}
	}
	if low != nil && inProgress {
		if ind, _ := e.indicator(s, counts, today); ind != nil && ind.Band != VeryLow {
			low.Ended, low.EndedBy = today, "indicator rose to "+string(ind.Band)
			out = append(out, *low)
			low = nil
		}
	}
	if low != nil {
		out = append(out, *low)
	}
	sortEpisodes(out)
	return out
}

// topActivity is the activity of c that scores most, the one that ended a
// run of silence.
func (e *rules) topActivity(c *Counts) v1alpha1.Activity {
	var points [v1alpha1.NumActivities]float64
	e.score(c, &points)
	best := 0
	for i, p := range points {
		if p > points[best] {
			best = i
		}
	}
	return v1alpha1.Catalogue[best].Key
}

// sortEpisodes orders episodes by the day they were raised, no-engagement
// first on the same day.
func sortEpisodes(eps []Episode) {
	slices.SortStableFunc(eps, func(a, b Episode) int {
		return cmp.Or(cmpDay(a.Raised, b.Raised), cmp.Compare(kindRank(a.Kind), kindRank(b.Kind)))
	})
}

func kindRank(k AlertKind) int {
	if k == NoEngagement {
		return 0
	}
	return 1
}
