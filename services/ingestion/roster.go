package ingestion

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/leap-dev/leap/services/server"
	"github.com/leap-dev/leap/services/store"
)

// RosterAnswer is the result of a roster upload.
type RosterAnswer struct {
	Accepted int        `json:"accepted"`
	Rejected []Rejected `json:"rejected"`
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
		cr := csv.NewReader(body)
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
	return nil, server.Problem(http.StatusUnsupportedMediaType, "Unsupported media type", "send application/json (an array) or text/csv with a header row")
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

// roster reads, checks and stores a roster upload.
func roster[T any](s *Service, c echo.Context, parse func(map[string]string) (T, error), put func(echo.Context, []T, []int, *RosterAnswer) error) error {
	body, err := s.body(c)
	if err != nil {
		return err
	}
	rows, err := readRows(c, body)
	if err != nil {
		return readError(err, s.MaxBodyBytes)
	}
	answer := RosterAnswer{Rejected: []Rejected{}}
	var good []T
	var index []int
	for i, row := range rows {
		v, err := parse(row)
		if err != nil {
			answer.Rejected = append(answer.Rejected, Rejected{Index: i, ID: row["id"], Error: err.Error()})
			continue
		}
		good = append(good, v)
		index = append(index, i)
	}
	if err := put(c, good, index, &answer); err != nil {
		return readError(err, s.MaxBodyBytes)
	}
	return c.JSON(http.StatusOK, answer)
}

func (s *Service) postStudents(c echo.Context) error {
	return roster(s, c, ParseStudent, func(c echo.Context, v []store.Student, _ []int, a *RosterAnswer) error {
		if err := store.PutStudents(c.Request().Context(), s.Redis, v); err != nil {
			return err
		}
		a.Accepted = len(v)
		return nil
	})
}

// postStaff stores members of staff. An email address names one person
// (single sign-on may find staff by it), so a row giving an address that
// another member of staff holds, and does not give up in the same upload,
// is refused.
func (s *Service) postStaff(c echo.Context) error {
	return roster(s, c, ParseStaff, func(c echo.Context, v []store.Staff, index []int, a *RosterAnswer) error {
		ctx := c.Request().Context()
		emails := make([]string, len(v))
		newEmail := map[string]string{} // id -> its address in this upload
		for i, st := range v {
			emails[i] = strings.ToLower(st.Email)
			newEmail[st.ID] = emails[i]
		}
		holders, err := store.StaffByEmails(ctx, s.Redis, emails)
		if err != nil {
			return err
		}
		taken := map[string]string{} // address -> id, within this upload
		var good []store.Staff
		for i, st := range v {
			e := emails[i]
			if e == "" {
				good = append(good, st)
				continue
			}
			holder := holders[i]
			if released, inUpload := newEmail[holder]; inUpload && released != e {
				holder = "" // its holder moves to another address in this upload
			}
			if other, ok := taken[e]; ok && other != st.ID {
				holder = other
			}
			if holder != "" && holder != st.ID {
				a.Rejected = append(a.Rejected, Rejected{Index: index[i], ID: st.ID, Error: fmt.Sprintf("email %s belongs to staff %s", st.Email, holder)})
				continue
			}
			taken[e] = st.ID
			good = append(good, st)
		}
		if err := store.PutStaff(ctx, s.Redis, good); err != nil {
			return err
		}
		a.Accepted = len(good)
		return nil
	})
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
	return roster(s, c, parseTutoring, func(c echo.Context, v []store.Tutoring, index []int, a *RosterAnswer) error {
		ctx := c.Request().Context()
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
