package store

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Roster keys. Indexes are plain sets: they are read whole, by the portal's
// staff views and by cohort summaries, never on the ingest path.
//
//	leap:students             SET   every student id
//	leap:dept:DEPT            SET   student ids of a department
//	leap:cohort:COURSE:YEAR   SET   student ids of a course and year
//	leap:staff:ID             HASH  a member of staff
//	leap:tutees:STAFF         SET   student ids a personal tutor looks after
//	leap:mbox:SHA1            STRING the student whose email has this xAPI mbox_sha1sum
//	leap:staffmail:SHA1       STRING the member of staff whose lower-cased email has this SHA-1
//
// The mbox index serves xAPI, whose statements may name a student by
// email (mbox) or by the SHA-1 of "mailto:" and the email (mbox_sha1sum).
// Keys hold hashes, not addresses; each student has the hash of the
// lower-cased address, and of the address as written when that differs.
const (
	StudentsKey = "leap:students"
	staffSetKey = "leap:staff"
)

// DepartmentKey lists the students of a department.
func DepartmentKey(dept string) string { return "leap:dept:" + dept }

// CohortKey lists the students of a course and year.
func CohortKey(course string, year int) string {
	return "leap:cohort:" + course + ":" + strconv.Itoa(year)
}

// StaffKey holds a member of staff.
func StaffKey(id string) string { return "leap:staff:" + id }

// TuteesKey lists a tutor's tutees.
func TuteesKey(staff string) string { return "leap:tutees:" + staff }

// MboxKey holds the student id of an xAPI mbox_sha1sum (lower-case hex).
func MboxKey(sha1hex string) string { return "leap:mbox:" + sha1hex }

// StaffMailKey holds the id of the member of staff with an email address,
// by the same hash as the students' mbox index.
func StaffMailKey(sha1hex string) string { return "leap:staffmail:" + sha1hex }

// MboxSHA1 is the xAPI mbox_sha1sum of an email address: the hex SHA-1 of
// "mailto:" and the address.
func MboxSHA1(email string) string {
	sum := sha1.Sum([]byte("mailto:" + email))
	return hex.EncodeToString(sum[:])
}

// mboxHashes are the index entries of an email address.
func mboxHashes(email string) []string {
	if email == "" {
		return nil
	}
	lower := MboxSHA1(strings.ToLower(email))
	if asWritten := MboxSHA1(email); asWritten != lower {
		return []string{lower, asWritten}
	}
	return []string{lower}
}

// unindexScript deletes an index entry only while it still names the
// student, so a student who gave up an address never removes another's.
const unindexScript = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`

// StudentsByMbox looks up the students of mbox_sha1sum values; "" for a
// value no student has.
func StudentsByMbox(ctx context.Context, c redis.UniversalClient, sha1hex []string) ([]string, error) {
	if len(sha1hex) == 0 {
		return nil, nil
	}
	pipe := c.Pipeline()
	cmds := make([]*redis.StringCmd, len(sha1hex))
	for i, h := range sha1hex {
		cmds[i] = pipe.Get(ctx, MboxKey(h))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("look up mbox: %w", err)
	}
	out := make([]string, len(sha1hex))
	for i, cmd := range cmds {
		out[i] = cmd.Val()
	}
	return out, nil
}

// Student is a student's roster profile.
type Student struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Email      string `json:"email,omitempty"`
	Department string `json:"department"`
	Course     string `json:"course"`
	Year       int    `json:"year"`
	Level      string `json:"level"` // ug, pgt or pgr
	Mode       string `json:"mode"`  // FT or PT
	Exchange   bool   `json:"exchange"`
	Tutor      string `json:"tutor,omitempty"`
}

// Staff is a member of staff.
type Staff struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Email      string `json:"email,omitempty"`
	Department string `json:"department"`
	// Role is "tutor", "staff" or "leap-team".
	Role string `json:"role"`
}

// Tutoring assigns a personal tutor to a student.
type Tutoring struct {
	Staff   string `json:"staff"`
	Student string `json:"student"`
}

// rosterChunk is how many people one transaction of a roster write holds:
// each person's changes are in one MULTI (atomic on a standalone or
// Sentinel Redis), and no transaction holds Redis for long.
const rosterChunk = 500

// lastOf keeps, of items naming the same person, the last: callers resolve
// duplicates and say so, this only guards the indexes against a caller
// that did not.
func lastOf[T any](items []T, key func(T) string) []T {
	last := make(map[string]int, len(items))
	for i, it := range items {
		last[key(it)] = i
	}
	if len(last) == len(items) {
		return items
	}
	out := make([]T, 0, len(last))
	for i, it := range items {
		if last[key(it)] == i {
			out = append(out, it)
		}
	}
	return out
}

// writeChunks runs write for each person in transactions of rosterChunk.
// A Cluster runs no transaction over several slots, and a person's index
// sets are on other slots than their profile, so there the chunks are
// plain pipelines; write puts the index changes first and the profile
// last, so that a write cut short leaves the profile as it was, and
// sending the upload again computes the same changes and completes them.
func writeChunks(ctx context.Context, c redis.UniversalClient, n int, write func(pipe redis.Pipeliner, i int)) error {
	_, cluster := c.(*redis.ClusterClient)
	for start := 0; start < n; start += rosterChunk {
		pipe := c.TxPipeline()
		if cluster {
			pipe = c.Pipeline()
		}
		for i := start; i < min(start+rosterChunk, n); i++ {
			write(pipe, i)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

// PutStudents stores or replaces students' profiles, keeping their tutor,
// and moves them between department, cohort and mbox indexes when those
// change. Callers run it under the roster lease (WithRosterLease): it
// reads the profiles before writing.
func PutStudents(ctx context.Context, c redis.UniversalClient, students []Student) error {
	students = lastOf(students, func(s Student) string { return s.ID })
	old := make([]*redis.MapStringStringCmd, len(students))
	pipe := c.Pipeline()
	for i, s := range students {
		old[i] = pipe.HGetAll(ctx, ProfileKey(s.ID))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("read roster: %w", err)
	}
	err := writeChunks(ctx, c, len(students), func(pipe redis.Pipeliner, i int) {
		s, prev := students[i], old[i].Val()
		if d := prev["department"]; d != "" && d != s.Department {
			pipe.SRem(ctx, DepartmentKey(d), s.ID)
		}
		if y, _ := strconv.Atoi(prev["year"]); prev["course"] != "" && (prev["course"] != s.Course || y != s.Year) {
			pipe.SRem(ctx, CohortKey(prev["course"], y), s.ID)
		}
		fresh := mboxHashes(s.Email)
		for _, h := range mboxHashes(prev["email"]) {
			if !slices.Contains(fresh, h) {
				pipe.Eval(ctx, unindexScript, []string{MboxKey(h)}, s.ID)
			}
		}
		for _, h := range fresh {
			pipe.Set(ctx, MboxKey(h), s.ID, 0)
		}
		pipe.SAdd(ctx, StudentsKey, s.ID)
		pipe.SAdd(ctx, DepartmentKey(s.Department), s.ID)
		pipe.SAdd(ctx, CohortKey(s.Course, s.Year), s.ID)
		pipe.HSet(ctx, ProfileKey(s.ID), map[string]any{
			"id": s.ID, "name": s.Name, "email": s.Email, "department": s.Department, "course": s.Course,
			"year": s.Year, "level": s.Level, "mode": s.Mode, "exchange": strconv.FormatBool(s.Exchange),
		})
	})
	if err != nil {
		return fmt.Errorf("write roster: %w", err)
	}
	return nil
}

// GetStudent reads a student's profile; ok is false for a student not in the roster.
func GetStudent(ctx context.Context, c redis.UniversalClient, id string) (s Student, ok bool, err error) {
	m, err := c.HGetAll(ctx, ProfileKey(id)).Result()
	if err != nil {
		return Student{}, false, fmt.Errorf("read student %s: %w", id, err)
	}
	s, ok = StudentFromProfile(m)
	return s, ok, nil
}

// PutStaff stores or replaces members of staff, and keeps the index of
// their email addresses (single sign-on may name a person by email).
// Callers run it under the roster lease, as PutStudents.
func PutStaff(ctx context.Context, c redis.UniversalClient, staff []Staff) error {
	staff = lastOf(staff, func(s Staff) string { return s.ID })
	old := make([]*redis.StringCmd, len(staff))
	pipe := c.Pipeline()
	for i, s := range staff {
		old[i] = pipe.HGet(ctx, StaffKey(s.ID), "email")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("read staff: %w", err)
	}
	err := writeChunks(ctx, c, len(staff), func(pipe redis.Pipeliner, i int) {
		s := staff[i]
		prev, fresh := strings.ToLower(old[i].Val()), strings.ToLower(s.Email)
		if prev != "" && prev != fresh {
			pipe.Eval(ctx, unindexScript, []string{StaffMailKey(MboxSHA1(prev))}, s.ID)
		}
		if fresh != "" {
			pipe.Set(ctx, StaffMailKey(MboxSHA1(fresh)), s.ID, 0)
		}
		pipe.SAdd(ctx, staffSetKey, s.ID)
		pipe.HSet(ctx, StaffKey(s.ID), map[string]any{"id": s.ID, "name": s.Name, "email": s.Email, "department": s.Department, "role": s.Role})
	})
	if err != nil {
		return fmt.Errorf("write staff: %w", err)
	}
	return nil
}

// GetStaff reads a member of staff; ok is false for someone not in the roster.
func GetStaff(ctx context.Context, c redis.UniversalClient, id string) (s Staff, ok bool, err error) {
	m, err := c.HGetAll(ctx, StaffKey(id)).Result()
	if err != nil {
		return Staff{}, false, fmt.Errorf("read staff %s: %w", id, err)
	}
	if len(m) == 0 {
		return Staff{}, false, nil
	}
	return Staff{ID: m["id"], Name: m["name"], Email: m["email"], Department: m["department"], Role: m["role"]}, true, nil
}

// StudentByEmail is the id of the student with an email address (compared
// without case); "" when there is none.
func StudentByEmail(ctx context.Context, c redis.UniversalClient, email string) (string, error) {
	return lookupMail(ctx, c, MboxKey(MboxSHA1(strings.ToLower(email))))
}

// StaffByEmail is the id of the member of staff with an email address
// (compared without case); "" when there is none.
func StaffByEmail(ctx context.Context, c redis.UniversalClient, email string) (string, error) {
	return lookupMail(ctx, c, StaffMailKey(MboxSHA1(strings.ToLower(email))))
}

// StaffByEmails is StaffByEmail for many addresses at once, in order.
func StaffByEmails(ctx context.Context, c redis.UniversalClient, emails []string) ([]string, error) {
	_, staff, err := EmailHolders(ctx, c, emails)
	return staff, err
}

// EmailHolders are, for each address (compared without case), the student
// and the member of staff holding it; "" for none. An address "" is held
// by nobody.
func EmailHolders(ctx context.Context, c redis.UniversalClient, emails []string) (students, staff []string, err error) {
	pipe := c.Pipeline()
	studentCmds := make([]*redis.StringCmd, len(emails))
	staffCmds := make([]*redis.StringCmd, len(emails))
	for i, e := range emails {
		if e == "" {
			continue
		}
		h := MboxSHA1(strings.ToLower(e))
		studentCmds[i], staffCmds[i] = pipe.Get(ctx, MboxKey(h)), pipe.Get(ctx, StaffMailKey(h))
	}
	if pipe.Len() > 0 {
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, nil, fmt.Errorf("look up emails: %w", err)
		}
	}
	students, staff = make([]string, len(emails)), make([]string, len(emails))
	for i := range emails {
		if studentCmds[i] != nil {
			students[i], staff[i] = studentCmds[i].Val(), staffCmds[i].Val()
		}
	}
	return students, staff, nil
}

func lookupMail(ctx context.Context, c redis.UniversalClient, key string) (string, error) {
	id, err := c.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up email: %w", err)
	}
	return id, nil
}

// PutTutors assigns personal tutors; a student has one, so a new assignment
// replaces the old one. Callers run it under the roster lease, as
// PutStudents.
func PutTutors(ctx context.Context, c redis.UniversalClient, ts []Tutoring) error {
	ts = lastOf(ts, func(t Tutoring) string { return t.Student })
	old := make([]*redis.StringCmd, len(ts))
	pipe := c.Pipeline()
	for i, t := range ts {
		old[i] = pipe.HGet(ctx, ProfileKey(t.Student), "tutor")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("read tutors: %w", err)
	}
	err := writeChunks(ctx, c, len(ts), func(pipe redis.Pipeliner, i int) {
		t := ts[i]
		if prev := old[i].Val(); prev != "" && prev != t.Staff {
			pipe.SRem(ctx, TuteesKey(prev), t.Student)
		}
		pipe.SAdd(ctx, TuteesKey(t.Staff), t.Student)
		pipe.HSet(ctx, ProfileKey(t.Student), "tutor", t.Staff)
	})
	if err != nil {
		return fmt.Errorf("write tutors: %w", err)
	}
	return nil
}

// Exist reports which of ids are in the roster (students) or staff.
func Exist(ctx context.Context, c redis.UniversalClient, keys []string) ([]bool, error) {
	pipe := c.Pipeline()
	cmds := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Exists(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("check roster: %w", err)
	}
	out := make([]bool, len(keys))
	for i, cmd := range cmds {
		out[i] = cmd.Val() == 1
	}
	return out, nil
}

// MaxIDLen bounds a roster id.
const MaxIDLen = 64

// ValidID reports whether id has the shape of a roster id: 1 to MaxIDLen
// letters, digits and . _ @ -, so no space and no brace (which would break
// the Cluster hash tag). Anything else names nobody, and is answered
// before Redis is asked.
func ValidID(id string) bool {
	if id == "" || len(id) > MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '@', c == '-':
		default:
			return false
		}
	}
	return true
}
