package portal

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/leap-dev/leap/services/store"
)

// joinCourse puts n quiet students into a course and year, with no
// activity at all, so that the course's mean on a day is a known share of
// the one student who has some.
func joinCourse(t *testing.T, f *fixture, course string, year, n int) {
	t.Helper()
	var add []store.Student
	for i := range n {
		add = append(add, store.Student{ID: fmt.Sprintf("q%d-%02d", year, i), Name: "Quiet", Department: "Maths", Course: course, Year: year, Level: "ug", Mode: "FT"})
	}
	must(t, store.PutStudents(context.Background(), f.rdb, add))
}

var coursePoints = regexp.MustCompile(`<polyline class="course-line" points="([^"]*)"`)

// TestCourseLineNeedsAWholeCohort: no course line, legend, column or
// words on the first day of term, nor for a course of minCohortSize-1.
func TestCourseLineNeedsAWholeCohort(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	absent := func(when string) {
		t.Helper()
		_, page := fetch(t, f.signIn(t, "s1").Client, f.url+"/me")
		if !strings.Contains(page, `id="cohort"`) {
			t.Fatalf("%s: not the student's page: %.300s", when, page)
		}
		for _, unwanted := range []string{"course-line", "course-dot", `id="trend-legend"`, "Course average", `id="against"`} {
			if strings.Contains(page, unwanted) {
				t.Errorf("%s: the page has %q", when, unwanted)
			}
		}
	}
	// Monday 5 October, the first day of term: no day has ended.
	f.clock.Set(time.Date(2026, 10, 5, 11, 0, 0, 0, time.UTC))
	joinCourse(t, f, "BSc Maths", 1, 7) // s1, s2, x1 and seven: ten
	absent("first day of term")

	// BSc Maths year 1 of nine (s1, s2, x1 and six) on Tuesday 20 October.
	f.clock.Set(now)
	must(t, store.PutStudents(context.Background(), f.rdb, []store.Student{{ID: "q1-06", Name: "Quiet", Department: "Maths", Course: "BSc History", Year: 1, Level: "ug", Mode: "FT"}}))
	absent("a course of nine")
}

// TestStudentSeesTheCourseLineAndWhereTheyStand: a student who moved to a
// course of ten reads that course's average over the term as a second,
// dashed line with a legend, in the table, and in words; at the weekend
// the line reaches Friday, and the words count the term's ended teaching
// days.
func TestStudentSeesTheCourseLineAndWhereTheyStand(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	// s1 moves from BSc Maths to BSc Big, year 2, whose nine others did
	// nothing: on 19 October, s1's only active day, s1 is above the
	// course's mean, and level with it (both zero) on every other day.
	joinCourse(t, f, "BSc Big", 2, 9)
	s1 := store.Student{ID: "s1", Name: "Ada Student", Department: "Maths", Course: "BSc Big", Year: 2, Level: "ug", Mode: "FT", Tutor: "t1"}
	must(t, store.PutStudents(context.Background(), f.rdb, []store.Student{s1}))

	ctx := browser(t)
	screenshotOnFailure(t, ctx, "course-line")
	must(t, chromedp.Do(ctx, signInAs(f.url, "s1"), chromedp.WaitVisible(chromedp.ID("trend-legend"))))
	type seen struct {
		Legend, Against string
		Points          int
		Column          []string
		Dash            string
	}
	look := func() seen {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[seen](`({
			Legend: document.getElementById("trend-legend").innerText,
			Against: (document.getElementById("against") || {}).innerText || "",
			Points: [...document.querySelectorAll("svg.trend polyline.course-line")].reduce((n, l) => n + l.points.numberOfItems, 0),
			Column: [...document.querySelectorAll("#trend-table tbody tr")].map(r => r.cells[0].textContent + "=" + r.cells[4].textContent),
			Dash: getComputedStyle(document.querySelector("svg.trend polyline.course-line")).strokeDasharray,
		})`))
		must(t, err)
		return s
	}
	s := look()
	if !strings.Contains(s.Legend, "You") || !strings.Contains(s.Legend, "Average of BSc Big, year 2") {
		t.Errorf("legend %q", s.Legend)
	}
	if s.Points != 11 || s.Dash == "none" || s.Dash == "" {
		t.Errorf("the course line has %d points (want the 11 teaching days 5-19 October), dashes %q", s.Points, s.Dash)
	}
	if want := "Over the autumn term you were above your course's average on 1 of 11 teaching days."; s.Against != want {
		t.Errorf("against: %q, want %q", s.Against, want)
	}
	column := strings.Join(s.Column, " ")
	for _, want := range []string{"Mon 5 Oct=0.0", "Sat 17 Oct=–", "Tue 20 Oct=–"} {
		if !strings.Contains(column, want) {
			t.Errorf("the table's course column lacks %q: %.300s", want, column)
		}
	}
	if !regexp.MustCompile(`Mon 19 Oct=\d+\.\d`).MatchString(column) || strings.Contains(column, "Mon 19 Oct=0.0") {
		t.Errorf("19 October's course average is not above zero: %.400s", column)
	}

	// Saturday 24 October: the line runs to Friday 23, the words count 15 days.
	f.clock.Set(time.Date(2026, 10, 24, 12, 0, 0, 0, time.UTC))
	// (Four days on, the session has expired: a new sign-in.)
	must(t, chromedp.Do(ctx, signInAs(f.url, "s1"), chromedp.WaitVisible(chromedp.ID("trend-legend"))))
	s = look()
	if s.Points != 15 || s.Against != "Over the autumn term you were above your course's average on 1 of 15 teaching days." {
		t.Errorf("at the weekend: %d points, %q", s.Points, s.Against)
	}

	// Their tutor reads it in the third person.
	t1 := f.signIn(t, "t1")
	_, page := fetch(t, t1.Client, f.url+"/students/s1")
	if !strings.Contains(page, "Over the autumn term the student was above their course&#39;s average on 1 of 15 teaching days.") || coursePoints.FindString(page) == "" {
		t.Errorf("the tutor's view: %s", between(page, `id="cohort"`, "</section>"))
	}
}
