package ingestion

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestStreamsRejectABadLineAlone: in NDJSON and CSV each line stands
// alone. An over-long line (here 70 KB after 1,500 good ones, past the
// first stored chunk), a broken one, or a CSV row with an unterminated
// quote is rejected on its own, under its index, and every other line is
// taken: never a 400 after part of the body was stored.
func TestStreamsRejectABadLineAlone(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	long := strings.Repeat("x", 70<<10)
	students := []string{"s1", "s2"}

	var nd strings.Builder
	for i := range 1500 {
		nd.WriteString(event(fmt.Sprintf("nd-%d", i), students[i%2], "moodle_course", at) + "\n")
	}
	fmt.Fprintf(&nd, `{"id":"nd-long","student":"s1","activity":"moodle_course","at":%q,"note":%q}`+"\n", at, long)
	nd.WriteString("{broken\n")
	for i := 1500; i < 2000; i++ {
		nd.WriteString(event(fmt.Sprintf("nd-%d", i), students[i%2], "moodle_course", at) + "\r\n")
	}
	var a Answer
	f.post(t, "/v1/events", "application/x-ndjson", token, nd.String(), http.StatusOK, &a)
	if a.Accepted != 2000 || len(a.Rejected) != 2 || a.Rejected[0].Index != 1500 || a.Rejected[1].Index != 1501 ||
		!strings.Contains(a.Rejected[0].Error, "longer than") {
		t.Errorf("ndjson: accepted %d, rejected %+v; want 2000, lines 1500 (too long) and 1501", a.Accepted, a.Rejected)
	}

	var csv strings.Builder
	csv.WriteString("id,student,activity,at,note\n")
	for i := range 1500 {
		fmt.Fprintf(&csv, "csv-%d,%s,moodle_course,%s,\n", i, students[i%2], at)
	}
	fmt.Fprintf(&csv, "csv-long,s1,moodle_course,%s,%s\n", at, long)
	fmt.Fprintf(&csv, "csv-quote,s1,moodle_course,%s,\"never closed\n", at)
	for i := 1500; i < 2000; i++ {
		fmt.Fprintf(&csv, "csv-%d,%s,moodle_course,%s,\"a, quoted \"\"note\"\"\"\r\n", i, students[i%2], at)
	}
	f.post(t, "/v1/events", "text/csv", token, csv.String(), http.StatusOK, &a)
	if a.Accepted != 2000 || len(a.Rejected) != 2 || a.Rejected[0].Index != 1500 || a.Rejected[1].Index != 1501 {
		t.Errorf("csv: accepted %d, rejected %+v; want 2000, rows 1500 (too long) and 1501 (quote)", a.Accepted, a.Rejected)
	}
	if got := f.counts(t, "s1")[5] + f.counts(t, "s2")[5]; got != 4000 {
		t.Errorf("%d moodle_course counted, want 4000", got)
	}
}

// TestLineReadersOnMalformedInput: every non-blank line after a CSV header
// is one record, whatever it holds; a header that cannot be read stores
// nothing.
func TestLineReadersOnMalformedInput(t *testing.T) {
	long := strings.Repeat("y", maxLine+1)
	for _, c := range []struct {
		name    string
		read    func(io.Reader, func(int, Record, error) error) error
		body    string
		records int
		errs    []int
		fails   bool
	}{
		{"ndjson empty", readNDJSON, "", 0, nil, false},
		{"ndjson blank lines", readNDJSON, "\n \r\n\t\n", 0, nil, false},
		{"ndjson no final newline", readNDJSON, `{"id":"a"}` + "\n" + `{"id":"b"`, 2, []int{1}, false},
		{"ndjson long first", readNDJSON, long + "\n" + `{"id":"a"}`, 2, []int{0}, false},
		{"ndjson long last, no newline", readNDJSON, `{"id":"a"}` + "\n" + long, 2, []int{1}, false},
		{"ndjson exactly the limit", readNDJSON, strings.Repeat(" ", maxLine-10) + `{"id":"a"}` + "\n", 1, nil, false},
		{"ndjson not objects", readNDJSON, "3\nnull\n[1]\n\"s\"\n", 4, []int{0, 2, 3}, false},
		{"csv no header", readCSV, "", 0, nil, true},
		{"csv header too long", readCSV, long + "\n", 0, nil, true},
		{"csv header lacks at", readCSV, "id,student,activity\n", 0, nil, true},
		{"csv quote in header", readCSV, "id,\"student\n", 0, nil, true},
		{"csv rows", readCSV, "\ufeffID, Student ,activity,at\n\na,s1,x,y\n\"b\"\"\",s1\nc\"d,s1\n" + long + "\n\"e,s1\n", 5, []int{2, 3, 4}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var errs []int
			n := 0
			err := c.read(strings.NewReader(c.body), func(i int, rec Record, err error) error {
				if i != n {
					t.Errorf("record %d numbered %d", n, i)
				}
				n++
				if err != nil {
					errs = append(errs, i)
				}
				return nil
			})
			if (err != nil) != c.fails {
				t.Fatalf("error %v, want failure %v", err, c.fails)
			}
			if n != c.records || fmt.Sprint(errs) != fmt.Sprint(c.errs) {
				t.Errorf("%d records, errors at %v; want %d, errors at %v", n, errs, c.records, c.errs)
			}
		})
	}
}

// TestStreamPastTheLimitCanBeResent: a streamed NDJSON body without a
// length that passes the size limit answers 413 after its first chunks
// were stored, as the README says; sending it again in smaller parts
// counts every event once.
func TestStreamPastTheLimitCanBeResent(t *testing.T) {
	f := start(t, loadPolicy(t, ""))
	var lines []string
	size := 0
	for i := 0; size <= int(f.svc.MaxBodyBytes); i++ {
		l := event(fmt.Sprintf("big-%d", i), "s1", "moodle_course", at) + "\n"
		lines = append(lines, l)
		size += len(l)
	}
	// io.MultiReader hides the length, so the body is sent chunked.
	req, _ := http.NewRequest(http.MethodPost, f.url+"/v1/events", io.MultiReader(strings.NewReader(strings.Join(lines, ""))))
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
	stored := f.counts(t, "s1")[5]
	if stored == 0 || int(stored) >= len(lines) {
		t.Errorf("%d of %d stored before the 413; want the first chunks", stored, len(lines))
	}
	half := len(lines) / 2
	var a Answer
	f.post(t, "/v1/events", "application/x-ndjson", token, strings.Join(lines[:half], ""), http.StatusOK, &a)
	f.post(t, "/v1/events", "application/x-ndjson", token, strings.Join(lines[half:], ""), http.StatusOK, &a)
	if got := f.counts(t, "s1")[5]; int(got) != len(lines) {
		t.Errorf("%d counted after the resend, want %d", got, len(lines))
	}
}

// TestRosterCSVOnMalformedInput: a roster in CSV is read whole, all or
// nothing, with each line bounded: a line longer than maxLine makes the
// body unreadable, naming the line, however the rows before it read.
func TestRosterCSVOnMalformedInput(t *testing.T) {
	long := strings.Repeat("y", maxLine+1)
	for _, c := range []struct {
		name, body string
		rows       int
		fails      string // in the error, "" when it reads
	}{
		{"empty", "", 0, "no CSV header row"},
		{"header only", "id,name\n", 0, ""},
		{"rows", "\ufeffID, Name \ns1,Ada\ns2,\"Ben, Jr\"\n", 2, ""},
		{"a quoted line break", "id,name\ns1,\"Ada\nLovelace\"\n", 1, ""},
		{"exactly the limit, with CRLF", "id,name\r\ns1," + strings.Repeat("x", maxLine-3) + "\r\n", 1, ""},
		{"a long row", "id,name\ns1,Ada\n" + long + "\ns2,Ben\n", 0, "line 3: line is longer than"},
		{"a long last row, no newline", "id,name\ns1,Ada\n" + long, 0, "line 3: line is longer than"},
		{"a long header", long + "\n", 0, "line 1: line is longer than"},
		{"a long quoted field over lines", "id,name\ns1,\"" + strings.Repeat("z\n", maxLine) + "\"\n", 1, ""},
		{"an unterminated quote", "id,name\ns1,\"Ada\n", 0, "extraneous or missing \" in quoted-field"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rows, err := readRosterCSV(strings.NewReader(c.body))
			switch {
			case c.fails == "" && err != nil:
				t.Fatalf("error %v", err)
			case c.fails != "" && (!errors.Is(err, errUnreadable) || !strings.Contains(err.Error(), c.fails)):
				t.Fatalf("error %v, want one with %q", err, c.fails)
			case len(rows) != c.rows:
				t.Errorf("%d rows, want %d", len(rows), c.rows)
			}
		})
	}
}

// FuzzRosterCSV: the roster's CSV reader never panics, refuses only as
// unreadable, reads what encoding/csv reads when no line passes maxLine,
// and never holds a value longer than a line.
func FuzzRosterCSV(f *testing.F) {
	f.Add("id,name,email\ns1,Ada,ada@uni.example\n")
	f.Add("\ufeffID, Name \r\ns1,\"Ada, \"\"A\"\"\"\n\ns2\n")
	f.Add("id\n\"s1\ns2\"\n")
	f.Add("a,b\n\"x")
	f.Fuzz(func(t *testing.T, body string) {
		rows, err := readRosterCSV(strings.NewReader(body))
		if err != nil && !errors.Is(err, errUnreadable) {
			t.Fatalf("%q: %v is not unreadable", body, err)
		}
		longest := 0
		for line := range strings.Lines(body) {
			longest = max(longest, len(strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")))
		}
		if longest > maxLine {
			if err == nil {
				t.Fatalf("a line of %d bytes read", longest)
			}
			return
		}
		all, csvErr := csv.NewReader(strings.NewReader(body)).ReadAll()
		if (err == nil) != (csvErr == nil && len(all) > 0) {
			t.Fatalf("%q: %v, encoding/csv %v", body, err, csvErr)
		}
		if err == nil && len(rows) != len(all)-1 {
			t.Fatalf("%q: %d rows, encoding/csv %d", body, len(rows), len(all)-1)
		}
	})
}
