package portal

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/leap-dev/leap/services/scoring"
	"github.com/leap-dev/leap/services/scoring/engine"
	"github.com/leap-dev/leap/services/store"
)

// maxFilterLen bounds each search or filter value, in characters: enough
// for any name, email address or course title, and a clear refusal of
// anything longer rather than a scan of the roster for it.
const maxFilterLen = 100

// Alert filter values beside the alert kinds: any open alert, or none.
const (
	alertAny  = "any"
	alertNone = "none"
)

// ListFilter narrows a list of students: a search of id, name and email,
// and filters on department, course, year, band and alert. It only ever
// narrows the list the viewer may see; it never widens it. The zero
// value keeps everyone.
type ListFilter struct {
	// Q is found, without regard to case, in the id, name or email.
	Q string
	// Department and Course match whole, without regard to case.
	Department, Course string
	// Year is 0 for any year.
	Year int
	// Band is a band, "none" (no indicator) or "" for any.
	Band string
	// Alert is an alert kind, "any", "none" or "" for every student.
	Alert string
}

// parseListFilter reads the list form's query. Every refusal says what
// is wrong with which field, in words for the person who typed it.
func parseListFilter(q url.Values) (ListFilter, error) {
	var f ListFilter
	var errs []error
	text := func(name, label string) string {
		v := strings.TrimSpace(q.Get(name))
		switch {
		case !utf8.ValidString(v):
			errs = append(errs, fmt.Errorf("%s is not readable text", label))
			return ""
		case utf8.RuneCountInString(v) > maxFilterLen:
			errs = append(errs, fmt.Errorf("%s is too long: at most %d characters", label, maxFilterLen))
			return ""
		case strings.ContainsFunc(v, unicode.IsControl):
			errs = append(errs, fmt.Errorf("%s holds control characters", label))
			return ""
		}
		return v
	}
	f.Q = text("q", "The search")
	f.Department = text("department", "The department")
	f.Course = text("course", "The course")
	if y := text("year", "The year"); y != "" {
		n, err := strconv.Atoi(y)
		if err != nil || n < 1 || n > 10 {
			errs = append(errs, errors.New("the year must be a whole number from 1 to 10"))
		}
		f.Year = n
	}
	f.Band = text("band", "The band")
	if f.Band != "" && f.Band != "none" && !slices.Contains(engine.Bands, engine.Band(f.Band)) {
		errs = append(errs, errors.New("the band must be one of high, good, partial, low, very_low or none"))
	}
	f.Alert = text("alert", "The alert")
	if f.Alert != "" && f.Alert != alertAny && f.Alert != alertNone && f.Alert != string(engine.NoEngagement) && f.Alert != string(engine.VeryLowForAWeek) {
		errs = append(errs, errors.New("the alert must be any, none, no_engagement or very_low_week"))
	}
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return ListFilter{}, errors.New(strings.Join(msgs, "; "))
	}
	return f, nil
}

// Active says whether the filter narrows anything.
func (f ListFilter) Active() bool { return f != ListFilter{} }

// ByScore says whether the filter needs each student's band or alerts,
// which scoring works out one student at a time.
func (f ListFilter) ByScore() bool { return f.Band != "" || f.Alert != "" }

// matchStudent applies the search and the roster's filters.
func (f ListFilter) matchStudent(st store.Student) bool {
	if f.Q != "" {
		q := strings.ToLower(f.Q)
		if !strings.Contains(strings.ToLower(st.ID), q) && !strings.Contains(strings.ToLower(st.Name), q) && !strings.Contains(strings.ToLower(st.Email), q) {
			return false
		}
	}
	return (f.Department == "" || strings.EqualFold(f.Department, st.Department)) &&
		(f.Course == "" || strings.EqualFold(f.Course, st.Course)) &&
		(f.Year == 0 || f.Year == st.Year)
}

// matchRow applies the band and alert filters to a student's line.
func (f ListFilter) matchRow(r TuteeRow) bool {
	switch {
	case f.Band == "none" && r.Band != "", f.Band != "" && f.Band != "none" && r.Band != f.Band:
		return false
	}
	switch f.Alert {
	case "":
		return true
	case alertAny:
		return len(r.Alerts) > 0
	case alertNone:
		return len(r.Alerts) == 0
	}
	return slices.ContainsFunc(r.Alerts, func(a scoring.Alert) bool { return string(a.Kind) == f.Alert })
}

// String is the filter as the audit log records it.
func (f ListFilter) String() string {
	var parts []string
	for _, kv := range [][2]string{{"search", f.Q}, {"department", f.Department}, {"course", f.Course}, {"band", f.Band}, {"alert", f.Alert}} {
		if kv[1] != "" {
			parts = append(parts, fmt.Sprintf("%s %q", kv[0], kv[1]))
		}
	}
	if f.Year != 0 {
		parts = append(parts, fmt.Sprintf("year %d", f.Year))
	}
	return strings.Join(parts, ", ")
}
