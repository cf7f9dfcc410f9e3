package engine

import (
	"cmp"
	"maps"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// The property tests draw policies and counts from a fixed seed, so a
// failure is reproducible; each runs a few thousand cases, drawing a new
// policy for every few.
const (
	policies         = 400
	casesPerPolicy   = 8
	propertyFrom     = "2026-10-01"
	propertyTo       = "2026-12-14"
	propertyStudents = 3
)

// randomPolicy varies everything scoring reads, within what the API accepts
// — except that display-only activities may keep a weight, which the API
// refuses, so that the engine is seen to ignore it anyway.
func randomPolicy(r *rand.Rand) policy.Document {
	doc := basePolicy()
	doc.Scoring.Weights = map[string]int32{}
	for _, info := range v1alpha1.Catalogue {
		if r.IntN(10) < 7 {
			doc.Scoring.Weights[string(info.Key)] = r.Int32N(6)
		}
	}
	doc.Scoring.Weights[string(v1alpha1.Catalogue[r.IntN(v1alpha1.NumActivities)].Key)] = 1 + r.Int32N(5)
	doc.Scoring.DisplayOnly = nil
	for _, info := range v1alpha1.Catalogue {
		if r.IntN(5) == 0 {
			doc.Scoring.DisplayOnly = append(doc.Scoring.DisplayOnly, info.Key)
		}
	}
	enabled := r.IntN(2) == 0
	doc.Attendance = v1alpha1.Attendance{Enabled: &enabled, Renormalize: r.IntN(2) == 0}
	doc.Scoring.WindowDays = 1 + r.Int32N(maxWindow)
	doc.Scoring.PartTimeWindowDays = 1 + r.Int32N(maxWindow)
	doc.Scoring.NoEngagementAlertDays = 1 + r.Int32N(maxWindow)
	edges := r.Perm(101)[:4]
	slices.Sort(edges)
	doc.Scoring.Bands = v1alpha1.Bands{High: int32(edges[3]), Good: int32(edges[2]), Partial: int32(edges[1]), Low: int32(edges[0])}
	return doc
}

// randomCounts is a day of activity: often none of an activity, sometimes
// far past its cap.
func randomCounts(r *rand.Rand) Counts {
	var c Counts
	for i := range c {
		switch r.IntN(6) {
		case 0, 1, 2:
		case 3:
			c[i] = 1000 + r.Int32N(1000)
		default:
			c[i] = r.Int32N(2*caps[i] + 2)
		}
	}
	return c
}

func randomHistory(t testing.TB, r *rand.Rand) map[calendar.Day]Counts {
	m := map[calendar.Day]Counts{}
	for d := day(t, propertyFrom); cmpDay(d, day(t, propertyTo)) <= 0; d = d.AddDays(1) {
		if r.IntN(4) != 0 {
			m[d] = randomCounts(r)
		}
	}
	return m
}

// randomDay is a day of the property range, teaching or not.
func randomDay(t testing.TB, r *rand.Rand) calendar.Day {
	return day(t, propertyFrom).AddDays(r.IntN(daysBetween(day(t, propertyFrom), day(t, propertyTo)) + 1))
}

func randomStudent(r *rand.Rand) Student {
	return Student{ID: "s", Level: v1alpha1.Undergraduate, PartTime: r.IntN(propertyStudents) == 0}
}

// uncounted lists the activities the policy never scores, worked out from
// the document independently of the engine.
func uncounted(doc policy.Document) []int {
	var out []int
	for i, info := range v1alpha1.Catalogue {
		if doc.Scoring.Weights[string(info.Key)] == 0 || slices.Contains(doc.Scoring.DisplayOnly, info.Key) ||
			(info.Key == v1alpha1.TapIn && !doc.Attendance.IsEnabled()) {
			out = append(out, i)
		}
	}
	return out
}

// forEachCase runs check on random policies and engines.
func forEachCase(t *testing.T, seed uint64, check func(r *rand.Rand, doc policy.Document, e *Engine)) {
	r := rand.New(rand.NewPCG(seed, 1))
	for range policies {
		doc := randomPolicy(r)
		e := engine(t, doc)
		for range casesPerPolicy {
			check(r, doc, e)
			if t.Failed() {
				t.Fatalf("policy: %+v", doc.Scoring)
			}
		}
	}
}

func TestPropertyScoresInRange(t *testing.T) {
	forEachCase(t, 1, func(r *rand.Rand, doc policy.Document, e *Engine) {
		c := randomCounts(r)
		s, contributions := e.DailyScore(c)
		var sum float64
		for _, ct := range contributions {
			if ct.Points <= 0 || ct.Count <= 0 || slices.Contains(uncounted(doc), position(ct.Activity)) {
				t.Errorf("contribution %+v", ct)
			}
			sum += ct.Points
		}
		if s < 0 || s > 100 || math.Abs(sum-s) > 1e-9 {
			t.Errorf("score %v of %v, points adding up to %v", s, c, sum)
		}
		ind, _ := e.Indicator(randomStudent(r), randomHistory(t, r), randomDay(t, r))
		if ind != nil && (ind.Score < 0 || ind.Score > 100) {
			t.Errorf("indicator %+v", ind)
		}
	})
}

// rank orders bands, very low first.
func rank(b Band) int { return slices.Index([]Band{VeryLow, Low, Partial, Good, High}, b) }

func TestPropertyMoreActivityNeverLowers(t *testing.T) {
	forEachCase(t, 2, func(r *rand.Rand, _ policy.Document, e *Engine) {
		c, more := randomCounts(r), Counts{}
		for i := range more {
			more[i] = c[i] + r.Int32N(3)*r.Int32N(caps[i]+1)
		}
		before, _ := e.DailyScore(c)
		after, _ := e.DailyScore(more)
		if after < before {
			t.Errorf("daily: %v scores %v, %v scores %v", c, before, more, after)
		}

		s, asOf := randomStudent(r), randomDay(t, r)
		m := randomHistory(t, r)
		moreHistory := maps.Clone(m)
		for range 1 + r.IntN(10) {
			d := randomDay(t, r)
			extra := moreHistory[d]
			extra[r.IntN(v1alpha1.NumActivities)] += 1 + r.Int32N(5)
			moreHistory[d] = extra
		}
		was, _ := e.Indicator(s, m, asOf)
		is, _ := e.Indicator(s, moreHistory, asOf)
		if (was == nil) != (is == nil) || was != nil && (is.Score < was.Score || rank(is.Band) < rank(was.Band)) {
			t.Errorf("indicator as of %v: %+v became %+v", asOf, was, is)
		}
	})
}

func TestPropertyUncountedActivityChangesNothing(t *testing.T) {
	forEachCase(t, 3, func(r *rand.Rand, doc policy.Document, e *Engine) {
		none := uncounted(doc)
		if len(none) == 0 {
			return
		}
		add := func(c Counts) Counts {
			for _, i := range none {
				if r.IntN(2) == 0 {
					c[i] += 1 + r.Int32N(50)
				}
			}
			return c
		}
		c := randomCounts(r)
		s1, c1 := e.DailyScore(c)
		s2, c2 := e.DailyScore(add(c))
		if s1 != s2 || !reflect.DeepEqual(c1, c2) {
			t.Errorf("daily: %v %v became %v %v", s1, c1, s2, c2)
		}

		s, asOf := randomStudent(r), randomDay(t, r)
		m := randomHistory(t, r)
		padded := map[calendar.Day]Counts{}
		for d := day(t, propertyFrom); cmpDay(d, day(t, propertyTo)) <= 0; d = d.AddDays(1) {
			padded[d] = add(m[d])
		}
		was, _ := e.Indicator(s, m, asOf)
		is, _ := e.Indicator(s, padded, asOf)
		if !reflect.DeepEqual(was, is) {
			t.Errorf("indicator: %+v became %+v", was, is)
		}
		if a, b := e.Alerts(s, m, asOf), e.Alerts(s, padded, asOf); !reflect.DeepEqual(a, b) {
			t.Errorf("alerts: %+v became %+v", a, b)
		}
	})
}

func TestPropertyEvaluateIsDeterministic(t *testing.T) {
	forEachCase(t, 4, func(r *rand.Rand, doc policy.Document, e *Engine) {
		s, asOf := randomStudent(r), randomDay(t, r)
		m := randomHistory(t, r)
		// The same counts, inserted in another order, under another engine
		// of the same policy.
		again := map[calendar.Day]Counts{}
		keys := slices.Collect(maps.Keys(m))
		r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		for _, d := range keys {
			again[d] = m[d]
		}
		from, to := day(t, propertyFrom), day(t, propertyTo)
		a := e.Evaluate(s, m, from, to, asOf)
		b := engine(t, doc).Evaluate(s, again, from, to, asOf)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("two evaluations differ:\n%+v\n%+v", a, b)
		}
		if x, y := e.Alerts(s, m, asOf), e.Alerts(s, again, asOf); !reflect.DeepEqual(x, y) {
			t.Errorf("two alert runs differ: %+v %+v", x, y)
		}
	})
}

func TestPropertyPolicyChangesScores(t *testing.T) {
	forEachCase(t, 5, func(r *rand.Rand, doc policy.Document, e *Engine) {
		c := randomCounts(r)
		score, _ := e.DailyScore(c)
		i := r.IntN(v1alpha1.NumActivities)
		key := string(v1alpha1.Catalogue[i].Key)
		if slices.Contains(doc.Scoring.DisplayOnly, v1alpha1.Catalogue[i].Key) || (i == tapIn && !doc.Attendance.IsEnabled()) {
			return
		}
		heavier := doc
		heavier.Scoring.Weights = maps.Clone(doc.Scoring.Weights)
		heavier.Scoring.Weights[key]++
		changed, _ := engine(t, heavier).DailyScore(c)
		// Weighting up an activity done to its cap raises any score short
		// of 100; weighting up one not done lowers any score above 0.
		switch {
		case c[i] >= caps[i] && score < 100 && !(changed > score):
			t.Errorf("%s at its cap weighted up: %v stayed or fell to %v", key, score, changed)
		case c[i] == 0 && score > 0 && !(changed < score):
			t.Errorf("%s not done weighted up: %v stayed or rose to %v", key, score, changed)
		}

		// Attendance off: renormalizing gives the rest of the day the room
		// tap_in left, so a positive score rises.
		if w := doc.Scoring.Weights["tap_in"]; !doc.Attendance.IsEnabled() && w > 0 && !slices.Contains(doc.Scoring.DisplayOnly, v1alpha1.TapIn) {
			other := doc
			other.Attendance.Renormalize = !doc.Attendance.Renormalize
			flipped, _ := engine(t, other).DailyScore(c)
			lower, higher := score, flipped
			if doc.Attendance.Renormalize {
				lower, higher = flipped, score
			}
			if lower > 0 && !(higher > lower) {
				t.Errorf("renormalizing: %v to %v", lower, higher)
			}
		}
	})
}

// For any counts, the day in progress never lowers the indicator below the
// one as of the end of yesterday, and more activity today never lowers it.
func TestPropertyDayInProgressNeverLowers(t *testing.T) {
	forEachCase(t, 6, func(r *rand.Rand, _ policy.Document, e *Engine) {
		s, today := randomStudent(r), randomDay(t, r)
		m := randomHistory(t, r)
		if r.IntN(2) == 0 {
			delete(m, today) // the morning: nothing yet
		}
		yesterday, _ := e.Indicator(s, m, today.AddDays(-1))
		now, _ := e.IndicatorToday(s, m, today)
		if yesterday != nil && (now == nil || now.Score < yesterday.Score || rank(now.Band) < rank(yesterday.Band)) {
			t.Errorf("%v in progress: %+v, below yesterday's %+v", today, now, yesterday)
		}
		if now != nil && cmpDay(now.AsOf, today) > 0 {
			t.Errorf("%v in progress: a figure for a later day %+v", today, now)
		}
		more := maps.Clone(m)
		c := more[today]
		c[r.IntN(v1alpha1.NumActivities)] += 1 + r.Int32N(5)
		more[today] = c
		after, _ := e.IndicatorToday(s, more, today)
		if now != nil && (after == nil || after.Score < now.Score) {
			t.Errorf("%v: activity today lowered %+v to %+v", today, now, after)
		}
		// Alerts: the day in progress raises none and lengthens none.
		before := e.Alerts(s, m, today.AddDays(-1))
		for _, a := range e.AlertsToday(s, m, today) {
			if !slices.Contains(before, a) {
				t.Errorf("%v in progress raised %+v (yesterday: %+v)", today, a, before)
			}
		}
	})
}

// The open episodes of a student's alert history are the alerts shown now,
// and every closed one says when and by what it ended.
func TestPropertyHistoryAgreesWithAlerts(t *testing.T) {
	forEachCase(t, 7, func(r *rand.Rand, _ policy.Document, e *Engine) {
		s, today := randomStudent(r), randomDay(t, r)
		m := randomHistory(t, r)
		// Long silences, so that alerts are common.
		for d := randomDay(t, r); cmpDay(d, day(t, propertyTo)) <= 0 && r.IntN(30) != 0; d = d.AddDays(1) {
			delete(m, d)
		}
		var open []Alert
		for _, ep := range e.AlertHistory(s, m, today) {
			if ep.Open() {
				open = append(open, newAlert(ep.Kind, ep.Since, ep.Days))
				continue
			}
			if ep.EndedBy == "" || cmpDay(ep.Ended, ep.Raised) <= 0 || cmpDay(ep.Ended, today) > 0 {
				t.Errorf("closed episode %+v", ep)
			}
		}
		slices.SortStableFunc(open, func(a, b Alert) int { return cmp.Compare(kindRank(a.Kind), kindRank(b.Kind)) })
		if now := e.AlertsToday(s, m, today); !reflect.DeepEqual(open, now) {
			t.Errorf("%v: open episodes %+v, alerts %+v", today, open, now)
		}
	})
}

// Scoring a day never depends on a policy change made after it: a change
// from day X (the old policy kept in the history until X-1) leaves every
// daily score, indicator and alert of the days before X as they were;
// unless the change is retroactive (no history), which re-scores them.
func TestPropertyLaterPolicyChangesLeaveThePast(t *testing.T) {
	forEachCase(t, 8, func(r *rand.Rand, doc policy.Document, e *Engine) {
		s := randomStudent(r)
		m := randomHistory(t, r)
		changeDay := randomDay(t, r)
		later := randomPolicy(r)
		changed := doc
		changed.Attendance, changed.Scoring = later.Attendance, later.Scoring
		old := doc.Scoring
		changed.PolicyHistory = []v1alpha1.PolicyEra{{Until: v1alpha1.Date(changeDay.AddDays(-1).String()), Attendance: doc.Attendance, Scoring: &old}}
		ce := engine(t, changed)
		for d := day(t, propertyFrom); d.Before(changeDay); d = d.AddDays(1) {
			a, _ := e.DailyScore(m[d])
			b, _ := ce.DailyScoreOn(d, m[d])
			if a != b {
				t.Fatalf("%v, before a change on %v: score %v became %v", d, changeDay, a, b)
			}
		}
		asOf := changeDay.AddDays(-1 - r.IntN(20))
		was, _ := e.Indicator(s, m, asOf)
		is, _ := ce.Indicator(s, m, asOf)
		if !reflect.DeepEqual(was, is) {
			t.Errorf("indicator as of %v, before a change on %v: %+v became %+v", asOf, changeDay, was, is)
		}
		if a, b := e.Alerts(s, m, asOf), ce.Alerts(s, m, asOf); !reflect.DeepEqual(a, b) {
			t.Errorf("alerts as of %v, before a change on %v: %+v became %+v", asOf, changeDay, a, b)
		}
		// Retroactive: the same change without history scores the past
		// as the new policy does.
		retro := changed
		retro.PolicyHistory = nil
		re, now := engine(t, retro), engine(t, later)
		d := randomDay(t, r)
		if a, _ := re.DailyScoreOn(d, m[d]); a != func() float64 { b, _ := now.DailyScore(m[d]); return b }() {
			t.Errorf("a retroactive change does not score %v as the new policy does", d)
		}
	})
}
