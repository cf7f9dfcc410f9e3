package portal

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/scoring"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// parseTemplates parses the embedded pages with the functions they call.
func parseTemplates() (*template.Template, error) {
	t, err := template.New("").Funcs(template.FuncMap{
		"bandWords": bandWords, "staffBandWords": staffBandWords, "bandName": bandName, "activityTitle": activityTitle, "amendmentWords": amendmentWords, "lower": strings.ToLower,
		"kindName": kindName, "challengeForm": newChallengeForm, "day": shortTime, "shortDay": shortDay,
		"longDay": longDay, "alertKindName": alertKindName, "bandList": bandList, "alertChoices": alertChoices,
	}).ParseFS(assets, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse templates: %w", err)
	}
	return t, nil
}

// Each page's template reads one of the structs below; the layout's
// header reads Session, nil on a page for someone not signed in.

// loginPage is login.html's data.
type loginPage struct {
	Session *Session
	// Error says why the last sign-in failed; Username is what was typed.
	Error, Username string
	// SSO offers the university's sign-in, Local the password form.
	SSO, Local bool
	// SignedOut says the person has just signed out of LEAP;
	// ProviderSignOut offers to sign them out of the provider too.
	SignedOut, ProviderSignOut bool
}

// studentPage is student.html's data: a student's page, for the student
// (Self) or for staff with a legitimate need.
type studentPage struct {
	Session      *Session
	Student      store.Student
	Self         bool
	Engagement   *scoring.Engagement
	Tutor        tutorContact
	Today        string
	AlertHistory []scoring.Episode
	Chart        template.HTML
	// Course is the course's daily means drawn on the chart; Against
	// compares the student with it over the term (nil: no day to compare).
	Course  courseLine
	Against *Against
	// Activities are the activity tabs; Tab is the one shown, with its
	// calendar in Heatmap.
	Activities []Tab
	Tab        Tab
	Heatmap    template.HTML
	// NoIndicator says, in one sentence, why the student has no band.
	NoIndicator  string
	Attendance   v1alpha1.Attendance
	AttendanceOn bool
	PolicyNotice string
	Records      []store.Record
	Challenges   []store.Challenge
	Cohort       CohortView
	// CanWrite shows the forms for notes, objectives and referrals;
	// CanMark the objectives' buttons (the student's: "Mark done" only).
	CanWrite bool
	CanMark  bool
	// Services are the policy's referral services: the form's choices.
	Services []string
	// Saved names the form whose answer this page is.
	Saved string
	// Fresh marks, by id, the records and decisions the student's page had
	// not shown them at their last visit.
	Fresh map[string]bool
}

// tutorContact is a student's personal tutor as the roster has them.
type tutorContact struct{ Name, Email string }

// tutorFrom reads a tutor's contact from their roster hash.
func tutorFrom(staff map[string]string) tutorContact {
	return tutorContact{Name: staff["name"], Email: staff["email"]}
}

// listPage is list.html's data: the students a member of staff may see.
type listPage struct {
	Session   *Session
	Rows      []TuteeRow
	SparkDays int
	// Department lists, for a tutor, the other students of their
	// department, whose pages they may open; DepartmentName names it.
	Department     []store.Student
	DepartmentName string
	// Filter is the search and filters of the list's form; Bands the
	// band choices.
	Filter ListFilter
	Bands  []string
	// Team marks the LEAP team's list: any student, found by a search.
	// Matched is how many the search found, More how many of them are
	// not shown; Notice says why a search listed nobody.
	Team          bool
	Matched, More int
	Notice        string
}

// adminPage is admin.html's data: the LEAP team's page.
type adminPage struct {
	Session *Session
	// Status is the LeapTerm's status as the API server has it; nil when
	// the policy does not come from a cluster.
	Status         map[string]any
	Challenges     []challengeView
	ChallengePager Pager
	OpenChallenges int
	Policy         policy.Document
	Hash           string
	// Where says where policy changes are written; CanWrite whether they
	// can be.
	Where        string
	CanWrite     bool
	Attendance   v1alpha1.Attendance
	AttendanceOn bool
	Fresh        []Freshness
	Audit        []AuditEntry
	Filter       AuditFilter
	Saved        string
}

// errorPage is error.html's data: a problem, in the portal's layout.
type errorPage struct {
	Session *Session
	Problem server.ProblemDetails
}

// challengeForm is the "challenge" template's data: one form per activity
// with a choice of its days, or one day for the indicator.
type challengeForm struct {
	Activity string
	Dates    []string
}

// newChallengeForm is the form for an activity's days, or for the
// indicator's one day.
func newChallengeForm(activity string, dates ...string) challengeForm {
	return challengeForm{Activity: activity, Dates: dates}
}

// renderBytes executes a page into a buffer, so that a template error is
// a clean 500 rather than half a page.
func (p *Portal) renderBytes(name string, data any) ([]byte, error) {
	var buf bytes.Buffer
	if err := p.pages.ExecuteTemplate(&buf, name, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// render answers with a page.
func (p *Portal) render(c echo.Context, status int, name string, data any) error {
	b, err := p.renderBytes(name, data)
	if err != nil {
		return err
	}
	return c.HTMLBlob(status, b)
}

// errorPage shows a problem to a person in a browser, in the portal's
// layout, with its status: a refused page is the same 404 page as a page
// that does not exist.
func (p *Portal) errorPage(c echo.Context, pd server.ProblemDetails) error {
	s, _ := c.Get("session").(*Session)
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return p.render(c, pd.Status, "error.html", errorPage{Session: s, Problem: pd})
}
