package portal

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/services/scoring"
	"github.com/leap-dev/leap/services/store"
)

// pageCaches are the portal's caches of student pages and cohort
// summaries, made on first use from the Portal's settings.
type pageCaches struct {
	once    sync.Once
	pages   *pageCache
	cohorts *cohortCache
	tutors  tutorGuesses
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

func (p *Portal) viewCaches() *pageCaches {
	p.caches.once.Do(func() {
		size := p.PageCacheBytes
		switch {
		case size == 0:
			size = DefaultPageCacheBytes
		case size < 0:
			size = 0
		}
		ttl := p.CohortTTL
		if ttl <= 0 {
			ttl = DefaultCohortTTL
		}
		p.caches.pages = newPageCache(size)
		p.caches.cohorts = &cohortCache{ttl: ttl}
	})
	return &p.caches
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
// the day in the university's time zone and the cohort summary. The
// viewer's CSRF token is put into the page as it is served, never cached.
func (p *Portal) showStudent(c echo.Context, s *Session, id string) error {
	if !store.ValidID(id) {
		return notFound // names nobody: no Redis, no audit entry
	}
	ctx := c.Request().Context()
	cache := p.viewCaches().pages
	pol := p.Policy.Current()

	// One round trip for what decides access and keys the page.
	pipe := p.Redis.Pipeline()
	profile := pipe.HGetAll(ctx, store.ProfileKey(id))
	versions := pipe.MGet(ctx, store.VersionKey(id), store.RecordsVersionKey(id))
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
	self := s.Role == RoleStudent && s.Person == id
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
		// As before: a tutor whose contact cannot be read is shown as none;
		// such a page is not kept.
		tutor, tutorRead = tutorCmd.Val(), tutorCmd.Err() == nil
	}

	day := pol.Calendar.Today(p.now()).String()
	cohort, err := p.cohortSummary(ctx, pol, day, st)
	if err != nil {
		return err
	}
	var k pageKey
	k.add(s.User, s.Person, s.Role, id, pol.Hash, day, cohort.print)
	for _, v := range versions.Val() {
		str, _ := v.(string)
		k.add(str)
	}
	addMap(&k, profile.Val())
	addMap(&k, tutor)
	key := k.String()

	// The "saved" notice is for one answer to one form: such a page is
	// rendered for the request and not kept.
	saved := c.QueryParam("saved")
	if saved == "" {
		if page, ok := cache.get(key); ok {
			return cache.serve(c, page, s.CSRF)
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
	var history []scoring.EpisodeJSON
	if !self {
		if history, err = p.alertHistory(ctx, id); err != nil {
			return err
		}
	}
	view := *s
	view.CSRF = cache.placeholder
	rendered, err := p.renderBytes("student.html", map[string]any{
		"Session": &view, "Student": st, "Self": self, "Engagement": eng, "Tutor": tutor, "Today": day, "AlertHistory": history,
		"Chart":        trendChart(eng, pol),
		"Activities":   activityTabs(eng, pol),
		"Attendance":   pol.Doc.Attendance,
		"PolicyNotice": attendanceNotice(pol.Doc),
		"AttendanceOn": pol.Doc.Attendance.IsEnabled(),
		"Records":      written.Records, "Challenges": written.Challenges, "Cohort": cohortView(cohort.sum, st, eng),
		"CanWrite": mayWrite(s, st), "Services": p.ReferralServices, "Saved": saved,
	})
	if err != nil {
		return err
	}
	page := cache.cut(rendered)
	// Scoring may not yet have loaded the policy the portal keyed the page
	// on: such an answer is shown but not kept under the new policy's key.
	if saved == "" && tutorRead && eng.PolicyHash == pol.Hash {
		cache.put(key, page)
	}
	return cache.serve(c, page, s.CSRF)
}

// renderBytes executes a page into a buffer, so that a template error is
// a clean 500 rather than half a page.
func (p *Portal) renderBytes(name string, data map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	if err := p.pages.ExecuteTemplate(&buf, name, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return buf.Bytes(), nil
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

// serve sends a page with the viewer's CSRF token in place. The page
// holds personal data: no shared cache may keep it (private), and neither
// may the browser (no-store), so that it is not left on a shared computer
// after sign-out, nor shown again by the back button. For that reason it
// has no ETag either: a response that is never stored is never revalidated.
func (pc *pageCache) serve(c echo.Context, page *cachedPage, csrf string) error {
	token := template.HTMLEscapeString(csrf)
	// One write of the whole page: written part by part, it would leave
	// net/http's 4 KB buffer in a system call each time it fills.
	buf, _ := pc.buffers.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	defer pc.buffers.Put(buf)
	b := (*buf)[:0]
	for i, part := range page.parts {
		if i > 0 {
			b = append(b, token...)
		}
		b = append(b, part...)
	}
	*buf = b
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, "private, no-store")
	// With its length told, net/http sends the page as it is rather than
	// in chunks.
	h.Set(echo.HeaderContentLength, strconv.Itoa(len(b)))
	return c.HTMLBlob(http.StatusOK, b)
}
