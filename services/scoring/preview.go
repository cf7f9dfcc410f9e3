package scoring

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/draft"
	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/scoring/engine"
	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// Previewer answers what a draft policy would do, computed with the engine
// over the stored counts of every student, beside what the policy in force
// does. It only reads: no count, cache entry or policy changes.
//
// Only the portal reaches scoring (the operator's NetworkPolicy); the
// portal decides who may preview (the LEAP team) and audits each preview
// that lists students.
type Previewer struct {
	Redis  redis.UniversalClient
	Policy *policy.Source
	Now    func() time.Time
	// ChunkSize is how many students are read from Redis at a time (500
	// when zero): it bounds the memory of a preview, whatever the size of
	// the university.
	ChunkSize int
}

// readAhead is how many chunks are read from Redis at once (see compare).
const readAhead = 2

// DefaultChangedLimit is how many changed students an answer lists unless
// asked for another number; changedTotal says how many there are.
const DefaultChangedLimit = 1000

// Register adds POST /v1/policy/preview.
func (p *Previewer) Register(e *echo.Echo) {
	e.POST("/v1/policy/preview", p.postPreview)
}

// Preview is the answer of POST /v1/policy/preview.
type Preview struct {
	// PolicyHash is the hash of the policy in force (before) and of the
	// draft's (after).
	PolicyHash struct {
		Before string `json:"before"`
		After  string `json:"after"`
	} `json:"policyHash"`
	// Today is the day the figures are for, and the day a change that is
	// not for the whole year takes effect.
	Today     string `json:"today"`
	WholeYear bool   `json:"wholeYear"`
	Students  int    `json:"students"`
	Moves     struct {
		Up        int `json:"up"`
		Down      int `json:"down"`
		Unchanged int `json:"unchanged"`
		// Gained and Lost: students with an indicator only after, or
		// only before, the change.
		Gained int `json:"gained"`
		Lost   int `json:"lost"`
		// ByBands counts students by bands moved: "+1", "-2".
		ByBands map[string]int `json:"byBands"`
	} `json:"moves"`
	// University is nil when the university is smaller than the minimum
	// cohort size.
	University  *Distribution `json:"university"`
	Departments Groups        `json:"departments"`
	Cohorts     Groups        `json:"cohorts"`
	Alerts      struct {
		Started map[engine.AlertKind]int `json:"started"`
		Ended   map[engine.AlertKind]int `json:"ended"`
	} `json:"alerts"`
	// Changed lists students whose band changes, most bands moved first;
	// at most the limit asked, of ChangedTotal.
	Changed      []Changed `json:"changed"`
	ChangedTotal int       `json:"changedTotal"`
	// Patch is the JSON merge patch of the LeapTerm's spec that applying
	// the draft sends; Policy is the policy document it gives.
	Patch  map[string]any  `json:"patch"`
	Policy policy.Document `json:"policy"`
}

// Distribution counts a group's students in each band.
type Distribution struct {
	Before     map[engine.Band]int `json:"before"`
	After      map[engine.Band]int `json:"after"`
	SizeBefore int                 `json:"sizeBefore"`
	SizeAfter  int                 `json:"sizeAfter"`
}

// Groups is one division of the students. Groups under the minimum
// cohort size are never shown alone: merged counts them, rest is their
// sum when that reaches the minimum (else null).
type Groups struct {
	Groups []Group       `json:"groups"`
	Rest   *Distribution `json:"rest"`
	Merged int           `json:"merged"`
}

// Group is one group: a department, or a course and year.
type Group struct {
	Department string `json:"department,omitempty"`
	Course     string `json:"course,omitempty"`
	Year       int    `json:"year,omitempty"`
	Distribution
}

// Changed is a student whose band changes.
type Changed struct {
	Student    string      `json:"student"`
	Name       string      `json:"name"`
	Department string      `json:"department"`
	Course     string      `json:"course"`
	Year       int         `json:"year"`
	Before     engine.Band `json:"before,omitempty"`
	After      engine.Band `json:"after,omitempty"`
	// ScoreBefore and ScoreAfter are absent when there is no indicator.
	ScoreBefore *float64 `json:"scoreBefore,omitempty"`
	ScoreAfter  *float64 `json:"scoreAfter,omitempty"`
	Moved       int      `json:"moved"`
}

// FieldError is a refusal of a draft's field, at its LeapTerm path
// (spec.scoring.bands), so that a form can show it beside the field.
type FieldError struct {
	Field  string `json:"field"`
	Type   string `json:"type"`
	Detail string `json:"detail"`
}

// invalidDraftJSON is the problem document of a refused draft: RFC 9457
// with an errors member.
type invalidDraftJSON struct {
	server.ProblemDetails
	Errors []FieldError `json:"errors"`
}

func (p *Previewer) postPreview(c echo.Context) error {
	limit := DefaultChangedLimit
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return server.Problem(http.StatusBadRequest, "bad limit: limit must be a whole number, 0 or more")
		}
		limit = n
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, draft.MaxSize+1))
	if err != nil {
		return server.Problemf(http.StatusBadRequest, "unreadable draft: %v", err)
	}
	d, errs := draft.Parse(body)
	if len(errs) > 0 {
		return invalidDraft(c, errs)
	}
	out, errs, err := p.Preview(c.Request().Context(), d, limit)
	if len(errs) > 0 {
		return invalidDraft(c, errs)
	}
	if err != nil {
		if store.Unavailable(err) {
			return unavailable(err)
		}
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func invalidDraft(c echo.Context, errs field.ErrorList) error {
	p := invalidDraftJSON{
		ProblemDetails: server.ProblemDetails{Type: "about:blank", Title: http.StatusText(http.StatusUnprocessableEntity), Status: http.StatusUnprocessableEntity,
			Detail: "invalid policy: " + errs.ToAggregate().Error(), Instance: c.Request().URL.Path},
	}
	for _, e := range errs {
		p.Errors = append(p.Errors, FieldError{Field: e.Field, Type: string(e.Type), Detail: detailOf(e)})
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusUnprocessableEntity, server.ProblemContentType, b)
}

// detailOf is what a person reads beside the field: the rule's message,
// or field's own wording of the refusal.
func detailOf(e *field.Error) string {
	if e.Detail != "" {
		return e.Detail
	}
	return strings.TrimPrefix(e.ErrorBody(), string(e.Type)+": ")
}

// Preview computes what a draft would do today. errs are the draft's
// refusals; err is a failure to compute (Redis).
func (p *Previewer) Preview(ctx context.Context, d *draft.Draft, limit int) (*Preview, field.ErrorList, error) {
	pol := p.Policy.Current()
	today := pol.Calendar.Today(p.now())
	spec, err := draft.SpecOf(pol.Doc)
	if err != nil {
		return nil, nil, err
	}
	res, errs, err := d.Apply(ctx, pol.Doc.LeapTerm, spec, today)
	if err != nil || len(errs) > 0 {
		return nil, errs, err
	}
	before, err := engine.New(pol.Doc)
	if err != nil {
		return nil, nil, fmt.Errorf("the policy in force: %w", err)
	}
	after, err := engine.New(res.Document)
	if err != nil {
		// The CRD's rules passed; the engine's own limits are the same,
		// so this is a rule the CRD lacks.
		return nil, field.ErrorList{field.Invalid(field.NewPath("spec"), "", err.Error())}, nil
	}
	afterHash, err := res.Document.Hash()
	if err != nil {
		return nil, nil, err
	}
	out := &Preview{Today: today.String(), WholeYear: d.WholeYear, Patch: res.Patch, Policy: res.Document}
	out.PolicyHash.Before, out.PolicyHash.After = pol.Hash, afterHash

	tally, changed, err := p.compare(ctx, before, after, pol.Calendar.FirstDay(), today)
	if err != nil {
		return nil, nil, err
	}
	fill(out, tally, changed, limit)
	return out, nil, nil
}

// PreviewDocument is Preview for a policy document already worked out
// (benchmarks and tests): the figures alone.
func (p *Previewer) PreviewDocument(ctx context.Context, after policy.Document) (*Preview, error) {
	pol := p.Policy.Current()
	today := pol.Calendar.Today(p.now())
	before, err := engine.New(pol.Doc)
	if err != nil {
		return nil, err
	}
	ae, err := engine.New(after)
	if err != nil {
		return nil, err
	}
	tally, changed, err := p.compare(ctx, before, ae, pol.Calendar.FirstDay(), today)
	if err != nil {
		return nil, err
	}
	out := &Preview{Today: today.String()}
	fill(out, tally, changed, DefaultChangedLimit)
	return out, nil
}

func (p *Previewer) now() time.Time {
	if p.Now == nil {
		return time.Now()
	}
	return p.Now()
}

// changedStudent is a student whose band changes, with what the answer
// shows of them.
type changedStudent struct {
	st store.Student
	c  engine.Comparison
}

// compare reads every student, chunk by chunk, and compares them under
// both engines. Reading the next chunk overlaps scoring this one; each
// chunk is scored by as many goroutines as there are cores.
func (p *Previewer) compare(ctx context.Context, before, after *engine.Engine, first, today calendar.Day) (*engine.Tally, []changedStudent, error) {
	ids, err := p.Redis.SMembers(ctx, store.StudentsKey).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("list students: %w", err)
	}
	slices.Sort(ids)
	from := first
	if today.Before(from) {
		from = today
	}
	chunk := p.ChunkSize
	if chunk <= 0 {
		chunk = 500
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reads := ReadChunks(ctx, p.Redis, ids, chunk, from, today)

	tally := engine.NewTally(before.MinCohortSize())
	var changed []changedStudent
	workers := runtime.GOMAXPROCS(0)
	comparisons := make([]engine.Comparison, chunk)
	for r := range reads {
		if r.Err != nil {
			return nil, nil, r.Err
		}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := w; i < len(r.Records); i += workers {
					rec := &r.Records[i]
					if !rec.Found {
						continue
					}
					s := engine.Student{ID: rec.Student.ID, Level: v1alpha1.StudyLevel(rec.Student.Level), PartTime: rec.Student.Mode == "PT"}
					comparisons[i] = engine.Compare(before, after, s, rec.Counts, today)
				}
			})
		}
		wg.Wait()
		for i := range r.Records {
			rec := &r.Records[i]
			if !rec.Found {
				continue // in the index, not in the roster
			}
			c := comparisons[i]
			tally.Add(rec.Student.Department, cohortKey(rec.Student.Course, rec.Student.Year), c)
			if bandOf(c.Before) != bandOf(c.After) {
				changed = append(changed, changedStudent{rec.Student, c})
			}
		}
	}
	return tally, changed, ctx.Err()
}

// Chunk is one chunk of students read by ReadChunks, or the error that
// ended the reading.
type Chunk struct {
	Records []store.StudentRecord
	Err     error
}

// ReadChunks reads the students ids, chunk at a time, with their counts
// from..to. readAhead goroutines read chunks at once, each into a channel
// of its own, and the chunks are yielded in order: Redis runs one chunk's
// scripts while this process decodes another's reply and the caller works
// on a third. At most readAhead+1 chunks are held at once, whatever the
// number of students. Iteration ends after the last chunk, after an error
// (its last value), or when ctx ends (ctx.Err() as the last value); the
// readers end with it.
func ReadChunks(ctx context.Context, rdb redis.UniversalClient, ids []string, chunk int, from, to calendar.Day) iter.Seq[Chunk] {
	return func(yield func(Chunk) bool) {
		ctx, cancel := context.WithCancel(ctx)
		chunks := (len(ids) + chunk - 1) / chunk
		slots := make([]chan Chunk, chunks)
		for i := range slots {
			slots[i] = make(chan Chunk, 1)
		}
		next := make(chan int, chunks)
		for i := range chunks {
			next <- i
		}
		close(next)
		// A reader claims the next chunk only with a token, given back
		// when the caller takes a chunk: that bounds the chunks read and
		// not yet used. Tokens before chunks, so chunks are claimed in
		// order and the one the caller waits for is always claimed or
		// claimable.
		tokens := make(chan struct{}, readAhead)
		for range readAhead {
			tokens <- struct{}{}
		}
		var readers sync.WaitGroup
		for range readAhead {
			readers.Go(func() {
				for {
					select {
					case <-tokens:
					case <-ctx.Done():
						return
					}
					i, ok := <-next
					if !ok {
						return
					}
					recs, err := store.ReadStudents(ctx, rdb, ids[i*chunk:min((i+1)*chunk, len(ids))], from, to)
					slots[i] <- Chunk{recs, err}
				}
			})
		}
		defer func() {
			cancel()
			readers.Wait()
		}()
		for i := range chunks {
			var r Chunk
			select {
			case r = <-slots[i]:
			case <-ctx.Done():
				yield(Chunk{Err: ctx.Err()})
				return
			}
			tokens <- struct{}{}
			if !yield(r) || r.Err != nil {
				return
			}
		}
	}
}

func bandOf(ind *engine.Indicator) engine.Band {
	if ind == nil {
		return ""
	}
	return ind.Band
}

func cohortKey(course string, year int) string { return course + "\x00" + strconv.Itoa(year) }

func fill(out *Preview, t *engine.Tally, changed []changedStudent, limit int) {
	out.Students = t.Students
	out.Moves.ByBands = map[string]int{}
	for moved, n := range t.Moves {
		switch {
		case moved > 0:
			out.Moves.Up += n
			out.Moves.ByBands[fmt.Sprintf("%+d", moved)] = n
		case moved < 0:
			out.Moves.Down += n
			out.Moves.ByBands[fmt.Sprintf("%+d", moved)] = n
		default:
			out.Moves.Unchanged = n
		}
	}
	out.Moves.Gained, out.Moves.Lost = t.Gained, t.Lost
	if t.UniversityShown() {
		out.University = distributionJSON(t.University)
	}
	out.Departments = groupsJSON(t.Departments(), func(name string, g *Group) { g.Department = name })
	out.Cohorts = groupsJSON(t.Cohorts(), func(name string, g *Group) {
		course, year, _ := strings.Cut(name, "\x00")
		g.Course = course
		g.Year, _ = strconv.Atoi(year)
	})
	out.Alerts.Started, out.Alerts.Ended = t.Started, t.Ended

	slices.SortFunc(changed, func(a, b changedStudent) int {
		return cmp.Or(cmp.Compare(abs(b.c.Moved()), abs(a.c.Moved())), cmp.Compare(a.st.ID, b.st.ID))
	})
	out.ChangedTotal = len(changed)
	out.Changed = make([]Changed, 0, min(limit, len(changed)))
	for _, ch := range changed[:min(limit, len(changed))] {
		j := Changed{Student: ch.st.ID, Name: ch.st.Name, Department: ch.st.Department, Course: ch.st.Course, Year: ch.st.Year,
			Before: bandOf(ch.c.Before), After: bandOf(ch.c.After), Moved: ch.c.Moved()}
		if ch.c.Before != nil {
			j.ScoreBefore = &ch.c.Before.Score
		}
		if ch.c.After != nil {
			j.ScoreAfter = &ch.c.After.Score
		}
		out.Changed = append(out.Changed, j)
	}
}

func abs(n int) int { return max(n, -n) }

func distributionJSON(d *engine.Distribution) *Distribution {
	return &Distribution{Before: d.Before, After: d.After, SizeBefore: d.SizeBefore, SizeAfter: d.SizeAfter}
}

func groupsJSON(g engine.Groups, name func(string, *Group)) Groups {
	out := Groups{Groups: make([]Group, 0, len(g.Shown)), Merged: g.Merged}
	for _, s := range g.Shown {
		j := Group{Distribution: *distributionJSON(s.Distribution)}
		name(s.Name, &j)
		out.Groups = append(out.Groups, j)
	}
	if g.Rest != nil {
		out.Rest = distributionJSON(g.Rest)
	}
	return out
}
