// Package engine is the scoring engine: from a student's activity counts per
// day and the policy, it computes daily scores, the engagement indicator (a
// band), its explanation, alerts for tutors and cohort summaries.
//
// The engine is pure. It does no I/O and reads no clock (callers pass the
// day they want an answer for), and an Engine is immutable once built, so
// one may be shared by any number of goroutines. The policy is an argument
// of New rather than a global, because the portal previews a different
// policy over the same stored counts.
//
// # Daily score
//
// A day's score is a weighted mean of how fully each activity was done that
// day, on a 0..100 scale:
//
//	score = 100 × Σ weight(a) × sat(count(a)) / denominator
//	sat(c) = min(c, cap(a)) / cap(a)
//
// Saturation exists because counts measure clicks, not learning: refreshing
// a page a thousand times must gain nothing over doing the day's work once,
// and no single activity can carry a student whose other activities are
// absent. Each cap is roughly what a fully engaged student does in one day:
//
//   - tap_in 4: a full timetabled day is about four taught sessions; a second
//     tap at the same session, or at a second reader, adds nothing.
//   - faser_upload 1: submitting work on a day is the engagement; re-uploading
//     drafts is not more of it.
//   - faser_view 3: reading a brief, the feedback and the mark.
//   - listen_again 2: two lectures replayed is a serious revision day; more
//     plays are usually seeking within one recording.
//   - pc_lab_login 2: a morning and an afternoon session; locked machines
//     make people log in again.
//   - moodle_course 10: a study session touches several pages of a course;
//     beyond ten it is clicking around, not more study.
//   - moodle_login 3: sessions time out, so one working day is a few logins.
//   - moodle_mobile 5: the app emits many small events for one use.
//   - library_loan 1, reading_list 1: display-only by default; should a
//     policy ever weight them, borrowing or opening a list is yes or no.
//
// # Weights and the denominator
//
// An activity's effective weight is its policy weight (zero when the policy
// does not list it), except that display-only activities, which are shown to
// the student but never scored, and tap_in while attendance is off weigh
// nothing. The denominator is the sum of the effective weights, so
// a day with every counted activity at its cap scores 100. One exception:
// with attendance off and Renormalize false, tap_in's policy weight stays
// in the denominator, so indicators run lower than usual — what staff are
// told to expect when teaching moves online — instead of silently
// re-weighting everything else; Renormalize true takes it out.
//
// # Indicator
//
// The indicator as of a day D is the mean daily score over the last W
// teaching days ending at D (W is the policy window, or the part-time window
// for part-time students). Weekends, breaks and vacations are skipped, so a
// quiet reading week never pulls an indicator down; a teaching day without
// data counts as zero, because no recorded activity is exactly what the
// indicator is for. Early in the year, with fewer than W teaching days, the
// mean is over those there are. The figure is for the last teaching day of
// its window (its AsOf): on a Saturday, Friday's.
//
// While a day is in progress its data are still arriving, so it counts as
// zero only once it has ended: the indicator today is the higher of the one
// as of the end of yesterday and the one as of today with today's activity
// so far. A morning never lowers an indicator, and work done today raises
// it at once. Alerts follow the same rule (see AlertsToday).
//
// Bands are compared with the unrounded score,
// and a score equal to a threshold is in the upper band; scores are rounded
// to one decimal only for people to read.
//
// # Privacy
//
// Study levels the policy lists in NoIndicatorFor get their counts and
// nothing else: no indicator, no daily score or band (a daily band is an
// indicator by another name) and no alerts. Cohort figures are refused for
// groups smaller than the policy's minimum cohort size.
package engine

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// Counts holds a day's count of each activity, indexed by catalogue
// position (v1alpha1.ActivityIndex).
type Counts [v1alpha1.NumActivities]int32

// Band is an engagement band, the indicator people see.
type Band string

// The bands, from most to least engaged.
const (
	High    Band = "high"
	Good    Band = "good"
	Partial Band = "partial"
	Low     Band = "low"
	VeryLow Band = "very_low"
)

// Student is who is being scored: enough to pick the window and the
// privacy rules.
type Student struct {
	ID       string
	Level    v1alpha1.StudyLevel
	PartTime bool
}

// Contribution is what one activity added to a score.
type Contribution struct {
	Activity v1alpha1.Activity
	// Count is the activity's count: of the day, or summed over the window
	// in an indicator's explanation.
	Count int32
	// Points is the activity's share of the score on the 0..100 scale; the
	// points of a day add up to its unrounded score.
	Points float64
}

// DayResult is one day of a student's activity and its daily score.
type DayResult struct {
	Date calendar.Day
	// Teaching says whether the day counts in indicator windows. Every day
	// has a score, so that the student sees weekend work too.
	Teaching bool
	// Score is rounded to one decimal; Band is taken from the unrounded score.
	// Both are empty for study levels that get no indicator.
	Score         float64
	Band          Band
	Counts        Counts
	Contributions []Contribution
	// InProgress marks today, which has not ended: its score is the day
	// so far.
	InProgress bool
}

// Indicator is a student's engagement indicator as of a day.
type Indicator struct {
	Band Band
	// Score is the mean daily score over the window, rounded to one decimal.
	Score float64
	// AsOf is the day the figure is for: the last teaching day of its
	// window.
	AsOf calendar.Day
	// WindowDays is the number of teaching days averaged: the policy window,
	// or fewer early in the year.
	WindowDays int
	// Explanation gives, per activity, the mean points it added over the
	// window, most first; activities that added nothing are left out.
	Explanation []Contribution
}

// Result is a student's days and indicator.
type Result struct {
	Student string
	// Indicator is nil when none is calculated; Reason then says why, in
	// words fit for the student.
	Indicator *Indicator
	Reason    string
	Days      []DayResult
}

// caps are the saturation caps by catalogue position (see the package
// documentation for why each is what it is).
var caps = capsByPosition(map[v1alpha1.Activity]int32{
	v1alpha1.TapIn:        4,
	v1alpha1.FaserUpload:  1,
	v1alpha1.FaserView:    3,
	v1alpha1.ListenAgain:  2,
	v1alpha1.PCLabLogin:   2,
	v1alpha1.MoodleCourse: 10,
	v1alpha1.MoodleLogin:  3,
	v1alpha1.MoodleMobile: 5,
	v1alpha1.LibraryLoan:  1,
	v1alpha1.ReadingList:  1,
})

// tapIn is the catalogue position of card taps, which the attendance switch
// governs.
var tapIn = position(v1alpha1.TapIn)

func capsByPosition(byKey map[v1alpha1.Activity]int32) [v1alpha1.NumActivities]int32 {
	var c [v1alpha1.NumActivities]int32
	for i, info := range v1alpha1.Catalogue {
		if c[i] = byKey[info.Key]; c[i] < 1 {
			panic(fmt.Sprintf("engine: no saturation cap for activity %q", info.Key))
		}
	}
	return c
}

func position(a v1alpha1.Activity) int {
	i, ok := v1alpha1.ActivityIndex(string(a))
	if !ok {
		panic(fmt.Sprintf("engine: activity %q is not in the catalogue", a))
	}
	return i
}

// Cap is the count of activity a beyond which a day scores nothing more for
// it, or 0 for an activity not in the catalogue.
func Cap(a v1alpha1.Activity) int32 {
	if i, ok := v1alpha1.ActivityIndex(string(a)); ok {
		return caps[i]
	}
	return 0
}

// maxWindow bounds both windows, as the API does; it sizes stack buffers.
const maxWindow = 56

// Engine scores under one policy and its history. It is immutable and
// safe for concurrent use.
type Engine struct {
	// rules are those of the policy in force now; its methods (Band) are
	// the Engine's.
	rules
	// eras are the rules of earlier policies, each in force up to and
	// including its until day, in order: a day is scored under the rules
	// of its day.
	eras []era

	minCohort      int
	noIndicatorFor []v1alpha1.StudyLevel

	// teaching lists every teaching day of the year in ascending order, so
	// that windows are a binary search and a sub-slice rather than a walk
	// through the calendar for each of thousands of students.
	teaching []calendar.Day
}

// rules are what one policy says about scoring: the effective weights and
// their denominator, the band edges, the windows and the alert's length.
type rules struct {
	weights [v1alpha1.NumActivities]float64 // effective weights
	denom   float64

	high, good, partial, low float64

	windowDays, partTimeWindowDays int
	alertDays                      int
}

// era is an earlier policy and the last day it was in force.
type era struct {
	until calendar.Day
	rules *rules
}

// on is the rules of day d: those of the first era that had not ended by
// d, or else the policy in force now.
func (e *Engine) on(d calendar.Day) *rules {
	i, _ := slices.BinarySearchFunc(e.eras, d, func(x era, d calendar.Day) int { return cmpDay(x.until, d) })
	if i < len(e.eras) {
		return e.eras[i].rules
	}
	return &e.rules
}

// New builds the engine of a policy document. It refuses a document outside
// the limits the API enforces (an operator bug, or a hand-written preview)
// rather than guess: a zero window or band threshold is not a default here.
func New(doc policy.Document) (*Engine, error) {
	cal, err := calendar.New(doc.Timezone, doc.Terms, doc.Breaks)
	if err != nil {
		return nil, fmt.Errorf("scoring policy: %w", err)
	}
	current, err := newRules(doc.Attendance, doc.Scoring)
	if err != nil {
		return nil, fmt.Errorf("scoring policy: %w", err)
	}
	e := &Engine{
		rules:          *current,
		minCohort:      int(doc.Privacy.MinCohortSize),
		noIndicatorFor: slices.Clone(doc.Privacy.NoIndicatorFor),
	}
	if e.minCohort < 2 {
		return nil, fmt.Errorf("scoring policy: minCohortSize is %d, want at least 2", e.minCohort)
	}
	for i, h := range doc.PolicyHistory {
		until, err := calendar.ParseDay(string(h.Until))
		if err != nil {
			return nil, fmt.Errorf("scoring policy: policyHistory[%d]: %w", i, err)
		}
		if i > 0 && cmpDay(until, e.eras[i-1].until) <= 0 {
			return nil, fmt.Errorf("scoring policy: policyHistory[%d] ends on %s, not after the one before it", i, until)
		}
		sc := doc.Scoring
		if h.Scoring != nil {
			sc = *h.Scoring
		}
		r, err := newRules(h.Attendance, sc)
		if err != nil {
			return nil, fmt.Errorf("scoring policy: policyHistory[%d] (until %s): %w", i, until, err)
		}
		e.eras = append(e.eras, era{until, r})
	}

	last := cal.LastDay()
	for d := cal.FirstDay(); cmpDay(d, last) <= 0; d = d.AddDays(1) {
		if cal.IsTeachingDay(d) {
			e.teaching = append(e.teaching, d)
		}
	}
	return e, nil
}

// newRules are the rules of an attendance switch and a scoring policy.
func newRules(att v1alpha1.Attendance, s v1alpha1.Scoring) (*rules, error) {
	e := &rules{
		high: float64(s.Bands.High), good: float64(s.Bands.Good),
		partial: float64(s.Bands.Partial), low: float64(s.Bands.Low),
		windowDays:         int(s.WindowDays),
		partTimeWindowDays: int(s.PartTimeWindowDays),
		alertDays:          int(s.NoEngagementAlertDays),
	}
	for _, f := range []struct {
		name string
		days int
	}{{"windowDays", e.windowDays}, {"partTimeWindowDays", e.partTimeWindowDays}, {"noEngagementAlertDays", e.alertDays}} {
		if f.days < 1 || f.days > maxWindow {
			return nil, fmt.Errorf("%s is %d, want 1..%d", f.name, f.days, maxWindow)
		}
	}
	if b := s.Bands; b.High > 100 || b.High <= b.Good || b.Good <= b.Partial || b.Partial <= b.Low || b.Low < 0 {
		return nil, fmt.Errorf("bands %+v are not strictly descending within 0..100", b)
	}

	var policyWeights [v1alpha1.NumActivities]float64
	for _, key := range slices.Sorted(maps.Keys(s.Weights)) {
		i, ok := v1alpha1.ActivityIndex(key)
		if !ok {
			return nil, fmt.Errorf("weight for unknown activity %q", key)
		}
		if s.Weights[key] < 0 {
			return nil, fmt.Errorf("weight of %s is negative", key)
		}
		policyWeights[i] = float64(s.Weights[key])
	}
	e.weights = policyWeights
	for _, a := range s.DisplayOnly {
		i, ok := v1alpha1.ActivityIndex(string(a))
		if !ok {
			return nil, fmt.Errorf("display-only activity %q is unknown", a)
		}
		e.weights[i] = 0
	}
	attendanceOff := !att.IsEnabled()
	if attendanceOff {
		e.weights[tapIn] = 0
	}
	for _, w := range e.weights {
		e.denom += w
	}
	if attendanceOff && !att.Renormalize && !slices.Contains(s.DisplayOnly, v1alpha1.TapIn) {
		e.denom += policyWeights[tapIn]
	}
	return e, nil
}

// DailyScore is the score of one day's counts under the policy in force
// now, 0..100, with what each counted activity added to it, in catalogue
// order.
func (e *Engine) DailyScore(c Counts) (score float64, contributions []Contribution) {
	return e.dailyScore(c)
}

// DailyScoreOn is the score of day d's counts under the policy in force on d.
func (e *Engine) DailyScoreOn(d calendar.Day, c Counts) (score float64, contributions []Contribution) {
	return e.on(d).dailyScore(c)
}

func (e *rules) dailyScore(c Counts) (score float64, contributions []Contribution) {
	var points [v1alpha1.NumActivities]float64
	score = e.score(&c, &points)
	for i, p := range points {
		if p > 0 {
			contributions = append(contributions, Contribution{v1alpha1.Catalogue[i].Key, c[i], p})
		}
	}
	return score, contributions
}

// score is the daily score of c; it adds each activity's points to points
// unless that is nil.
// The score is computed from the weighted sum, not by adding the points,
// so that counts meant to give exactly a band threshold do.
func (e *rules) score(c *Counts, points *[v1alpha1.NumActivities]float64) float64 {
	if e.denom == 0 {
		return 0
	}
	var sum float64
	for i, w := range e.weights {
		if w == 0 || c[i] <= 0 {
			continue
		}
		ws := w * float64(min(c[i], caps[i])) / float64(caps[i])
		sum += ws
		if points != nil {
			points[i] += 100 * ws / e.denom
		}
	}
	return 100 * sum / e.denom
}

// counted reports whether c has any activity that scores.
func (e *rules) counted(c *Counts) bool {
	for i, w := range e.weights {
		if w > 0 && c[i] > 0 {
			return true
		}
	}
	return false
}

// Band is the band of an unrounded score; a score equal to a threshold is
// in the band above it.
func (e *rules) Band(score float64) Band {
	switch {
	case score >= e.high:
		return High
	case score >= e.good:
		return Good
	case score >= e.partial:
		return Partial
	case score >= e.low:
		return Low
	default:
		return VeryLow
	}
}

// Evaluate gives a student's days from..to, both included (a date without
// counts has none), and the indicator: as of to when to has ended, or, when
// to is today or later, by the rule for a day in progress (IndicatorToday).
// today is the civil date now, in the calendar's timezone: the engine reads
// no clock.
func (e *Engine) Evaluate(s Student, counts map[calendar.Day]Counts, from, to, today calendar.Day) Result {
	r := Result{Student: s.ID}
	if cmpDay(to, today) < 0 {
		r.Indicator, r.Reason = e.Indicator(s, counts, to)
	} else {
		r.Indicator, r.Reason = e.IndicatorToday(s, counts, today)
	}
	withheld := e.withheld(s.Level) != ""
	if n := daysBetween(from, to) + 1; n > 0 {
		r.Days = make([]DayResult, 0, n)
	}
	for d := from; cmpDay(d, to) <= 0; d = d.AddDays(1) {
		day := DayResult{Date: d, Teaching: e.isTeaching(d), Counts: counts[d], InProgress: d == today}
		// A daily band is an indicator too, so levels without one get
		// their counts only.
		if !withheld {
			r := e.on(d)
			score, contributions := r.dailyScore(day.Counts)
			day.Score, day.Band, day.Contributions = round1(score), r.Band(score), contributions
		}
		r.Days = append(r.Days, day)
	}
	return r
}

// Indicator is a student's indicator as of the end of asOf: the mean over
// the last W teaching days up to asOf. Its AsOf is the last of those days,
// the day the figure is for (a Saturday's figure is Friday's). When there
// is none, it is nil and reason says why. It is the part of Evaluate a
// nightly recompute needs.
func (e *Engine) Indicator(s Student, counts map[calendar.Day]Counts, asOf calendar.Day) (ind *Indicator, reason string) {
	if reason := e.withheld(s.Level); reason != "" {
		return nil, reason
	}
	ind, _ = e.indicator(s, counts, asOf)
	if ind == nil {
		return nil, "no teaching days yet this year"
	}
	return ind, ""
}

// IndicatorToday is a student's indicator while today is in progress: the
// higher of the indicator as of the end of yesterday and the one as of
// today, today's activity so far included. A day in progress, empty until
// its data arrive, so never lowers an indicator, and activity today shows
// as soon as it is counted. Before the first teaching day of the year has
// ended, there is an indicator only once that day has activity that counts.
func (e *Engine) IndicatorToday(s Student, counts map[calendar.Day]Counts, today calendar.Day) (ind *Indicator, reason string) {
	if reason := e.withheld(s.Level); reason != "" {
		return nil, reason
	}
	ended, endedScore := e.indicator(s, counts, today.AddDays(-1))
	current, currentScore := e.indicator(s, counts, today)
	switch {
	case current == nil:
		return nil, "no teaching days yet this year"
	case ended == nil && currentScore == 0:
		return nil, "the first teaching day of the year has not ended, and nothing has counted yet today"
	case ended != nil && endedScore >= currentScore:
		// On a tie the figure is the ended day's: today has added
		// nothing to it yet.
		return ended, ""
	}
	return current, ""
}

// indicator is the indicator as of the end of asOf and its unrounded
// score; nil before the first teaching day.
func (e *Engine) indicator(s Student, counts map[calendar.Day]Counts, asOf calendar.Day) (*Indicator, float64) {
	// The window is the one of the policy of the day the figure is for;
	// each day in it is scored under the policy of its own day.
	days := e.window(asOf, e.on(asOf).windowFor(s))
	if len(days) == 0 {
		return nil, 0
	}
	var (
		buf    [maxWindow]float64
		scores = buf[:len(days)]
		points [v1alpha1.NumActivities]float64
		totals [v1alpha1.NumActivities]int64
	)
	for k, d := range days {
		c := counts[d]
		scores[k] = e.on(d).score(&c, &points)
		for i := range c {
			totals[i] += int64(max(c[i], 0))
		}
	}
	score := mean(scores)
	asOf = days[len(days)-1]
	ind := &Indicator{Band: e.on(asOf).Band(score), Score: round1(score), AsOf: asOf, WindowDays: len(days)}
	for i, p := range points {
		if p > 0 {
			ind.Explanation = append(ind.Explanation, Contribution{
				Activity: v1alpha1.Catalogue[i].Key,
				Count:    int32(min(totals[i], math.MaxInt32)),
				Points:   p / float64(len(days)),
			})
		}
	}
	// Stable, so equal points keep catalogue order.
	slices.SortStableFunc(ind.Explanation, func(a, b Contribution) int { return cmp.Compare(b.Points, a.Points) })
	return ind, score
}

// mean is the indicator score of a window's daily scores. Alerts use it too,
// so an alert and the indicator never disagree about a band edge.
func mean(scores []float64) float64 {
	var sum float64
	for _, s := range scores {
		sum += s
	}
	return sum / float64(len(scores))
}

// HasIndicator reports whether students of a study level get an indicator
// and daily scores at all.
func (e *Engine) HasIndicator(level v1alpha1.StudyLevel) bool { return e.withheld(level) == "" }

// withheld says, in words for the student, why their level gets no
// indicator; it is empty when it gets one.
func (e *Engine) withheld(level v1alpha1.StudyLevel) string {
	if !slices.Contains(e.noIndicatorFor, level) {
		return ""
	}
	var who string
	switch level {
	case v1alpha1.Undergraduate:
		who = "undergraduate students"
	case v1alpha1.PostgraduateTaught:
		who = "postgraduate taught students"
	case v1alpha1.PostgraduateResearch:
		who = "postgraduate research students"
	default:
		who = fmt.Sprintf("students at study level %q", level)
	}
	return "no engagement indicator is calculated for " + who
}

func (e *rules) windowFor(s Student) int {
	if s.PartTime {
		return e.partTimeWindowDays
	}
	return e.windowDays
}

// teachingUpTo is the number of teaching days on or before d.
func (e *Engine) teachingUpTo(d calendar.Day) int {
	i, found := slices.BinarySearchFunc(e.teaching, d, cmpDay)
	if found {
		i++
	}
	return i
}

// window is the last n teaching days ending at asOf, oldest first; fewer
// early in the year. It shares the Engine's table: callers must not modify it.
func (e *Engine) window(asOf calendar.Day, n int) []calendar.Day {
	k := e.teachingUpTo(asOf)
	return e.teaching[max(0, k-n):k]
}

func (e *Engine) isTeaching(d calendar.Day) bool {
	_, found := slices.BinarySearchFunc(e.teaching, d, cmpDay)
	return found
}

// cmpDay orders days field by field, which is calendar order for the real
// dates the calendar produces and much cheaper than Day.Compare.
func cmpDay(a, b calendar.Day) int {
	return cmp.Or(cmp.Compare(a.Year, b.Year), cmp.Compare(a.Month, b.Month), cmp.Compare(a.Day, b.Day))
}

// daysBetween is the number of days from a to b, negative when b is earlier.
func daysBetween(a, b calendar.Day) int {
	return int(math.Round(b.Start(time.UTC).Sub(a.Start(time.UTC)).Hours() / 24))
}

// round1 rounds to one decimal, halves away from zero.
func round1(x float64) float64 { return math.Round(x*10) / 10 }
