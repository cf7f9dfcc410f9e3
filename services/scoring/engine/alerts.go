package engine

import (
	"fmt"

	"github.com/leap-dev/leap/services/calendar"
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
	// Days is the length of that run, in teaching days, up to asOf.
	Days    int
	Message string
}

// Alerts are the alerts for a student as of asOf, no-engagement first. None
// are raised unless asOf is a teaching day — never in breaks, at weekends or
// in vacation — nor for levels that get no indicator, nor before enough
// teaching days have passed to tell.
func (e *Engine) Alerts(s Student, counts map[calendar.Day]Counts, asOf calendar.Day) []Alert {
	if e.withheld(s.Level) != "" || !e.isTeaching(asOf) {
		return nil
	}
	past := e.teaching[:e.teachingUpTo(asOf)] // ends at asOf
	var alerts []Alert

	// Display-only activity, and taps while attendance is off, are not
	// engagement the policy counts, so they do not stop this alert.
	run := 0
	for run < len(past) {
		c := counts[past[len(past)-1-run]]
		if e.counted(&c) {
			break
		}
		run++
	}
	if run >= e.alertDays {
		since := past[len(past)-run]
		alerts = append(alerts, Alert{NoEngagement, since, run,
			fmt.Sprintf("Nothing counted toward engagement on the last %d teaching days, since %s.", run, since)})
	}

	// Walk back from asOf while the indicator stays very low, scoring each
	// teaching day once, only as far back as the walk needs.
	w := e.windowFor(s)
	scores := make([]float64, len(past))
	scored := len(past) // scores[scored:] are known
	run = 0
	for ; run < len(past); run++ {
		end := len(past) - run // the indicator as of past[end-1]
		start := max(0, end-w)
		for ; scored > start; scored-- {
			c := counts[past[scored-1]]
			scores[scored-1] = e.score(&c, nil)
		}
		if e.Band(mean(scores[start:end])) != VeryLow {
			break
		}
	}
	if run >= veryLowDays {
		since := past[len(past)-run]
		alerts = append(alerts, Alert{VeryLowForAWeek, since, run,
			fmt.Sprintf("Engagement indicator very low as of each of the last %d teaching days, since %s.", run, since)})
	}
	return alerts
}
