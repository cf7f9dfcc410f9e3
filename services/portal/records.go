package portal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// noReferralServices says why no referral can be made, and who can change
// that.
const noReferralServices = "No service takes referrals yet: the LEAP team lists them in the LeapTerm (spec.notifications.referralTargets)."

// Lengths of what people type: enough for a paragraph or two, not a
// document, which belongs in the university's case-management system.
const (
	maxTextRunes   = 2000
	maxReasonRunes = 1000
)

// recordRoutes adds the routes that write on a student's record: staff's
// notes, objectives and referrals, a student's challenges, and the
// student's download of everything held about them.
func (p *Portal) recordRoutes(g *echo.Group) {
	g.POST("/students/:id/notes", p.postRecord(store.KindNote))
	g.POST("/students/:id/objectives", p.postRecord(store.KindObjective))
	g.POST("/students/:id/referrals", p.postRecord(store.KindReferral))
	g.POST("/students/:id/objectives/:rid/state", p.postObjectiveState)
	g.POST("/me/challenges", p.postChallenge)
	g.GET("/me/export.json", p.exportJSON)
	g.GET("/me/export.csv", p.exportCSV)
}

// written is what is held about a student beside their activity, newest
// first as the page lists it.
type written struct {
	Records    []store.Record
	Challenges []store.Challenge
}

func (p *Portal) writtenAbout(ctx context.Context, id string) (written, error) {
	records, err := store.ListRecords(ctx, p.Redis, id)
	if err != nil {
		return written{}, err
	}
	challenges, err := store.ListChallenges(ctx, p.Redis, id)
	if err != nil {
		return written{}, err
	}
	slices.Reverse(records)
	slices.Reverse(challenges)
	return written{Records: records, Challenges: challenges}, nil
}

// staffWrite checks the writer's legitimate need for a staff form,
// refused as allowedStudent refuses. (A forged cross-site post never gets
// here: refuseCrossOrigin turns it away before it can cost anyone an
// audit entry.)
func (p *Portal) staffWrite(c echo.Context, what string) (*Session, store.Student, error) {
	s := sessionOf(c)
	st, err := p.allowedStudent(c.Request().Context(), s, c.Param("id"), what, true)
	return s, st, err
}

// postRecord writes a note, an objective or a referral. The record is
// written before the audit entry: should the audit write fail, the record
// still names its author and time, whereas the other order could audit a
// note that was never written.
func (p *Portal) postRecord(kind string) echo.HandlerFunc {
	return func(c echo.Context) error {
		s, st, err := p.staffWrite(c, "write "+kind)
		if err != nil {
			return err
		}
		ctx := c.Request().Context()
		r, err := p.recordFromForm(c, kind)
		if err != nil {
			return err
		}
		r.Author, r.AuthorName, r.At = s.Person, p.staffName(ctx, s), p.now().UTC()
		if r, err = store.AddRecord(ctx, p.Redis, st.ID, r); err != nil {
			return err
		}
		what := kind + " " + r.ID
		switch kind {
		case store.KindObjective:
			what += " due " + r.Due
		case store.KindReferral:
			what += " to " + r.Service
		}
		if err := p.audit(ctx, s, st.ID, what); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, studentURL(st.ID)+"?saved="+kind+"#records")
	}
}

// recordFromForm reads and checks the fields of one kind of record.
func (p *Portal) recordFromForm(c echo.Context, kind string) (store.Record, error) {
	r := store.Record{Kind: kind, Text: strings.TrimSpace(c.FormValue("text"))}
	if utf8.RuneCountInString(r.Text) > maxTextRunes {
		return r, server.Problemf(http.StatusBadRequest, "The text is too long: at most %d characters.", maxTextRunes)
	}
	if r.Text == "" && kind != store.KindReferral {
		return r, server.Problem(http.StatusBadRequest, "Write what the student should read.")
	}
	switch kind {
	case store.KindObjective:
		due, err := calendar.ParseDay(c.FormValue("due"))
		if err != nil {
			return r, server.Problem(http.StatusBadRequest, "Give the due date as YYYY-MM-DD.")
		}
		r.Due = due.String()
	case store.KindReferral:
		r.Service = c.FormValue("service")
		offered := p.Policy.Current().Doc.ReferralServices()
		if len(offered) == 0 {
			return r, server.Problem(http.StatusBadRequest, noReferralServices)
		}
		if !slices.Contains(offered, r.Service) {
			return r, server.Problemf(http.StatusBadRequest, "Refer to one of: %s.", strings.Join(offered, ", "))
		}
	}
	return r, nil
}

// postObjectiveState marks an objective done, or open again: the one
// change the product allows to anything written. The student marks their
// own objective done; their personal tutor marks it done or open again.
// Anyone else, and an id naming no objective of the student, gets the 404
// of a record that does not exist, audited. Marking it as it already is
// changes nothing and is not audited, so two tabs sending "done" at once
// leave one change.
func (p *Portal) postObjectiveState(c echo.Context) error {
	s := sessionOf(c)
	ctx := c.Request().Context()
	st, err := p.allowedStudent(ctx, s, c.Param("id"), "change objective", false)
	if err != nil {
		return err
	}
	self := s.Role == RoleStudent && s.Person == st.ID
	if !self && !isTutorOf(s, st) {
		return p.refuse(ctx, s, st.ID, "change objective", true)
	}
	rid, state := c.Param("rid"), c.FormValue("state")
	if self && state != store.ObjectiveDone {
		return server.Problem(http.StatusBadRequest, "You can mark an objective done; your tutor can open it again.")
	}
	name, back := st.Name, "/me?saved=objective#records"
	if !self {
		name, back = p.staffName(ctx, s), studentURL(st.ID)+"?saved=objective#records"
	}
	err = store.SetObjectiveState(ctx, p.Redis, st.ID, rid, state, s.Person, name, p.now().UTC())
	switch {
	case errors.Is(err, store.ErrNoSuchRecord):
		return p.refuse(ctx, s, st.ID, "change objective", true)
	case errors.Is(err, store.ErrInvalid):
		return server.Problem(http.StatusBadRequest, "An objective is open or done.")
	case errors.Is(err, store.ErrUnchanged):
		return c.Redirect(http.StatusSeeOther, back)
	case err != nil:
		return err
	}
	if err := p.audit(ctx, s, st.ID, "objective "+rid+" marked "+state); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, back)
}

// isTutorOf: s is st's personal tutor.
func isTutorOf(s *Session, st store.Student) bool {
	return s.Role == RoleTutor && st.Tutor == s.Person
}

// postChallenge records a student's challenge of one of their own data
// points. Only the student may challenge: staff who think a figure wrong
// say so in a note.
func (p *Portal) postChallenge(c echo.Context) error {
	s := sessionOf(c)
	ctx := c.Request().Context()
	if s.Role != RoleStudent {
		if err := p.audit(ctx, s, "", "denied: challenge"); err != nil {
			return err
		}
		return notFound
	}
	if _, err := p.allowedStudent(ctx, s, s.Person, "challenge", false); err != nil {
		return err
	}
	ch, err := p.challengeFromForm(c)
	if err != nil {
		return err
	}
	if err := p.allowChallenge(c, s.Person); err != nil {
		return err
	}
	ch, err = store.AddChallengeCapped(ctx, p.Redis, s.Person, ch, maxOpenChallenges)
	if errors.Is(err, store.ErrTooManyOpen) {
		return server.Problemf(http.StatusConflict,
			"You have %d challenges waiting for the LEAP team; you can add more once they are decided.", maxOpenChallenges)
	}
	if err != nil {
		return err
	}
	// Not a staff write, but the start of a process the LEAP team answers
	// for: the audit log shows when it began.
	if err := p.audit(ctx, s, s.Person, "challenge "+ch.ID+": "+ch.Activity+" on "+ch.Date); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/me?saved=challenge#challenges")
}

// Bounds on a student's challenges: enough open at once for a bad week of
// data, and a rate that no person reaches by hand, so that a script cannot
// fill the LEAP team's queue or the student's page.
const (
	maxOpenChallenges = 20
	challengeRate     = 30
	challengeWindow   = time.Hour
)

// allowChallenge counts a challenge against the student's hourly rate, or
// refuses it with 429 and when to try again.
func (p *Portal) allowChallenge(c echo.Context, id string) error {
	return p.rateLimit(c, store.ChallengeRateKey(id), challengeRate, challengeWindow,
		fmt.Sprintf("You can send %d challenges an hour", challengeRate))
}

// challengeFromForm reads a challenge: a day of the year so far, an
// activity of the catalogue or the indicator, and a reason.
func (p *Portal) challengeFromForm(c echo.Context) (store.Challenge, error) {
	ch := store.Challenge{Activity: c.FormValue("activity"), Reason: strings.TrimSpace(c.FormValue("reason")), At: p.now().UTC()}
	cal := p.Policy.Current().Calendar
	day, err := calendar.ParseDay(c.FormValue("date"))
	if err != nil || day.Before(cal.FirstDay()) || cal.Today(p.now()).Before(day) {
		return ch, server.Problem(http.StatusBadRequest, "Challenge a day of this academic year, up to today.")
	}
	ch.Date = day.String()
	if _, known := v1alpha1.ActivityIndex(ch.Activity); !known && ch.Activity != "indicator" {
		return ch, server.Problem(http.StatusBadRequest, "Challenge an activity or the indicator.")
	}
	if ch.Reason == "" || utf8.RuneCountInString(ch.Reason) > maxReasonRunes {
		return ch, server.Problemf(http.StatusBadRequest, "Say what is wrong, in at most %d characters.", maxReasonRunes)
	}
	return ch, nil
}

// staffName is how a writer is named to the student: their roster name,
// or their username when the roster has none.
func (p *Portal) staffName(ctx context.Context, s *Session) string {
	if name, err := p.Redis.HGet(ctx, store.StaffKey(s.Person), "name").Result(); err == nil && name != "" {
		return name
	}
	return s.User
}

func studentURL(id string) string { return "/students/" + url.PathEscape(id) }

// kindName is a record's kind as people read it.
func kindName(kind string) string {
	switch kind {
	case store.KindObjective:
		return "Objective"
	case store.KindReferral:
		return "Referral"
	}
	return "Note"
}
