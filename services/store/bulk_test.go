package store

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/services/internal/redistest"
)

// FuzzParsePacked: the bulk reader's parser gives what ParseCounts gives,
// counts and refusals alike.
func FuzzParsePacked(f *testing.F) {
	for _, s := range []string{"", "1", "1,2,3", "0,0,4", "1,,2", "-1", "+1", "1,2,3,4,5,6,7,8,9,10,11", "2147483647", "2147483648", "99999999999", " 1", "007"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, packed string) {
		want, wantErr := ParseCounts(packed)
		got, err := parsePacked(packed)
		if (err != nil) != (wantErr != nil) || (err == nil && got != want) {
			t.Fatalf("%q: parsePacked %v %v, ParseCounts %v %v", packed, got, err, want, wantErr)
		}
	})
}

// TestReadStudentsAgreesWithStudentCounts: the bulk reader reads what the
// one-student reader reads, on redis-server and on the embedded Redis of
// make run, including a student in the index with no profile and days
// outside the range asked.
func TestReadStudentsAgreesWithStudentCounts(t *testing.T) {
	mr := miniredis.RunT(t)
	for name, c := range map[string]redis.UniversalClient{
		"redis-server": redistest.Start(t).Client(t),
		"miniredis":    redis.NewClient(&redis.Options{Addr: mr.Addr()}),
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			first := calendar.Day{Year: 2026, Month: 9, Day: 28}
			var students []Student
			var events []Event
			for i := range 20 {
				id := fmt.Sprintf("s%d", i)
				students = append(students, Student{ID: id, Name: "N" + id, Department: "D", Course: "C", Year: 2, Level: "ug", Mode: "PT"})
				for d := range 60 {
					if (i*d)%4 != 1 {
						events = append(events, Event{ID: fmt.Sprintf("%s-%d", id, d), Student: id, Activity: (i + d) % 8, Day: first.AddDays(d)})
					}
				}
			}
			if err := PutStudents(ctx, c, students); err != nil {
				t.Fatal(err)
			}
			rec := Recorder{Client: c, Retention: time.Hour, Now: func() time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) }}
			if _, err := rec.Record(ctx, events); err != nil {
				t.Fatal(err)
			}
			from, to := first.AddDays(3), first.AddDays(50)
			// s7's counts are amended on a day in the range and on one
			// before it: the bulk reader lays them over as StudentCounts does.
			amended := first.AddDays(10)
			for _, d := range []calendar.Day{amended, first} {
				ch, err := AddChallenge(ctx, c, "s7", Challenge{Date: d.String(), Activity: "moodle_login", Reason: "shared PC"})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := Decide(ctx, c, "s7", ch.ID, Decision{State: ChallengeCorrected, Reason: "r", Correction: &Amendment{Count: 42}}); err != nil {
					t.Fatal(err)
				}
			}
			ids := []string{"nobody", "s0", "s7", "s19"}
			got, err := ReadStudents(ctx, c, ids, from, to)
			if err != nil {
				t.Fatal(err)
			}
			if got[0].Found {
				t.Error("found a student without a profile")
			}
			for i, id := range ids[1:] {
				want, err := StudentCounts(ctx, c, id, from, to)
				if err != nil {
					t.Fatal(err)
				}
				r := got[i+1]
				if !r.Found || r.Student.Name != "N"+id || r.Student.Year != 2 || r.Student.Mode != "PT" || len(want) == 0 || !maps.Equal(r.Counts, want) {
					t.Errorf("%s: %+v %v, want %v", id, r.Student, r.Counts, want)
				}
			}
			if n := got[2].Counts[amended][moodleLogin]; n != 42 {
				t.Errorf("s7's amended day reads %d moodle logins, want the amendment's 42", n)
			}
		})
	}
}
