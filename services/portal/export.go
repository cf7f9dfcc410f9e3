package portal

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// Export is everything LEAP holds about a student, as "download my data"
// gives it. Scores are left out: they are computed from the counts, on
// demand, and held only in a short-lived cache; the counts are the data:
// Days as scoring uses them, and Amendments the LEAP team's corrections
// beside the sources' original counts.
type Export struct {
	Generated  time.Time         `json:"generated"`
	Profile    store.Student     `json:"profile"`
	Days       []ExportDay       `json:"days"`
	Amendments []ExportAmendment `json:"amendments"`
	Records    []store.Record    `json:"records"`
	Challenges []store.Challenge `json:"challenges"`
	Audit      []ExportAudit     `json:"audit"`
}

// ExportDay is one day's counts, by activity; days with nothing are left out.
type ExportDay struct {
	Date   string           `json:"date"`
	Counts map[string]int32 `json:"counts"`
}

// ExportAmendment is a correction of one day's count by the LEAP team
// (an upheld challenge): the source's count as it stands (Original) and
// the one scoring uses (Corrected), which Days shows.
type ExportAmendment struct {
	Date      string    `json:"date"`
	Activity  string    `json:"activity"`
	Original  int32     `json:"original"`
	Corrected int32     `json:"corrected"`
	Discarded bool      `json:"discarded,omitempty"`
	Challenge string    `json:"challenge"`
	At        time.Time `json:"at"`
}

// ExportAudit is one audit entry about the student: who did what, when.
type ExportAudit struct {
	ID   string `json:"id"`
	At   string `json:"at"`
	Who  string `json:"who"`
	Role string `json:"role"`
	What string `json:"what"`
}

func (p *Portal) exportJSON(c echo.Context) error {
	x, err := p.exportOf(c, "json")
	if err != nil {
		return err
	}
	attach(c, "leap-data-"+x.Profile.ID+".json")
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	c.Response().WriteHeader(http.StatusOK)
	enc := json.NewEncoder(c.Response())
	enc.SetIndent("", "  ")
	return enc.Encode(x)
}

func (p *Portal) exportCSV(c echo.Context) error {
	x, err := p.exportOf(c, "csv")
	if err != nil {
		return err
	}
	attach(c, "leap-data-"+x.Profile.ID+".csv")
	c.Response().Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	for _, row := range x.rows() {
		if err := w.Write(row); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}

// attach makes the answer a download that no cache keeps.
func attach(c echo.Context, filename string) {
	h := c.Response().Header()
	h.Set(echo.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
	h.Set("Cache-Control", "no-store")
}

// exportOf gathers a student's own data. Only a student downloads, and
// only their own: staff asking are refused like any record they may not
// see. A download is audited, so a stolen session that took everything
// shows in the log.
func (p *Portal) exportOf(c echo.Context, format string) (*Export, error) {
	ctx := c.Request().Context()
	s := sessionOf(c)
	if s.Role != RoleStudent {
		if err := p.audit(ctx, s, "", "denied: download data"); err != nil {
			return nil, err
		}
		return nil, notFound
	}
	st, err := p.allowedStudent(ctx, s, s.Person, "download data", false)
	if err != nil {
		return nil, err
	}
	if err := p.allowExport(c, st.ID); err != nil {
		return nil, err
	}
	if err := p.audit(ctx, s, st.ID, "download my data ("+format+")"); err != nil {
		return nil, err
	}
	x := &Export{Generated: p.now().UTC(), Profile: st}
	if x.Days, err = p.yearOfCounts(ctx, st.ID); err != nil {
		return nil, err
	}
	if x.Amendments, err = p.amendmentsOf(ctx, st.ID); err != nil {
		return nil, err
	}
	if x.Records, err = store.ListRecords(ctx, p.Redis, st.ID); err != nil {
		return nil, err
	}
	if x.Challenges, err = store.ListChallenges(ctx, p.Redis, st.ID); err != nil {
		return nil, err
	}
	if x.Audit, err = p.auditAbout(ctx, st.ID); err != nil {
		return nil, err
	}
	return x, nil
}

// A download reads everything held about a student: a few an hour is
// plenty for a person, and bounds what a stolen session or a script can
// make the portal do.
const (
	exportLimit  = 10
	exportWindow = time.Hour
)

// allowExport counts a download against the student's allowance, or
// refuses it with 429 and when the allowance comes back.
func (p *Portal) allowExport(c echo.Context, id string) error {
	return p.rateLimit(c, store.ExportsKey(id), exportLimit, exportWindow,
		fmt.Sprintf("You can download your data %d times an hour", exportLimit))
}

// rateLimit takes one of limit uses of key in a window that starts at the
// first, or answers 429 with Retry-After: when the window ends.
func (p *Portal) rateLimit(c echo.Context, key string, limit int, window time.Duration, what string) error {
	ctx := c.Request().Context()
	ok, err := takeAttempt.Run(ctx, p.Redis, []string{key}, limit, window.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("rate limit %s: %w", key, err)
	}
	if ok == 1 {
		return nil
	}
	wait := p.Redis.PTTL(ctx, key).Val()
	if wait <= 0 {
		wait = window
	}
	c.Response().Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
	return server.Problemf(http.StatusTooManyRequests, "%s; try again in %d minutes.", what, int(wait.Minutes())+1)
}

// yearOfCounts reads the student's counts from the first day of the
// academic year to today, oldest first.
func (p *Portal) yearOfCounts(ctx context.Context, id string) ([]ExportDay, error) {
	cal := p.Policy.Current().Calendar
	from, to := cal.FirstDay(), cal.Today(p.now())
	days := []ExportDay{}
	if to.Before(from) {
		return days, nil
	}
	counts, err := store.StudentCounts(ctx, p.Redis, id, from, to)
	if err != nil {
		return nil, err
	}
	for d, cs := range counts {
		day := ExportDay{Date: d.String(), Counts: map[string]int32{}}
		for i, n := range cs {
			if n > 0 {
				day.Counts[string(v1alpha1.Catalogue[i].Key)] = n
			}
		}
		if len(day.Counts) > 0 {
			days = append(days, day)
		}
	}
	slices.SortFunc(days, func(a, b ExportDay) int { return strings.Compare(a.Date, b.Date) })
	return days, nil
}

// amendmentsOf reads a student's amendments, each beside the source's
// count of that day as it stands.
func (p *Portal) amendmentsOf(ctx context.Context, id string) ([]ExportAmendment, error) {
	all, err := store.Amendments(ctx, p.Redis, id)
	if err != nil {
		return nil, err
	}
	out := make([]ExportAmendment, 0, len(all))
	for _, a := range all {
		x := ExportAmendment{Date: a.Date, Activity: a.Activity, Original: a.Original, Corrected: a.Count, Discarded: a.Discard, Challenge: a.Challenge, At: a.At}
		day, derr := calendar.ParseDay(a.Date)
		i, known := v1alpha1.ActivityIndex(a.Activity)
		if derr == nil && known {
			source, err := store.SourceCounts(ctx, p.Redis, id, day, day)
			if err != nil {
				return nil, err
			}
			x.Original = source[day][i]
		}
		out = append(out, x)
	}
	return out, nil
}

// auditAbout reads the student's audit index, oldest first: their entries
// alone, however long the whole log.
func (p *Portal) auditAbout(ctx context.Context, id string) ([]ExportAudit, error) {
	msgs, err := p.Redis.XRange(ctx, store.AuditKey(id), "-", "+").Result()
	if err != nil {
		return nil, fmt.Errorf("read audit entries about %s: %w", id, err)
	}
	out := make([]ExportAudit, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, ExportAudit{ID: m.ID, At: field(m, "at"), Who: field(m, "who"), Role: field(m, "role"), What: field(m, "what")})
	}
	return out, nil
}

func field(m redis.XMessage, name string) string {
	v, _ := m.Values[name].(string)
	return v
}

// rows flattens the export into CSV rows of section, key, field and value:
// one shape for every kind of data, which a spreadsheet can filter.
func (x *Export) rows() [][]string {
	rows := [][]string{{"section", "key", "field", "value"}}
	add := func(section, key, field, value string) {
		if value != "" {
			rows = append(rows, []string{section, key, field, safeCell(value)})
		}
	}
	pr := x.Profile
	for _, f := range [][2]string{{"id", pr.ID}, {"name", pr.Name}, {"email", pr.Email}, {"department", pr.Department},
		{"course", pr.Course}, {"year", strconv.Itoa(pr.Year)}, {"level", pr.Level}, {"mode", pr.Mode},
		{"exchange", strconv.FormatBool(pr.Exchange)}, {"tutor", pr.Tutor}} {
		add("profile", "", f[0], f[1])
	}
	for _, d := range x.Days {
		for _, a := range v1alpha1.Catalogue {
			if n, ok := d.Counts[string(a.Key)]; ok {
				add("activity", d.Date, string(a.Key), strconv.Itoa(int(n)))
			}
		}
	}
	for _, a := range x.Amendments {
		for _, f := range [][2]string{{"original", strconv.Itoa(int(a.Original))}, {"corrected", strconv.Itoa(int(a.Corrected))},
			{"discarded", strconv.FormatBool(a.Discarded)}, {"challenge", a.Challenge}, {"at", stamp(a.At)}} {
			add("amendment", a.Date+"/"+a.Activity, f[0], f[1])
		}
	}
	for _, r := range x.Records {
		for _, f := range [][2]string{{"kind", r.Kind}, {"at", stamp(r.At)}, {"author", r.Author}, {"authorName", r.AuthorName},
			{"text", r.Text}, {"due", r.Due}, {"state", r.State}, {"service", r.Service}, {"stateBy", r.StateBy}, {"stateAt", stamp(r.StateAt)}} {
			add("record", r.ID, f[0], f[1])
		}
	}
	for _, ch := range x.Challenges {
		for _, f := range [][2]string{{"date", ch.Date}, {"activity", ch.Activity}, {"reason", ch.Reason}, {"at", stamp(ch.At)},
			{"state", ch.State}, {"decisionReason", ch.DecisionReason}, {"decidedAt", stamp(ch.DecidedAt)}} {
			add("challenge", ch.ID, f[0], f[1])
		}
	}
	for _, a := range x.Audit {
		for _, f := range [][2]string{{"at", a.At}, {"who", a.Who}, {"role", a.Role}, {"what", a.What}} {
			add("audit", a.ID, f[0], f[1])
		}
	}
	return rows
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// safeCell keeps free text from being run as a formula when the file is
// opened in a spreadsheet (CSV injection): a leading quote makes it text.
func safeCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
