package portal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// Kinds of correction the LEAP team's decision form offers: the right
// count, or none of the day's counts of the activity.
const (
	correctCount   = "count"
	correctDiscard = "discard"
)

// parseCorrection reads the correction fields of the decision form: state
// (accepted, corrected or rejected), kind ("", count or discard) and the
// count typed. Only corrected carries a correction, and it must. The
// answer's message says what to fix, in the LEAP team's words.
func parseCorrection(state, kind, count string) (*store.Amendment, error) {
	count = strings.TrimSpace(count)
	switch state {
	case store.ChallengeAccepted, store.ChallengeRejected:
		if kind != "" {
			return nil, server.Problem(http.StatusBadRequest, "A correction goes with “Corrected”: choose Corrected, or leave the correction empty.")
		}
		return nil, nil
	case store.ChallengeCorrected:
	default:
		return nil, server.Problem(http.StatusBadRequest, "Choose accepted, corrected or rejected.")
	}
	switch kind {
	case correctDiscard:
		if count != "" {
			return nil, server.Problem(http.StatusBadRequest, "Either type the right count or discard the day's counts, not both.")
		}
		return &store.Amendment{Discard: true}, nil
	case correctCount:
		n, err := strconv.Atoi(count)
		if err != nil || n < 0 || n > store.MaxAmendedCount || len(count) > 4 {
			return nil, server.Problemf(http.StatusBadRequest, "The right count is a whole number from 0 to %d; %q is not.", store.MaxAmendedCount, count)
		}
		return &store.Amendment{Count: int32(n)}, nil
	}
	return nil, server.Problem(http.StatusBadRequest, "Corrected needs the correction: the right count for the day, or discard the day's counts of the activity.")
}

// attendanceAnswer says why attendance is not corrected in LEAP and where
// the student reports a missed tap: the seed's rule.
func attendanceAnswer(lateDays int32) string {
	return fmt.Sprintf("Attendance cannot be corrected in LEAP: the attendance system is the record of taps. "+
		"Decide the challenge as accepted or rejected and tell the student to report the missed tap to the attendance system; "+
		"its correction reaches LEAP by itself as a late event, within %d days of the session.", lateDays)
}

// checkAmendable refuses a correction of a challenge that has no count to
// correct (the indicator, attendance) or whose day is not one the year
// scores (outside the terms, in a break, not yet over).
func (p *Portal) checkAmendable(ch store.Challenge) error {
	pol := p.Policy.Current()
	switch {
	case ch.Activity == string(v1alpha1.TapIn):
		return server.Problem(http.StatusBadRequest, attendanceAnswer(pol.Doc.Privacy.LateArrivalDaysOr(v1alpha1.DefaultLateArrivalDays)))
	case !v1alpha1.KnownActivity(ch.Activity):
		return server.Problem(http.StatusBadRequest, "The indicator has no count of its own to correct: it follows from the activities' counts. Decide it as accepted or rejected, or correct the activity whose count is wrong when the student challenges it.")
	}
	day, err := calendar.ParseDay(ch.Date)
	if err != nil {
		return server.Problemf(http.StatusBadRequest, "The challenge's date %q is not a date.", ch.Date)
	}
	cal := pol.Calendar
	switch place := cal.PlaceOf(day); {
	case place.Period == v1alpha1.PeriodBreak:
		return server.Problemf(http.StatusBadRequest, "%s is in the break %q: its counts do not count toward engagement, so there is nothing to correct.", day, place.Name)
	case place.Period != v1alpha1.PeriodInTerm:
		return server.Problemf(http.StatusBadRequest, "%s is outside this academic year's terms: its counts do not count toward engagement, so there is nothing to correct.", day)
	case cal.Today(p.now()).Before(day):
		return server.Problemf(http.StatusBadRequest, "%s has not happened yet.", day)
	}
	return nil
}

// decide records a decision and, with a correction, its amendment; it
// answers the form's refusals in the LEAP team's words.
func (p *Portal) decide(ctx context.Context, s *Session, student, id, state, reason string, correction *store.Amendment) (*store.Amendment, error) {
	if correction != nil {
		correction.By, correction.ByName = s.Person, p.staffName(ctx, s)
	}
	a, err := store.Decide(ctx, p.Redis, student, id, store.Decision{State: state, Reason: reason, Correction: correction})
	switch {
	case errors.Is(err, store.ErrAttendanceNotAmendable):
		pol := p.Policy.Current()
		return nil, server.Problem(http.StatusBadRequest, attendanceAnswer(pol.Doc.Privacy.LateArrivalDaysOr(v1alpha1.DefaultLateArrivalDays)))
	case errors.Is(err, store.ErrInvalid):
		return nil, server.Problem(http.StatusBadRequest, "The decision is incomplete: choose accepted, corrected or rejected, and give the student a reason.")
	case errors.Is(err, store.ErrNoSuchChallenge):
		return nil, notFound
	case errors.Is(err, store.ErrChallengeDecided):
		return nil, server.Problem(http.StatusConflict, "Someone decided this challenge first.")
	}
	return a, err
}

// amendmentWords is an amendment as the audit log and the student read it.
func amendmentWords(a *store.Amendment) string {
	title := a.Activity
	if i, ok := v1alpha1.ActivityIndex(a.Activity); ok {
		title = v1alpha1.Catalogue[i].Title
	}
	if a.Discard {
		return fmt.Sprintf("%s on %s discarded: %d counted by the source, 0 used", title, a.Date, a.Original)
	}
	return fmt.Sprintf("%s on %s corrected from %d to %d", title, a.Date, a.Original, a.Count)
}

// challenge is one of a student's challenges, or the 404 of any unknown one.
func (p *Portal) challenge(ctx context.Context, student, id string) (store.Challenge, error) {
	all, err := store.ListChallenges(ctx, p.Redis, student)
	if err != nil {
		return store.Challenge{}, err
	}
	for _, ch := range all {
		if ch.ID == id {
			return ch, nil
		}
	}
	return store.Challenge{}, notFound
}

// challengeView is an open challenge on the LEAP team's page, with what
// the decision form needs to offer a correction.
type challengeView struct {
	store.Challenge
	// Amendable: the challenge is of a count the LEAP team may correct
	// (not attendance, not the indicator); Source is that count as the
	// source sent it.
	Amendable bool
	Source    int32
	// AttendanceAnswer, for a challenge of attendance, says why it is not
	// corrected here and where the student reports it.
	AttendanceAnswer string
}

// challengeViews reads, for a page of open challenges, the source's count
// each challenges: one small read per challenge, a page at a time.
func (p *Portal) challengeViews(ctx context.Context, chs []store.Challenge) ([]challengeView, error) {
	out := make([]challengeView, 0, len(chs))
	for _, ch := range chs {
		v := challengeView{Challenge: ch}
		if ch.Activity == string(v1alpha1.TapIn) {
			v.AttendanceAnswer = attendanceAnswer(p.Policy.Current().Doc.Privacy.LateArrivalDaysOr(v1alpha1.DefaultLateArrivalDays))
		}
		i, known := v1alpha1.ActivityIndex(ch.Activity)
		day, err := calendar.ParseDay(ch.Date)
		if known && v.AttendanceAnswer == "" && err == nil {
			v.Amendable = true
			counts, err := store.SourceCounts(ctx, p.Redis, ch.Student, day, day)
			if err != nil {
				return nil, err
			}
			v.Source = counts[day][i]
		}
		out = append(out, v)
	}
	return out, nil
}
