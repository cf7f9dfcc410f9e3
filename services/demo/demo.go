// Package demo makes a realistic term of data for `make run`: a few hundred
// students across departments, courses, years and levels, full- and
// part-time, a few on exchange; a weekly timetable, quiet weekends, reading
// week, assignment deadlines that bring uploads, and some students drifting
// into disengagement. The same seed always gives the same data. It is
// loaded through the ingestion API, so the demo exercises the real path.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/services/store"
)

// Data is a generated roster and its events.
type Data struct {
	Students []store.Student
	Staff    []store.Staff
	Tutors   []store.Tutoring
	Events   []Event
}

// Event is an event as the ingestion API takes it.
type Event struct {
	ID       string `json:"id"`
	Student  string `json:"student"`
	Activity string `json:"activity"`
	At       string `json:"at"`
	Source   string `json:"source"`
}

var departments = []struct{ name, short string }{
	{"Mathematics", "MA"}, {"History", "HI"}, {"Computer Science", "CS"},
	{"Law", "LW"}, {"Psychology", "PS"}, {"Biology", "BS"},
}

// sources says which system sends each activity.
var sources = map[v1alpha1.Activity]string{
	v1alpha1.TapIn: "attendance", v1alpha1.FaserUpload: "faser", v1alpha1.FaserView: "faser",
	v1alpha1.ListenAgain: "listen-again", v1alpha1.PCLabLogin: "pc-labs", v1alpha1.MoodleCourse: "moodle",
	v1alpha1.MoodleLogin: "moodle", v1alpha1.MoodleMobile: "moodle", v1alpha1.LibraryLoan: "library",
	v1alpha1.ReadingList: "reading-lists",
}

// person is a student's habits.
type person struct {
	store.Student
	engagement float64      // 0..1, how much they use what is on offer
	driftFrom  calendar.Day // from this day on, engagement fades; zero for none
	stopFrom   calendar.Day // from this day on, nothing at all; zero for none
}

// stoppedEvery picks the students who have stopped: one in stoppedEvery,
// spread over the departments, so that whatever day make run starts on,
// tutors have alerts to see (a drift alone may have run its course, or not
// yet begun).
const stoppedEvery = 25

// Generate makes n students and their events from the first day of cal up
// to until (or the end of the year, whichever is first).
func Generate(seed uint64, n int, cal *calendar.Calendar, until time.Time) Data {
	last := cal.Today(until)
	if cal.LastDay().Before(last) {
		last = cal.LastDay()
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x1ea9))
	// The teaching days that have ended by until, newest first: those who
	// have stopped did so 8 to 12 of them ago, past the usual
	// no-engagement alert of 7.
	ended := cal.TeachingDaysBefore(cal.Today(until).AddDays(-1), 12)
	var d Data
	for i, dep := range departments {
		for j := range 3 {
			id := fmt.Sprintf("t%s%d", strings.ToLower(dep.short), j+1)
			// An address, so that make run's notifier can mail the
			// tutor's digest to its inbox.
			d.Staff = append(d.Staff, store.Staff{
				ID: id, Name: tutorNames[(3*i+j)%len(tutorNames)], Email: id + "@example.ac.uk",
				Department: dep.name, Role: "tutor",
			})
		}
		d.Staff = append(d.Staff, store.Staff{ID: "o" + strings.ToLower(dep.short), Name: "Office of " + dep.name, Department: dep.name, Role: "staff"})
	}
	d.Staff = append(d.Staff, store.Staff{ID: "leap", Name: "LEAP team", Department: "Student Services", Role: "leap-team"})

	people := make([]person, n)
	for i := range people {
		dep := departments[i%len(departments)]
		p := person{Student: store.Student{
			ID: fmt.Sprintf("%s%05d", strings.ToLower(dep.short), 10000+i), Name: studentName(rng),
			Department: dep.name, Mode: "FT",
		}}
		switch r := rng.Float64(); {
		case r < 0.06:
			p.Level, p.Course, p.Year = "pgr", "PhD "+dep.name, 1+rng.IntN(3)
		case r < 0.2:
			p.Level, p.Course, p.Year = "pgt", "MSc "+dep.name, 1
		default:
			p.Level, p.Course, p.Year = "ug", "BSc "+dep.name, 1+rng.IntN(3)
		}
		if rng.Float64() < 0.1 {
			p.Mode = "PT"
		}
		p.Exchange = p.Level == "ug" && rng.Float64() < 0.03
		p.Email = p.ID + "@example.ac.uk"
		// Most students engage well; a long tail does not.
		p.engagement = math.Min(1, 0.15+0.95*math.Pow(rng.Float64(), 0.6))
		if rng.Float64() < 0.08 {
			p.driftFrom = cal.FirstDay().AddDays(14 + rng.IntN(35))
		}
		tutor := d.Staff[(i%len(departments))*4+rng.IntN(3)]
		if i%stoppedEvery == 0 {
			// The first tutor of each department, whom make run prints
			// for the first, has one of them; they are undergraduates,
			// who have an indicator. Who they are does not depend on
			// until, so the roster is the same whenever it is made.
			p.Level, p.Course, p.Year = "ug", "BSc "+dep.name, 1+i%3
			tutor = d.Staff[(i%len(departments))*4]
			if k := 8 + i/stoppedEvery%5; len(ended) >= 7 {
				p.stopFrom = ended[min(k, len(ended))-1]
			}
		}
		people[i] = p
		d.Students = append(d.Students, p.Student)
		d.Tutors = append(d.Tutors, store.Tutoring{Staff: tutor.ID, Student: p.ID})
	}

	for day := cal.FirstDay(); !last.Before(day); day = day.AddDays(1) {
		place := cal.PlaceOf(day)
		if place.Period == v1alpha1.PeriodVacation {
			continue
		}
		for _, p := range people {
			for _, e := range p.day(rng, cal, day, place.Period) {
				if e.at.Before(until) {
					d.Events = append(d.Events, e.Event)
				}
			}
		}
	}
	return d
}

// day is one student's events on one day.
func (p person) day(rng *rand.Rand, cal *calendar.Calendar, day calendar.Day, period v1alpha1.Period) []timedEvent {
	if !p.stopFrom.IsZero() && !day.Before(p.stopFrom) {
		return nil
	}
	e := p.engagement
	if !p.driftFrom.IsZero() && p.driftFrom.Before(day) {
		e *= math.Exp(-float64(daysBetween(p.driftFrom, day)) / 6)
	}
	if p.Mode == "PT" {
		e *= 0.6
	}
	weekday := day.Weekday()
	online := 1.0
	switch {
	case weekday == time.Saturday || weekday == time.Sunday:
		online = 0.25
	case period == v1alpha1.PeriodBreak:
		online = 0.35
	}
	teaching := cal.IsTeachingDay(day)
	weekOfTerm := daysBetween(cal.FirstDay(), day)/7 + 1
	deadline := teaching && weekday == time.Friday && (weekOfTerm == 5 || weekOfTerm == 10)
	nearDeadline := teaching && (weekOfTerm == 5 || weekOfTerm == 10)

	counts := map[v1alpha1.Activity]int{}
	if teaching {
		sessions := []int{3, 4, 3, 4, 2}[int(weekday)-1]
		for range sessions {
			if rng.Float64() < e {
				counts[v1alpha1.TapIn]++
			}
		}
	}
	poisson := func(mean float64) int { return poissonDraw(rng, mean*e*online) }
	counts[v1alpha1.MoodleLogin] = poisson(3)
	counts[v1alpha1.MoodleCourse] = poisson(10)
	counts[v1alpha1.MoodleMobile] = poisson(3.5)
	counts[v1alpha1.ListenAgain] = poisson(1.6)
	counts[v1alpha1.PCLabLogin] = poisson(1.2)
	counts[v1alpha1.FaserView] = poisson(0.8)
	counts[v1alpha1.LibraryLoan] = poisson(0.12)
	counts[v1alpha1.ReadingList] = poisson(0.4)
	if nearDeadline {
		counts[v1alpha1.FaserView] += poisson(1.5)
	}
	if deadline && rng.Float64() < 0.3+0.7*e {
		counts[v1alpha1.FaserUpload]++
	}

	loc := cal.Location()
	var out []timedEvent
	for _, a := range v1alpha1.Catalogue {
		for k := range counts[a.Key] {
			at := day.Start(loc).Add(time.Duration(8*60+rng.IntN(12*60)) * time.Minute)
			out = append(out, timedEvent{at: at, Event: Event{
				ID: fmt.Sprintf("demo-%s-%s-%s-%d", p.ID, day, a.Key, k), Student: p.ID, Activity: string(a.Key),
				At: at.UTC().Format(time.RFC3339), Source: sources[a.Key],
			}})
		}
	}
	return out
}

type timedEvent struct {
	Event
	at time.Time
}

func daysBetween(a, b calendar.Day) int {
	return int(b.Start(time.UTC).Sub(a.Start(time.UTC)).Hours() / 24)
}

// poissonDraw draws from a Poisson distribution of the given mean (Knuth).
func poissonDraw(rng *rand.Rand, mean float64) int {
	if mean <= 0 {
		return 0
	}
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

var tutorNames = []string{
	"Dr Amara Okafor", "Dr Ben Hughes", "Prof. Chloe Martin", "Dr Dev Patel", "Dr Elena Rossi", "Dr Farid Haddad",
	"Prof. Grace Liu", "Dr Hamish Reid", "Dr Ines Duarte", "Dr Jonas Berg", "Dr Kemi Adeyemi", "Dr Liam Walsh",
	"Dr Maya Cohen", "Dr Niall Byrne", "Prof. Olga Ivanova", "Dr Priya Shah", "Dr Quentin Moreau", "Dr Rosa Jimenez",
}

var firstNames = []string{"Aisha", "Ben", "Chen", "Dara", "Ellis", "Fatima", "George", "Hana", "Idris", "Jade", "Kofi", "Lena", "Mateo", "Nia", "Oscar", "Priya", "Quinn", "Rhys", "Sofia", "Tom", "Uma", "Victor", "Wen", "Yusuf", "Zoe"}
var lastNames = []string{"Ahmed", "Brown", "Clarke", "Davies", "Evans", "Fraser", "Green", "Hall", "Iqbal", "Jones", "Khan", "Lewis", "Morgan", "Nowak", "Owen", "Price", "Quayle", "Roberts", "Singh", "Taylor", "Usman", "Vance", "Wright", "Young"}

func studentName(rng *rand.Rand) string {
	return firstNames[rng.IntN(len(firstNames))] + " " + lastNames[rng.IntN(len(lastNames))]
}

// Load sends the data to an ingestion service at baseURL with token.
func Load(ctx context.Context, baseURL, token string, d Data) error {
	post := func(path, ctype string, body []byte) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("POST %s: %w", path, err)
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("POST %s: %s: %s", path, resp.Status, answer)
		}
		var a struct {
			Rejected []any `json:"rejected"`
		}
		if err := json.Unmarshal(answer, &a); err == nil && len(a.Rejected) > 0 {
			return fmt.Errorf("POST %s: %d records rejected, first %v", path, len(a.Rejected), a.Rejected[0])
		}
		return nil
	}
	for _, part := range []struct {
		path string
		v    any
	}{{"/v1/roster/students", d.Students}, {"/v1/roster/staff", d.Staff}, {"/v1/roster/tutors", d.Tutors}} {
		b, err := json.Marshal(part.v)
		if err != nil {
			return err
		}
		if err := post(part.path, "application/json", b); err != nil {
			return err
		}
	}
	const batch = 5000
	for i := 0; i < len(d.Events); i += batch {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		for _, e := range d.Events[i:min(i+batch, len(d.Events))] {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		if err := post("/v1/events", "application/x-ndjson", buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}
