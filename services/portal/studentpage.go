package portal

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/scoring"
	"github.com/leap-dev/leap/services/store"
)

// pageCaches are the portal's caches of student pages and cohort
// summaries, and its guesses of students' tutors and of sessions.
type pageCaches struct {
	pages    *pageCache
	cohorts  *cohortCache
	tutors   tutorGuesses
	sessions sessionGuesses
}

// newPageCaches makes the caches: pageBytes bounds the pages
// (DefaultPageCacheBytes when zero, none kept when negative), cohortTTL is
// how long a cohort summary is reused (DefaultCohortTTL when not above
// zero).
func newPageCaches(pageBytes int, cohortTTL time.Duration) pageCaches {
	switch {
	case pageBytes == 0:
		pageBytes = DefaultPageCacheBytes
	case pageBytes < 0:
		pageBytes = 0
	}
	if cohortTTL <= 0 {
		cohortTTL = DefaultCohortTTL
	}
	return pageCaches{pages: newPageCache(pageBytes), cohorts: &cohortCache{ttl: cohortTTL}}
}

// tutorGuesses remember each student's tutor as last read, so that the
// tutor's contact can be read in the same round trip as the profile that
// names the tutor. A guess is only a guess: the profile read with it
// decides, and a wrong one costs the second round trip it saves.
type tutorGuesses struct {
	mu sync.Mutex
	by map[string]string // student -> tutor
}

func (g *tutorGuesses) get(student string) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.by[student]
	return t, ok
}

func (g *tutorGuesses) set(student, tutor string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.by == nil || len(g.by) >= 1<<16 {
		g.by = map[string]string{} // only students someone may see are set: a university fits
	}
	g.by[student] = tutor
}

// showStudent serves a student's page: what the student sees, or a member
// of staff with a legitimate need.
//
// Access is decided, and a staff view audited, on every request. The page
// itself comes from the page cache when nothing it shows has changed: its
// key names the viewer (username, person, role: the page differs for the
// student, their tutor, other staff), the student, the student's data
// version (bumped by every counted event), their records version (bumped
// by every note, objective, referral, challenge and decision), their
// roster profile and their tutor's contact as read now, the policy's hash,
// the day in the university's time zone and the cohort summary.
//
// id is the student's, or "" for the signed-in student's own page. The
// session is read in the same round trip as the student's keys, on the
// guess that it is the one this replica last read under its id (see
// finishSession); without a guess it is read first.
func (p *Portal) showStudent(c echo.Context, id string) error {
	sid := p.sessionID(c)
	if sid == "" {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	s, raw, guessed := p.caches.sessions.get(sid)
	if !guessed || id == "" && s.Role != RoleStudent || id != "" && !store.ValidID(id) {
		var err error
		if s, err = p.session(c); err != nil {
			return err
		}
		sid = "" // read: nothing to confirm
	}
	return p.showStudentTo(c, s, sid, raw, id)
}

// showStudentTo serves student id's page ("": their own) to s, a session
// read or, when sid is not "", the guess of session sid, read from raw.
func (p *Portal) showStudentTo(c echo.Context, s *Session, sid, raw, id string) error {
	if s == nil {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	asked := id
	if id == "" {
		if s.Role != RoleStudent {
			return c.Redirect(http.StatusSeeOther, "/students")
		}
		id = s.Person
	}
	if sid == "" {
		c.Set("session", s)
	}
	if !store.ValidID(id) {
		return notFound // names nobody: no Redis, no audit entry
	}
	ctx := c.Request().Context()
	cache := p.caches.pages
	pol := p.Policy.Current()

	// One round trip for the session, what decides access and what keys
	// the page.
	pipe := p.Redis.Pipeline()
	var session sessionRead
	if sid != "" {
		session = p.queueSession(ctx, pipe, sid, s)
	}
	profile := pipe.HGetAll(ctx, store.ProfileKey(id))
	// The student's own page also reads their last visit, for the New
	// marks: in the same MGET, as the keys share the student's slot.
	self := s.Role == RoleStudent && s.Person == id
	versionKeys := append(make([]string, 0, 3), store.VersionKey(id), store.RecordsVersionKey(id))
	if self {
		versionKeys = append(versionKeys, store.LastVisitKey(id))
	}
	versions := pipe.MGet(ctx, versionKeys...)
	var dept *redis.StringCmd
	if s.Role == RoleTutor || s.Role == RoleStaff {
		dept = pipe.HGet(ctx, store.StaffKey(s.Person), "department")
	}
	guess, guessed := p.caches.tutors.get(id)
	var tutorCmd *redis.MapStringStringCmd
	if guess != "" {
		tutorCmd = pipe.HGetAll(ctx, store.StaffKey(guess))
	}
	_, _ = pipe.Exec(ctx) // each command's error is read below
	if sid != "" {
		read, readRaw, err := p.finishSession(ctx, session)
		switch {
		case err != nil:
			return err
		case read == nil || readRaw != raw:
			// Not the session guessed: the page is worked out again for
			// the one read.
			return p.showStudentTo(c, read, "", "", asked)
		}
		c.Set("session", s)
	}
	if err := errors.Join(profile.Err(), versions.Err()); err != nil {
		return fmt.Errorf("read student %s: %w", id, err)
	}
	var staffDept *string
	if dept != nil {
		switch d, err := dept.Result(); {
		case err == nil:
			staffDept = &d
		case !errors.Is(err, redis.Nil):
			return fmt.Errorf("read staff %s: %w", s.Person, err)
		}
	}
	st, ok := store.StudentFromProfile(profile.Val())
	if !ok || !legitimateNeed(s, st, staffDept) {
		return p.refuse(ctx, s, id, "view student", false)
	}

	// A second, when needed, for the tutor's contact (unless it came with
	// the first) and, for staff, the audit entry, which is written before
	// anything of the page is sent.
	pipe = p.Redis.Pipeline()
	if !guessed || guess != st.Tutor {
		p.caches.tutors.set(id, st.Tutor)
		tutorCmd = nil
		if st.Tutor != "" {
			tutorCmd = pipe.HGetAll(ctx, store.StaffKey(st.Tutor))
		}
	}
	var audited auditWrite
	if !self {
		audited = p.auditTo(ctx, pipe, s, id, "view student")
	}
	if pipe.Len() > 0 {
		_, _ = pipe.Exec(ctx)
	}
	if audited != nil && audited.Err() != nil {
		return audited.Err()
	}
	tutor, tutorRead := map[string]string{}, true
	if tutorCmd != nil {
		// A tutor whose contact cannot be read is shown as none; such a
		// page is not kept.
		tutor, tutorRead = tutorCmd.Val(), tutorCmd.Err() == nil
	}

	day := pol.Calendar.Today(p.now()).String()
	cohort, err := p.cohortSummary(ctx, pol, day, st)
	if err != nil {
		return err
	}
	// The activity tab shown is chosen by a query parameter, so that the
	// tabs work without script; a key naming no activity shows the first.
	tabKey := c.QueryParam("activity")
	if tabKey != allActivities && !slices.ContainsFunc(v1alpha1.Catalogue, func(a v1alpha1.ActivityInfo) bool { return string(a.Key) == tabKey }) {
		tabKey = allActivities
	}
	// Nothing was written about the student since their last visit (the
	// records version is the one it showed): no mark, no visit to record,
	// and the page may come from the cache. Otherwise the page is rendered
	// with its marks, recorded as the visit, and not kept. A first visit
	// marks nothing: all of it is new.
	recordsVersion, _ := versions.Val()[1].(string)
	var lastVisit string
	if self {
		lastVisit, _ = versions.Val()[2].(string)
	}
	seen := !self || store.VisitShowed(lastVisit, recordsVersion)
	var k pageKey
	k.add(s.User, s.Person, s.Role, id, pol.Hash, day, cohort.print, tabKey)
	// The data and records versions; the visit is no part of what a kept
	// page shows (a page with marks is not kept).
	for _, v := range versions.Val()[:2] {
		str, _ := v.(string)
		k.add(str)
	}
	addMap(&k, profile.Val())
	addMap(&k, tutor)
	key := k.String()

	// The "saved" notice is for one answer to one form: such a page is
	// rendered for the request and not kept.
	saved := c.QueryParam("saved")
	if saved == "" && seen {
		if page, ok := cache.get(key); ok {
			return serveStudentPage(c, page)
		}
	}

	eng, err := p.engagement(ctx, id)
	if err != nil {
		return err
	}
	written, err := p.writtenAbout(ctx, id)
	if err != nil {
		return err
	}
	// Staff see the year's alerts, so that a student who keeps dropping
	// out shows it; the student's own page does not list them.
	var history []scoring.Episode
	if !self {
		if history, err = p.alertHistory(ctx, id); err != nil {
			return err
		}
	}
	course := newCourseLine(cohort.days)
	var fresh map[string]bool
	if !seen {
		visit := visitOf(recordsVersion, written, p.now())
		if last, visited := store.ParseVisit(lastVisit); visited {
			fresh = newSince(last, written)
		}
		if err := store.RecordVisit(ctx, p.Redis, id, visit); err != nil {
			// The marks come back on the next visit: nothing is lost but
			// their clearing.
			p.log.WarnContext(ctx, "visit not recorded", slog.String("student", id), slog.String("error", err.Error()))
		}
	}
	tabs := activityTabs(eng, pol)
	tab := selectTab(tabs, tabKey)
	page, err := p.renderBytes("student.html", studentPage{
		Session: s, Student: st, Self: self, Engagement: eng, Tutor: tutorFrom(tutor), Today: day, AlertHistory: history,
		Chart:        trendChart(eng, pol, course),
		Course:       course,
		Against:      againstCourse(eng, course, pol),
		Activities:   tabs,
		Tab:          tab,
		Heatmap:      activityHeatmap(eng, pol, tab.Key, tab.Title),
		NoIndicator:  noIndicatorWords(st, self, eng.Reason),
		Attendance:   pol.Doc.Attendance,
		PolicyNotice: attendanceNotice(pol.Doc),
		AttendanceOn: pol.Doc.Attendance.IsEnabled(),
		Records:      written.Records, Challenges: written.Challenges, Cohort: cohortView(cohort.sum, st, eng),
		CanWrite: mayWrite(s, st), CanMark: self || isTutorOf(s, st), Services: pol.Doc.ReferralServices(), Saved: saved, Fresh: fresh,
	})
	if err != nil {
		return err
	}
	// Scoring may not yet have loaded the policy the portal keyed the page
	// on: such an answer is shown but not kept under the new policy's key.
	if saved == "" && seen && tutorRead && eng.PolicyHash == pol.Hash {
		cache.put(key, page)
	}
	return serveStudentPage(c, page)
}

// addMap adds a Redis hash to a key, in field order.
func addMap(k *pageKey, m map[string]string) {
	fields := make([]string, 0, len(m))
	for f := range m {
		fields = append(fields, f)
	}
	slices.Sort(fields)
	k.add(strconv.Itoa(len(fields)))
	for _, f := range fields {
		k.add(f, m[f])
	}
}

// serveStudentPage sends a student's page. It holds personal data: no
// shared cache may keep it (private), and neither may the browser
// (no-store), so that it is not left on a shared computer after sign-out,
// nor shown again by the back button. For that reason it has no ETag
// either: a response that is never stored is never revalidated.
func serveStudentPage(c echo.Context, page []byte) error {
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, "private, no-store")
	// With its length told, net/http sends the page as it is rather than
	// in chunks.
	h.Set(echo.HeaderContentLength, strconv.Itoa(len(page)))
	return c.HTMLBlob(http.StatusOK, page)
}

// noIndicatorWords says in one sentence why a student has no band: for a
// research student in the university's own words (LEAP's student guide),
// otherwise scoring's reason as a sentence. Empty when scoring gave none.
func noIndicatorWords(st store.Student, self bool, reason string) string {
	if st.Level == string(v1alpha1.PostgraduateResearch) {
		if self {
			return "LEAP does not show an engagement indicator for postgraduate research students, as the way you engage with your studies is different from taught students. Your activity is shown below."
		}
		return "LEAP does not show an engagement indicator for postgraduate research students, as the way they engage with their studies is different from taught students. Their activity is shown below."
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return ""
	}
	r, n := utf8.DecodeRuneInString(reason)
	reason = string(unicode.ToUpper(r)) + reason[n:]
	if !strings.HasSuffix(reason, ".") {
		reason += "."
	}
	return reason
}

// staffBandWords says what a band means to staff reading a student's
// page: the student's words are written to the student ("your tutor may
// get in touch"), which misleads the tutor reading them.
func staffBandWords(band string) string {
	switch band {
	case "high":
		return "The student is using the university's resources consistently."
	case "good":
		return "The student is using the university's resources regularly."
	case "partial":
		return "The student is using some of what is on offer, but less often than students with higher engagement."
	case "low":
		return "The student is using the university's resources now and then; a word may help if something is getting in the way."
	case "very_low":
		return "The student has used very little recently, perhaps nothing for several days: a good moment to get in touch and check that all is well."
	}
	return ""
}

// visitOf is what a student's page shows of what is written about them,
// to be kept as their last visit.
func visitOf(recordsVersion string, w written, at time.Time) store.Visit {
	v := store.Visit{RecordsVersion: recordsVersion, Records: len(w.Records), At: at.UTC()}
	for _, ch := range w.Challenges {
		if ch.State != store.ChallengeOpen {
			v.Decided = append(v.Decided, ch.ID)
		}
	}
	return v
}

// newSince is the ids of the records and decided challenges a student's
// last visit did not show: records past the ones it counted (the list
// only grows; w has it newest first) and decisions it did not list.
func newSince(last store.Visit, w written) map[string]bool {
	fresh := map[string]bool{}
	for j, r := range w.Records {
		if len(w.Records)-1-j >= last.Records {
			fresh[r.ID] = true
		}
	}
	for _, ch := range w.Challenges {
		if ch.State != store.ChallengeOpen && !slices.Contains(last.Decided, ch.ID) {
			fresh[ch.ID] = true
		}
	}
	return fresh
}
