package portal

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/leap-dev/leap/services/store"
)

// listed are the ids of the students a list page links, in order.
func listed(page string) []string {
	var ids []string
	for _, part := range strings.Split(page, `<a href="/students/`)[1:] {
		id, _, _ := strings.Cut(part, `"`)
		ids = append(ids, id)
	}
	return ids
}

func search(t *testing.T, c signedIn, f *fixture, q url.Values) (int, string) {
	t.Helper()
	return fetch(t, c.Client, f.url+"/students?"+q.Encode())
}

// TestLEAPTeamFindsAnyStudent: the LEAP team's list is empty until they
// search; a search by id, name or email, or a filter, finds any student
// of the university; opening the page is audited, as the list is.
func TestLEAPTeamFindsAnyStudent(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	ctx := context.Background()
	must(t, store.PutStudents(ctx, f.rdb, []store.Student{{ID: "s3", Name: "Cai Student", Email: "cai.student@example.ac.uk", Department: "History", Course: "BA History", Year: 2, Level: "ug", Mode: "FT"}}))
	lt := f.signIn(t, "lt")

	status, page := fetch(t, lt.Client, f.url+"/students")
	if status != http.StatusOK || !strings.Contains(page, `id="search-prompt"`) || len(listed(page)) != 0 {
		t.Errorf("before a search: %d, %v listed", status, listed(page))
	}
	for _, tc := range []struct {
		q    url.Values
		want []string
	}{
		{url.Values{"q": {"ada"}}, []string{"s1"}},
		{url.Values{"q": {"S3"}}, []string{"s3"}},
		{url.Values{"q": {"CAI.STUDENT@example"}}, []string{"s3"}},
		{url.Values{"department": {"history"}}, []string{"s3"}},
		{url.Values{"q": {"student"}, "year": {"2"}}, []string{"s3"}},
		{url.Values{"course": {"BSc Maths"}, "band": {"very_low"}}, []string{"s2", "x1", "s1"}},
		{url.Values{"course": {"BSc Maths"}, "band": {"high"}}, nil},
		{url.Values{"department": {"Maths"}, "band": {"none"}}, []string{"r1"}},
		{url.Values{"q": {"nobody"}}, nil},
	} {
		status, page := search(t, lt, f, tc.q)
		if got := listed(page); status != http.StatusOK || strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s: %d, listed %v, want %v", tc.q.Encode(), status, got, tc.want)
		}
		// The form keeps what was asked: the page's address is the search.
		for _, v := range tc.q {
			if !strings.Contains(page, `value="`+v[0]+`"`) && !strings.Contains(page, `value="`+v[0]+`" selected`) {
				t.Errorf("%s: the form does not keep %q", tc.q.Encode(), v[0])
			}
		}
	}

	fetch(t, lt.Client, f.url+"/students/s3")
	entries, err := f.rdb.XRange(ctx, AuditStream, "-", "+").Result()
	must(t, err)
	var searched, viewed bool
	for _, e := range entries {
		who, whom, what := e.Values["who"], e.Values["whom"], e.Values["what"]
		searched = searched || who == "lt1" && what == `list 1 students (search "ada")`
		viewed = viewed || who == "lt1" && whom == "s3" && what == "view student"
	}
	if !searched || !viewed {
		t.Errorf("audit: search recorded %v, page view recorded %v", searched, viewed)
	}
}

// TestStaffSearchNeverWidens: staff search only the students they may
// see; a student outside their need is not found, by name, id, email or
// department, and neither is their page reached through the list.
func TestStaffSearchNeverWidens(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	o1 := f.signIn(t, "o1") // History office: s3 only
	t1 := f.signIn(t, "t1") // Maths tutor of s1 and r1; s2 and x1 in the department list

	for _, q := range []url.Values{{"q": {"Ada"}}, {"q": {"s1"}}, {"department": {"Maths"}}, {"course": {"BSc Maths"}}} {
		status, page := search(t, o1, f, q)
		if got := listed(page); status != http.StatusOK || len(got) != 0 || !strings.Contains(page, "No student you may see matches the search.") {
			t.Errorf("History office, %s: %d, listed %v; want nobody", q.Encode(), status, got)
		}
	}
	if _, page := search(t, o1, f, url.Values{"q": {"cai"}}); strings.Join(listed(page), ",") != "s3" {
		t.Errorf("History office, cai: listed %v, want s3", listed(page))
	}

	for _, tc := range []struct {
		q    url.Values
		want string
	}{
		{url.Values{"q": {"Cai"}}, ""},              // History: outside the tutor's need
		{url.Values{"department": {"History"}}, ""}, // likewise
		{url.Values{"q": {"ada"}}, "s1"},            // a tutee
		{url.Values{"q": {"Ben"}}, "s2"},            // the tutor's department
		{url.Values{"band": {"none"}}, "r1"},        // a research student, no indicator
		{url.Values{"alert": {"any"}}, "s1"},        // r1 gets no alerts
		{url.Values{"alert": {"none"}}, "r1"},
	} {
		_, page := search(t, t1, f, tc.q)
		if got := strings.Join(listed(page), ","); got != tc.want {
			t.Errorf("tutor, %s: listed %q, want %q", tc.q.Encode(), got, tc.want)
		}
	}
}

// TestBadSearch: a search that is too long, unreadable, or a filter
// with a value it cannot have, is refused with a page that says what is
// wrong, not a 500; nothing is looked up.
func TestBadSearch(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	lt := f.signIn(t, "lt")
	for _, tc := range []struct {
		raw, want string
	}{
		{"q=" + strings.Repeat("a", 101), "The search is too long: at most 100 characters"},
		{"q=" + strings.Repeat("%C3%A9", 60_000), "The search is too long"},
		{"q=%FF%FE", "The search is not readable text"},
		{"q=ada%00", "The search holds control characters"},
		{"year=two", "the year must be a whole number from 1 to 10"},
		{"year=99999999999999999999", "the year must be a whole number from 1 to 10"},
		{"band=purple", "the band must be one of"},
		{"alert=maybe&department=" + strings.Repeat("x", 200), "The department is too long"},
	} {
		req, _ := http.NewRequest(http.MethodGet, f.url+"/students?"+tc.raw, nil)
		req.Header.Set("Accept", "text/html")
		resp, err := lt.Do(req)
		must(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page := string(b)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, tc.want) || !strings.Contains(page, "<!doctype html>") {
			t.Errorf("%.60s: %d, want 400 saying %q: %.300s", tc.raw, resp.StatusCode, tc.want, page)
		}
	}
}

// FuzzParseListFilter: no query makes the parser fail other than with an
// error; what it accepts is short, readable and one of the allowed
// values.
func FuzzParseListFilter(f *testing.F) {
	for _, seed := range []string{"", "q=ada", "q=%FF", "year=2&band=low&alert=any", "band=none", "q=" + strings.Repeat("é", 101), "department=Maths&course=BSc+Maths", "year=-1", "alert=no_engagement&q=%00"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		lf, err := parseListFilter(q)
		if err != nil {
			if lf != (ListFilter{}) {
				t.Errorf("%q: refused, yet a filter %+v", raw, lf)
			}
			return
		}
		for _, v := range []string{lf.Q, lf.Department, lf.Course, lf.Band, lf.Alert} {
			if !utf8.ValidString(v) || utf8.RuneCountInString(v) > maxFilterLen || strings.ContainsFunc(v, unicode.IsControl) {
				t.Errorf("%q: accepted %q", raw, v)
			}
		}
		if lf.Year < 0 || lf.Year > 10 {
			t.Errorf("%q: accepted year %d", raw, lf.Year)
		}
	})
}

// TestLEAPTeamBandFilterNeedsANarrowerSearch: a band filter over more
// students than scoring is asked about at once says to narrow the search
// first, and asks scoring nothing.
func TestLEAPTeamBandFilterNeedsANarrowerSearch(t *testing.T) {
	f := start(t, "attendance:\n    enabled: true")
	many := make([]store.Student, teamScoreLimit+1)
	for i := range many {
		many[i] = store.Student{ID: fmt.Sprintf("m%04d", i), Name: "Many", Department: "Law", Course: "LLB", Year: 1, Level: "ug", Mode: "FT"}
	}
	must(t, store.PutStudents(context.Background(), f.rdb, many))
	lt := f.signIn(t, "lt")
	status, page := search(t, lt, f, url.Values{"department": {"Law"}, "band": {"very_low"}})
	if status != http.StatusOK || !strings.Contains(page, `id="search-notice"`) || !strings.Contains(page, "301 students match the search") || len(listed(page)) != 0 {
		t.Errorf("%d: %v listed, notice %q", status, listed(page), between(page, `id="search-notice">`, "</p>"))
	}
}
