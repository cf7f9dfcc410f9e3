package xapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/leap-dev/leap/services/store"
)

// good is the smallest statement LEAP takes.
const good = `{"actor":{"mbox":"mailto:ada@uni.example"},"verb":{"id":"http://adlnet.gov/expapi/verbs/attended"},"object":{"id":"https://timetable.uni.example/e/1"}}`

// with replaces the first occurrence of old in good.
func with(old, new string) string { return strings.Replace(good, old, new, 1) }

// TestReaderNamesThePathOfTheProblem: a malformed statement is refused
// with the JSON path of its first problem and why.
func TestReaderNamesThePathOfTheProblem(t *testing.T) {
	cases := []struct{ body, want string }{
		{"[" + good + "," + good + "," + good + "," + with(`"mailto:ada@uni.example"`, `"ada@uni.example"`) + "]",
			"$[3].actor.mbox: must be a mailto: IRI"},
		{`{"actor":{"mbox":"mailto:ada@uni.example"},"object":{"id":"https://x.example/e"}}`, "$.verb: is required in a Statement"},
		{with(`"actor"`, `"actr"`), "$.actr: not a property of a Statement"},
		{with(`"actor"`, `"Actor"`), `$.Actor: not a property of a Statement (property names are case-sensitive: "actor")`},
		{with(`{"actor"`, `{"result":null,"actor"`), "$.result: must not be null"},
		{with(`{"actor"`, `{"result":{},"actor"`), "$.result: a Result must not be an empty object"},
		{with(`"http://adlnet.gov/expapi/verbs/attended"`, `"attended"`), "$.verb.id: must be an IRI with a scheme"},
		{with(`"http://adlnet.gov/expapi/verbs/attended"}`, `"http://adlnet.gov/expapi/verbs/attended","display":{"en US":"attended"}}`),
			`$.verb.display["en US"]: is not a language tag`},
		{with(`"https://timetable.uni.example/e/1"}`, `"https://timetable.uni.example/e/1","extensions":{"http://x.example/k":1}}`),
			"$.object.extensions: not a property of an Activity (extensions of an Activity belong in its definition)"},
		{with(`{"actor"`, `{"context":{"extensions":{"session":"1"}},"actor"`), "$.context.extensions.session: an extension key must be an IRI"},
		{with(`{"actor"`, `{"context":{"extensions":{"http://x.example/n":01}},"actor"`), `$.context.extensions["http://x.example/n"]: malformed number`},
		{with(`{"actor"`, `{"id":"not-a-uuid","actor"`), "$.id: must be a UUID"},
		{with(`{"mbox"`, `{"account":{"homePage":"https://m.example","name":"s1"},"mbox"`), "$.actor: an Agent has exactly one of mbox, mbox_sha1sum, openid and account"},
		{with(`{"mbox":"mailto:ada@uni.example"}`, `{"account":{"name":"s1"}}`), "$.actor.account.homePage: is required in an account"},
		{with(`{"mbox":"mailto:ada@uni.example"}`, `{"mbox_sha1sum":"abc"}`), "$.actor.mbox_sha1sum: must be the SHA-1"},
		{with(`{"mbox":"mailto:ada@uni.example"}`, `{"objectType":"Group","name":"team"}`), "$.actor.member: is required in an anonymous Group"},
		{with(`{"actor"`, `{"timestamp":"20 October 2026","actor"`), "$.timestamp: must be an ISO 8601 timestamp"},
		{with(`{"actor"`, `{"result":{"score":{"scaled":2}},"actor"`), "$.result.score.scaled: a scaled score lies between -1 and 1"},
		{with(`{"actor"`, `{"result":{"completion":"yes"},"actor"`), "$.result.completion: must be true or false, not a string"},
		{with(`{"actor"`, `{"result":{"duration":"41 minutes"},"actor"`), "$.result.duration: must be an ISO 8601 duration"},
		{with(`{"actor"`, `{"version":"3.0","actor"`), "$.version: must be an xAPI version"},
		{with(`"object":{"id":"https://timetable.uni.example/e/1"}`, `"object":{"objectType":"Agent","mbox":"mailto:b@uni.example"},"context":{"platform":"Moodle"}`),
			"$.context.platform: is only for statements about an Activity"},
		{with(`"object":{"id":"https://timetable.uni.example/e/1"}`, `"object":{"id":"https://x.example/e","definition":{"type":"lecture"}}`),
			"$.object.definition.type: must be an IRI"},
		{with(`"object":{"id":"https://timetable.uni.example/e/1"}`, `"object":{"objectType":"SubStatement","actor":{"mbox":"mailto:b@uni.example"},"verb":{"id":"http://x.example/v"},"object":{"objectType":"SubStatement"}}`),
			"$.object.object.objectType: a SubStatement cannot hold another SubStatement"},
		{with(`"object":{"id":"https://timetable.uni.example/e/1"}`, `"object":{"objectType":"StatementRef","id":"x"}`), "$.object.id: must be a UUID"},
		{with(`{"actor"`, `{"verb":{"id":"http://x.example/v"},"actor"`), "$.verb: the property appears twice"},
		{with(`{"actor"`, `{"context":{"extensions":{"http://x.example/a":1,"http://x.example/a":2}},"actor"`), `$.context.extensions["http://x.example/a"]: the property appears twice`},
		{"[" + good + `,{"actor":{"mbox":"mailto:ada@uni.example"},"verb":{"id":"http://x.example/v"`, "$[1].verb: the object is not closed"},
		{"[" + good + `,{"actor":{"mbox":"mailto:ada@uni.example"},"verb":{"id":tru}}`, "$[1].verb.id: not a JSON value"},
		{with(`"http://adlnet.gov/expapi/verbs/attended"`, "\"http://adlnet.gov/expapi/verbs/\xffattended\""), "$.verb.id: a string is not valid UTF-8"},
		{with(`"http://adlnet.gov/expapi/verbs/attended"`, "\"http://adlnet.gov/expapi/verbs/\tattended\""), "$.verb.id: a string holds a control character"},
		{`42`, "$: want a statement object or an array of statements"},
		{``, "$: the body is empty"},
		{"[" + good + `,"statement"]`, "$[1]: a statement must be a JSON object"},
		{"[" + good + "] []", "$: data after the statements"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.body), Options{})
		var se *Error
		if !errors.As(err, &se) || se.Status != http.StatusBadRequest {
			t.Errorf("%s: error %v, want a 400 naming %q", c.body, err, c.want)
			continue
		}
		if !strings.HasPrefix(se.Error(), c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.body, se.Error(), c.want)
		}
	}
}

func TestReaderLimits(t *testing.T) {
	deep := with(`{"actor"`, `{"context":{"extensions":{"http://x.example/d":`+strings.Repeat("[", 29)+strings.Repeat("]", 29)+`}},"actor"`)
	if _, err := Parse([]byte(deep), Options{}); err != nil {
		t.Errorf("32 levels refused: %v", err)
	}
	deeper := with(`{"actor"`, `{"context":{"extensions":{"http://x.example/d":`+strings.Repeat("[", 30)+strings.Repeat("]", 30)+`}},"actor"`)
	_, err := Parse([]byte(deeper), Options{})
	if se := (*Error)(nil); !errors.As(err, &se) || se.Status != http.StatusBadRequest ||
		!strings.Contains(se.Msg, "nested deeper than 32 levels") || !strings.HasPrefix(se.Path, `$.context.extensions["http://x.example/d"][0][0]`) {
		t.Errorf("33 levels: %v", err)
	}

	big := with(`{"actor"`, `{"context":{"extensions":{"http://x.example/big":"`+strings.Repeat("x", maxStatementBytes)+`"}},"actor"`)
	_, err = Parse([]byte("["+good+","+big+"]"), Options{})
	if se := (*Error)(nil); !errors.As(err, &se) || se.Status != http.StatusRequestEntityTooLarge || se.Path != "$[1]" {
		t.Errorf("a statement over 64 KiB: %v", err)
	}

	many := "[" + strings.TrimSuffix(strings.Repeat(good+",", maxBatchStatements+1), ",") + "]"
	_, err = Parse([]byte(many), Options{})
	if se := (*Error)(nil); !errors.As(err, &se) || se.Status != http.StatusRequestEntityTooLarge || se.Path != "$[1000]" {
		t.Errorf("1001 statements: %v", err)
	}
	if sts, err := Parse([]byte("[]"), Options{}); err != nil || len(sts) != 0 {
		t.Errorf("an empty batch: %v %v", sts, err)
	}
	if _, err := Parse([]byte("["+good+"]"), Options{Single: true}); err == nil {
		t.Error("PUT took an array")
	}
}

// TestReaderTakesWhatLEAPUses: the parts of a statement the mapping and
// the roster need.
func TestReaderTakesWhatLEAPUses(t *testing.T) {
	body := `{"id":"0B6A3F2E-5D41-4C7A-9E21-7F3C2A1D8E01","actor":{"name":"Ada","mbox":"MAILTO:Ada@Uni.example"},
	"verb":{"id":"http://adlnet.gov/expapi/verbs/attended"},
	"object":{"id":"https://t.example/e","definition":{"type":"http://xapi.jisc.ac.uk/event_timetabled"}},
	"result":{"completion":false},
	"context":{"platform":"Study Goal","extensions":{"http://xapi.jisc.ac.uk/captured_from":"ios","http://x.example/other":"x"}},
	"timestamp":"2026-10-20T10:00:00+01:00"}`
	sts, err := Parse([]byte(body), Options{ExtKeys: []string{"http://xapi.jisc.ac.uk/captured_from"}})
	if err != nil {
		t.Fatal(err)
	}
	st := sts[0]
	if st.ID != "0b6a3f2e-5d41-4c7a-9e21-7f3c2a1d8e01" || st.Verb != "http://adlnet.gov/expapi/verbs/attended" || st.ObjectType != "Activity" ||
		st.ActivityType != "http://xapi.jisc.ac.uk/event_timetabled" || st.Platform != "Study Goal" || st.Completion != -1 ||
		!st.HasTimestamp || !st.Timestamp.Equal(time.Date(2026, 10, 20, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("%+v", st)
	}
	if st.Actor.MboxSHA1 != store.MboxSHA1("ada@uni.example") {
		t.Errorf("mbox sha1 %q", st.Actor.MboxSHA1)
	}
	if len(st.Extensions) != 1 || st.Extensions[0].Value != "ios" {
		t.Errorf("extensions %+v", st.Extensions)
	}
}

// TestFingerprintIgnoresOnlyWhatXAPICallsInsignificant.
func TestFingerprintIgnoresOnlyWhatXAPICallsInsignificant(t *testing.T) {
	base := `{"id":"0b6a3f2e-5d41-4c7a-9e21-7f3c2a1d8e01","actor":{"mbox":"mailto:ada@uni.example"},
	"verb":{"id":"http://id.tincanapi.com/verb/viewed","display":{"en-GB":"viewed"}},
	"object":{"id":"https://m.example/c/1","definition":{"name":{"en-GB":"Calculus"}}},
	"result":{"score":{"raw":1}},
	"context":{"registration":"ec231277-cf6d-4b4f-8a0a-3e2b9e4e4a3a"},"timestamp":"2026-10-20T10:15:07+01:00"}`
	fp := func(body string) [16]byte {
		t.Helper()
		sts, err := Parse([]byte(body), Options{})
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return sts[0].Fingerprint
	}
	want := fp(base)
	same := map[string]string{
		"properties in another order": `{"timestamp":"2026-10-20T10:15:07+01:00","object":{"definition":{"name":{"en-GB":"Calculus"}},"id":"https://m.example/c/1"},
			"context":{"registration":"ec231277-cf6d-4b4f-8a0a-3e2b9e4e4a3a"},"result":{"score":{"raw":1}},
			"verb":{"display":{"en-GB":"viewed"},"id":"http://id.tincanapi.com/verb/viewed"},"actor":{"mbox":"mailto:ada@uni.example"},"id":"0b6a3f2e-5d41-4c7a-9e21-7f3c2a1d8e01"}`,
		"the case of a language tag": strings.Replace(base, `"en-GB":"viewed"`, `"EN-gb":"viewed"`, 1),
		"the case of a UUID":         strings.Replace(base, "ec231277-cf6d", "EC231277-CF6D", 1),
		"the id":                     strings.Replace(base, "0b6a3f2e", "1b6a3f2e", 1),
		"the writing of a time":      strings.Replace(base, "2026-10-20T10:15:07+01:00", "2026-10-20T09:15:07.000Z", 1),
		"the writing of a number":    strings.Replace(base, `"raw":1`, `"raw":1.0e0`, 1),
		"an escape":                  strings.Replace(base, `"Calculus"`, `"\u0043alculus"`, 1),
		"stored, authority, version": strings.Replace(base, `{"id"`, `{"stored":"2026-10-21T00:00:00Z","version":"1.0.3","authority":{"mbox":"mailto:lrs@x.example"},"id"`, 1),
	}
	for name, body := range same {
		if fp(body) != want {
			t.Errorf("%s changed the fingerprint", name)
		}
	}
	different := map[string]string{
		"the time":         strings.Replace(base, "10:15:07", "10:15:08", 1),
		"a name":           strings.Replace(base, `"Calculus"`, `"calculus"`, 1),
		"the actor":        strings.Replace(base, "mailto:ada@", "mailto:ben@", 1),
		"a score":          strings.Replace(base, `"raw":1`, `"raw":2`, 1),
		"a property added": strings.Replace(base, `"result":{`, `"result":{"success":true,`, 1),
		"no timestamp":     strings.Replace(base, `,"timestamp":"2026-10-20T10:15:07+01:00"`, ``, 1),
	}
	for name, body := range different {
		if fp(body) == want {
			t.Errorf("a change of %s kept the fingerprint", name)
		}
	}
}

func TestReaderVersions(t *testing.T) {
	noZone := with(`{"actor"`, `{"timestamp":"2026-10-20T09:00:00","actor"`)
	sts, err := Parse([]byte(noZone), Options{})
	if err != nil || !sts[0].Timestamp.Equal(time.Date(2026, 10, 20, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("1.0: a timestamp without a zone is UTC: %v %v", sts, err)
	}
	if _, err := Parse([]byte(noZone), Options{V2: true}); err == nil || !strings.Contains(err.Error(), "with a time zone") {
		t.Errorf("2.0: a timestamp without a zone: %v", err)
	}
	v2 := with(`"object"`, `"context":{"contextAgents":[{"objectType":"contextAgent","agent":{"mbox":"mailto:t@uni.example"},"relevantTypes":["https://x.example/tutor"]}]},"object"`)
	if _, err := Parse([]byte(v2), Options{V2: true}); err != nil {
		t.Errorf("2.0 contextAgents: %v", err)
	}
}

func TestEveryFixtureReads(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "statements", "*.json"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if _, err := Parse(b, Options{}); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// FuzzStatementReader: the reader never panics, refuses with a path, takes
// only valid JSON, and reads the same body the same way twice.
func FuzzStatementReader(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "statements", "*.json"))
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte("[" + good + "," + good + "]"))
	f.Add([]byte(with(`{"actor"`, `{"context":{"extensions":{"http://x.example/d":[[["\ud83d\ude00\u00"]]]}},"actor"`)))
	f.Add([]byte(`{"actor":{"objectType":"Group","member":[{"mbox":"mailto:a@b"}]},"verb":{"id":"x:y"},"object":{"objectType":"SubStatement","actor":{"openid":"http://o.example"},"verb":{"id":"x:z"},"object":{"objectType":"StatementRef","id":"0b6a3f2e-5d41-4c7a-9e21-7f3c2a1d8e01"}}}`))
	f.Add([]byte(`[{"actor":{"mbox":"mailto:a@b"},"verb":{"id":"x:y"},"object":{"id":"x:o","definition":{"interactionType":"choice","choices":[{"id":"a","description":{"en":"A"}}]}},"result":{"score":{"min":0,"max":10,"raw":5}}}]`))
	f.Add([]byte(`[1e999, -0, 0.5e-3, "\u0000"]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		sts, err := Parse(b, Options{ExtKeys: []string{"http://xapi.jisc.ac.uk/captured_from"}})
		if err != nil {
			var se *Error
			if !errors.As(err, &se) || !strings.HasPrefix(se.Path, "$") || se.Msg == "" ||
				(se.Status != http.StatusBadRequest && se.Status != http.StatusRequestEntityTooLarge) {
				t.Fatalf("refused without a path and a reason: %#v", err)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("took invalid JSON: %q", b)
		}
		again, err := Parse(b, Options{ExtKeys: []string{"http://xapi.jisc.ac.uk/captured_from"}})
		if err != nil || len(again) != len(sts) {
			t.Fatalf("a second read differs: %v", err)
		}
		for i := range sts {
			if sts[i].Verb == "" || sts[i].Fingerprint != again[i].Fingerprint || sts[i].ID != again[i].ID {
				t.Fatalf("statement %d: %+v / %+v", i, sts[i], again[i])
			}
		}
	})
}

// readJSON reads b as one JSON value with the statement reader's tokenizer,
// without the checks of xAPI, and gives it as encoding/json would with
// UseNumber: the last of repeated names wins, as there.
func readJSON(b []byte) (any, error) {
	r := &reader{src: b, opt: Options{MaxBytes: len(b) + 1, MaxDepth: 10000}}
	root, err := r.value(-1, 0, 0, 0, false, 1)
	if err != nil {
		return nil, err
	}
	r.ws()
	if r.pos != len(b) {
		return nil, r.fail(root, "data after the value")
	}
	return r.valueOf(root), nil
}

func (r *reader) valueOf(n int32) any {
	nd := &r.nodes[n]
	switch nd.kind {
	case jTrue:
		return true
	case jFalse:
		return false
	case jNumber:
		return json.Number(r.text(n))
	case jString:
		return string(r.text(n))
	case jArray:
		a := make([]any, 0, nd.n)
		for c := nd.first; c >= 0; c = r.nodes[c].next {
			a = append(a, r.valueOf(c))
		}
		return a
	case jObject:
		m := make(map[string]any, nd.n)
		for c := nd.first; c >= 0; c = r.nodes[c].next {
			m[string(r.key(c))] = r.valueOf(c)
		}
		return m
	}
	return nil
}

// FuzzReaderAgreesWithEncodingJSON: the tokenizer takes exactly the JSON
// encoding/json takes, and reads the same values from it. One difference
// is deliberate: JSON text is UTF-8 (RFC 8259), and the reader refuses
// strings that are not, where encoding/json replaces the bad bytes.
func FuzzReaderAgreesWithEncodingJSON(f *testing.F) {
	for _, s := range []string{good, `[1e999, -0, 0.5e-3, "\u0000", "\ud83d\ude00", "\ud83d", "\udc00\ud83d x"]`,
		`{"a":1,"a":{"b":[true,false,null]}}`, ` "\/\b\f\n\r\t\"\\" `, `01`, `1.`, `-`, `"\u00"`, "\"\xff\"", `[1,]`, `{"a" 1}`, `[] []`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := readJSON(b)
		valid := json.Valid(b) && utf8.Valid(b)
		if (err == nil) != valid {
			t.Fatalf("%q: the reader says %v, encoding/json valid=%v utf8=%v", b, err, json.Valid(b), utf8.Valid(b))
		}
		if !valid {
			return
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var want any
		if err := d.Decode(&want); err != nil {
			t.Fatalf("%q: encoding/json: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n reader %#v\n  json %#v", b, got, want)
		}
	})
}
