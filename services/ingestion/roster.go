package ingestion

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// RosterAnswer is the result of a roster upload.
type RosterAnswer struct {
	Accepted int        `json:"accepted"`
	Rejected []Rejected `json:"rejected"`
	// Superseded are rows for a person (a student, for tutor rows) whom a
	// later row of the same upload names again: the last row wins.
	Superseded []Superseded `json:"superseded"`
}

// Superseded is a row that a later row replaced.
type Superseded struct {
	Index int    `json:"index"`
	ID    string `json:"id"`
	By    int    `json:"by"`
}

// readRosterCSV reads a roster in CSV with a header row, each row a map
// from the lower-cased header. A line longer than maxLine makes the body
// unreadable: memory per row stays bounded, as in the events' readers,
// while a roster stays all or nothing when it cannot be read.
func readRosterCSV(body io.Reader) ([]map[string]string, error) {
	cr := csv.NewReader(&boundedLines{r: body})
	all, err := cr.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%w: CSV: %w", errUnreadable, err)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("%w: no CSV header row", errUnreadable)
	}
	var rows []map[string]string
	for _, rec := range all[1:] {
		row := map[string]string{}
		for j, h := range all[0] {
			if j < len(rec) {
				row[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = strings.TrimSpace(rec[j])
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// readRows reads a roster body, a JSON array of objects or CSV with a
// header row, as string fields keyed by lower-case column name.
func readRows(c echo.Context, body io.Reader) ([]map[string]string, error) {
	switch mediaType(c) {
	case "application/json":
		var raw []map[string]any
		dec := json.NewDecoder(body)
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%w: want a JSON array of objects: %w", errUnreadable, err)
		}
		rows := make([]map[string]string, len(raw))
		for i, r := range raw {
			rows[i] = map[string]string{}
			for k, v := range r {
				switch v := v.(type) {
				case string:
					rows[i][strings.ToLower(k)] = v
				case nil:
				default:
					b, _ := json.Marshal(v)
					rows[i][strings.ToLower(k)] = string(b)
				}
			}
		}
		return rows, nil
	case "text/csv":
		return readRosterCSV(body)
	}
	return nil, server.Problem(http.StatusUnsupportedMediaType, "send application/json (an array) or text/csv with a header row")
}

// ParseStudent checks one roster row of a student.
func ParseStudent(row map[string]string) (store.Student, error) {
	s := store.Student{ID: row["id"], Name: row["name"], Email: row["email"], Department: row["department"], Course: row["course"]}
	if err := checkID("id", s.ID); err != nil {
		return s, err
	}
	if s.Name == "" || s.Department == "" || s.Course == "" {
		return s, errors.New("name, department and course are required")
	}
	year, err := strconv.Atoi(row["year"])
	if err != nil || year < 1 || year > 10 {
		return s, fmt.Errorf("year %q: want a whole number from 1 to 10", row["year"])
	}
	s.Year = year
	switch s.Level = strings.ToLower(row["level"]); s.Level {
	case "ug", "pgt", "pgr":
	default:
		return s, fmt.Errorf("level %q: want UG, PGT or PGR", row["level"])
	}
	switch s.Mode = strings.ToUpper(row["mode"]); s.Mode {
	case "FT", "PT":
	default:
		return s, fmt.Errorf("mode %q: want FT or PT", row["mode"])
	}
	if v := row["exchange"]; v != "" {
		if s.Exchange, err = strconv.ParseBool(v); err != nil {
			return s, fmt.Errorf("exchange %q: want true or false", v)
		}
	}
	return s, nil
}

// ParseStaff checks one roster row of a member of staff.
func ParseStaff(row map[string]string) (store.Staff, error) {
	s := store.Staff{ID: row["id"], Name: row["name"], Email: row["email"], Department: row["department"], Role: strings.ToLower(row["role"])}
	if err := checkID("id", s.ID); err != nil {
		return s, err
	}
	if s.Name == "" || s.Department == "" {
		return s, errors.New("name and department are required")
	}
	switch s.Role {
	case "":
		s.Role = "staff"
	case "tutor", "staff", "leap-team":
	default:
		return s, fmt.Errorf("role %q: want tutor, staff or leap-team", row["role"])
	}
	return s, nil
}

func checkID(field, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%s is empty", field)
	case len(id) > maxStudentLen:
		return fmt.Errorf("%s is longer than %d characters", field, maxStudentLen)
	case !studentID.MatchString(id):
		return fmt.Errorf("%s may hold only letters, digits and . _ @ -", field)
	}
	return nil
}

// DefaultRosterWait is how long an upload waits for another to be stored,
// unless Service.RosterWait says otherwise.
const DefaultRosterWait = 10 * time.Second

// roster reads, checks and stores a roster upload. Uploads are stored one
// at a time, whichever replica receives them (store.WithRosterLease): what
// a row may do depends on what the roster holds, read before writing.
//
// Rows naming the same person (field keyField: the student of a tutor
// row) are resolved last-wins, before any check: the earlier rows are
// answered as superseded, and if the last one is refused nothing of that
// person is stored, rather than an older row of theirs.
func roster[T any](s *Service, c echo.Context, keyField string, parse func(map[string]string) (T, error), put func(context.Context, []T, []int, *RosterAnswer) error) error {
	body, err := s.body(c)
	if err != nil {
		return err
	}
	rows, err := readRows(c, body)
	if err != nil {
		return readError(err, s.MaxBodyBytes)
	}
	answer := RosterAnswer{Rejected: []Rejected{}, Superseded: []Superseded{}}
	last := map[string]int{}
	for i, row := range rows {
		if k := row[keyField]; k != "" {
			last[k] = i
		}
	}
	var good []T
	var index []int
	for i, row := range rows {
		if j, ok := last[row[keyField]]; ok && j != i {
			answer.Superseded = append(answer.Superseded, Superseded{Index: i, ID: row[keyField], By: j})
			continue
		}
		v, err := parse(row)
		if err != nil {
			answer.Rejected = append(answer.Rejected, Rejected{Index: i, ID: row["id"], Error: err.Error()})
			continue
		}
		good = append(good, v)
		index = append(index, i)
	}
	wait := s.RosterWait
	if wait <= 0 {
		wait = DefaultRosterWait
	}
	err = store.WithRosterLease(c.Request().Context(), s.Redis, s.Log, wait, func(ctx context.Context) error {
		return put(ctx, good, index, &answer)
	})
	if errors.Is(err, store.ErrRosterBusy) {
		c.Response().Header().Set("Retry-After", "5")
		return server.Problem(http.StatusServiceUnavailable, "roster busy: another roster upload is being stored; send this one again in a few seconds (nothing of it was stored)")
	}
	if err != nil {
		return readError(err, s.MaxBodyBytes)
	}
	slices.SortFunc(answer.Rejected, func(a, b Rejected) int { return cmp.Compare(a.Index, b.Index) })
	return c.JSON(http.StatusOK, answer)
}

// mailRow is a roster row that gives an email address, for emailConflicts.
type mailRow struct {
	id    string
	email string // lower-cased
	// holder is the person of the row's own kind (student or staff) who
	// holds the address now; other the person of the other kind.
	holder, other string
}

// emailConflicts decides which rows may take their addresses: an address
// names one person, student or staff, since xAPI statements and single
// sign-on may find people by it. A row is refused (its error returned, in
// order; "" for a row that may) when a person of the other kind holds the
// address, when one of its own kind holds it and does not give it up in
// this upload, or when an earlier row of this upload takes it. A holder
// gives an address up only if its own row is accepted, and refusing a row
// can undo that, so the rules run until nothing changes.
func emailConflicts(rows []mailRow, kind, otherKind string) []string {
	errs := make([]string, len(rows))
	for changed := true; changed; {
		changed = false
		kept := map[string]string{} // id -> address, for the rows still accepted
		for i, r := range rows {
			if errs[i] == "" {
				kept[r.id] = r.email
			}
		}
		taken := map[string]string{} // address -> id, within this upload
		for i, r := range rows {
			if errs[i] != "" || r.email == "" {
				continue
			}
			var refused string
			switch {
			case r.other != "":
				refused = fmt.Sprintf("email %s belongs to %s %s", r.email, otherKind, r.other)
			case taken[r.email] != "" && taken[r.email] != r.id:
				refused = fmt.Sprintf("email %s is given to %s %s earlier in this upload", r.email, kind, taken[r.email])
			case r.holder != "" && r.holder != r.id:
				if e, ok := kept[r.holder]; !ok || e == r.email {
					refused = fmt.Sprintf("email %s belongs to %s %s", r.email, kind, r.holder)
				}
			}
			if refused != "" {
				errs[i], changed = refused, true
				continue
			}
			taken[r.email] = r.id
		}
	}
	return errs
}

// claimEmails looks up who holds the addresses of an upload's rows and
// answers emailConflicts' verdicts.
func (s *Service) claimEmails(ctx context.Context, ids, emails []string, staffUpload bool) ([]string, error) {
	students, staff, err := store.EmailHolders(ctx, s.Redis, emails)
	if err != nil {
		return nil, err
	}
	rows := make([]mailRow, len(ids))
	for i := range ids {
		rows[i] = mailRow{id: ids[i], email: strings.ToLower(emails[i]), holder: students[i], other: staff[i]}
		if staffUpload {
			rows[i].holder, rows[i].other = staff[i], students[i]
		}
	}
	if staffUpload {
		return emailConflicts(rows, "staff", "student"), nil
	}
	return emailConflicts(rows, "student", "staff"), nil
}

// postStudents stores students. A row giving an email address another
// person holds is refused, as emailConflicts says.
func (s *Service) postStudents(c echo.Context) error {
	return roster(s, c, "id", ParseStudent, putPeople(s, false, func(st store.Student) (string, string) { return st.ID, st.Email }, store.PutStudents))
}

// postStaff stores members of staff. A row giving an email address another
// person holds is refused, as emailConflicts says.
func (s *Service) postStaff(c echo.Context) error {
	return roster(s, c, "id", ParseStaff, putPeople(s, true, func(st store.Staff) (string, string) { return st.ID, st.Email }, store.PutStaff))
}

// putPeople stores the rows of students or members of staff (staff) whose
// email addresses claimEmails grants, and rejects the others.
func putPeople[T any](s *Service, staff bool, idEmail func(T) (id, email string),
	put func(context.Context, redis.UniversalClient, []T) error,
) func(context.Context, []T, []int, *RosterAnswer) error {
	return func(ctx context.Context, v []T, index []int, a *RosterAnswer) error {
		ids, emails := make([]string, len(v)), make([]string, len(v))
		for i, p := range v {
			ids[i], emails[i] = idEmail(p)
		}
		refused, err := s.claimEmails(ctx, ids, emails, staff)
		if err != nil {
			return err
		}
		var good []T
		for i, p := range v {
			if refused[i] != "" {
				a.Rejected = append(a.Rejected, Rejected{Index: index[i], ID: ids[i], Error: refused[i]})
				continue
			}
			good = append(good, p)
		}
		if err := put(ctx, s.Redis, good); err != nil {
			return err
		}
		a.Accepted = len(good)
		return nil
	}
}

func parseTutoring(row map[string]string) (store.Tutoring, error) {
	t := store.Tutoring{Staff: row["staff"], Student: row["student"]}
	if err := checkID("staff", t.Staff); err != nil {
		return t, err
	}
	return t, checkID("student", t.Student)
}

// postTutors assigns tutors; both the student and the tutor must already
// be in the roster, so an assignment never creates a person.
func (s *Service) postTutors(c echo.Context) error {
	return roster(s, c, "student", parseTutoring, func(ctx context.Context, v []store.Tutoring, index []int, a *RosterAnswer) error {
		keys := make([]string, 0, 2*len(v))
		for _, t := range v {
			keys = append(keys, store.ProfileKey(t.Student), store.StaffKey(t.Staff))
		}
		exist, err := store.Exist(ctx, s.Redis, keys)
		if err != nil {
			return err
		}
		var good []store.Tutoring
		for i, t := range v {
			switch {
			case !exist[2*i]:
				a.Rejected = append(a.Rejected, Rejected{Index: index[i], ID: t.Student, Error: "student not in the roster"})
			case !exist[2*i+1]:
				a.Rejected = append(a.Rejected, Rejected{Index: index[i], ID: t.Student, Error: fmt.Sprintf("tutor %s not in the staff roster", t.Staff)})
			default:
				good = append(good, t)
			}
		}
		if err := store.PutTutors(ctx, s.Redis, good); err != nil {
			return err
		}
		a.Accepted = len(good)
		return nil
	})
}
