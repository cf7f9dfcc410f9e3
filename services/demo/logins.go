package demo

import (
	"fmt"
	"strings"

	"github.com/leap-dev/leap/services/store"
)

// Login is a demo account worth trying, and who it is.
type Login struct {
	ID, Who string
}

// Logins picks accounts that fit together, so that the obvious walk
// works: a taught student, their own tutor, their department's office, the
// LEAP team, a research student and an exchange student, both of the same
// tutor when the roster has them, else of the same department. Empty when
// there are no students.
func Logins(d Data) []Login {
	tutorOf := map[string]string{}
	for _, t := range d.Tutors {
		tutorOf[t.Student] = t.Staff
	}
	var student store.Student
	for _, s := range d.Students {
		if s.Level == "ug" && !s.Exchange && tutorOf[s.ID] != "" {
			student = s
			break
		}
	}
	if student.ID == "" {
		return nil
	}
	tutor := tutorOf[student.ID]
	var office string
	for _, s := range d.Staff {
		if s.Role == "staff" && s.Department == student.Department {
			office = s.ID
		}
	}
	// pick is the first student matching ok, of the same tutor if there
	// is one, else of the same department, else anyone.
	pick := func(ok func(store.Student) bool) (store.Student, string) {
		for _, where := range []func(store.Student) bool{
			func(s store.Student) bool { return tutorOf[s.ID] == tutor },
			func(s store.Student) bool { return s.Department == student.Department },
			func(store.Student) bool { return true },
		} {
			for _, s := range d.Students {
				if ok(s) && where(s) {
					return s, whose(tutorOf[s.ID], tutor, s.Department, student.Department)
				}
			}
		}
		return store.Student{}, ""
	}
	out := []Login{
		{student.ID, fmt.Sprintf("a student of %s, %s", student.Course, student.Department)},
		{tutor, "their personal tutor: writes notes, objectives and referrals"},
	}
	if office != "" {
		out = append(out, Login{office, "staff of their department, " + student.Department + ": may look, not write"})
	}
	out = append(out, Login{"leap", "the LEAP team: policy, attendance switch, challenges, freshness, audit"})
	if r, where := pick(func(s store.Student) bool { return s.Level == "pgr" }); r.ID != "" {
		out = append(out, Login{r.ID, "a research student" + where + ": activity, no indicator"})
	}
	if x, where := pick(func(s store.Student) bool { return s.Exchange }); x.ID != "" {
		out = append(out, Login{x.ID, "an exchange student" + where + ": cannot sign in yet; marked on the tutor's list"})
	}
	return out
}

// whose says how a picked student relates to the printed one.
func whose(theirTutor, tutor, dept, studentDept string) string {
	switch {
	case theirTutor == tutor:
		return ", the same tutor's"
	case dept == studentDept:
		return ", same department"
	}
	return ""
}

// IDForms says how the other demo ids are formed.
func IDForms() string {
	var codes []string
	for _, d := range departments {
		codes = append(codes, strings.ToLower(d.short)+" "+d.name)
	}
	return "Students are a department code and a number from 10000 (ma10000, hi10001, ...); tutors t<code>1 to 3 (tma1);" +
		" each department's office o<code> (oma). Codes: " + strings.Join(codes, ", ") + "."
}
