package demo

import (
	"strings"
	"testing"
	"time"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// TestLoginsFitTogether: the printed tutor is the printed student's, the
// printed staff are of their department, and the research and exchange
// students are what they say.
func TestLoginsFitTogether(t *testing.T) {
	cal, err := calendar.New("Europe/London", []v1alpha1.DateRange{{Name: "autumn", Start: "2026-10-05", End: "2026-12-11"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := Generate(7, 400, cal, time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC))
	logins := Logins(d)
	if len(logins) != 6 {
		t.Fatalf("%d logins: %+v", len(logins), logins)
	}
	students, staff, tutorOf := map[string]int{}, map[string]int{}, map[string]string{}
	for i, s := range d.Students {
		students[s.ID] = i
	}
	for i, s := range d.Staff {
		staff[s.ID] = i
	}
	for _, tu := range d.Tutors {
		tutorOf[tu.Student] = tu.Staff
	}
	student := d.Students[students[logins[0].ID]]
	if tutorOf[student.ID] != logins[1].ID {
		t.Errorf("printed tutor %s, the student's is %s", logins[1].ID, tutorOf[student.ID])
	}
	if o := d.Staff[staff[logins[2].ID]]; o.Role != "staff" || o.Department != student.Department {
		t.Errorf("printed staff %+v, student of %s", o, student.Department)
	}
	if logins[3].ID != "leap" {
		t.Errorf("LEAP team login %s", logins[3].ID)
	}
	if r := d.Students[students[logins[4].ID]]; r.Level != "pgr" {
		t.Errorf("the research student is %+v", r)
	}
	if x := d.Students[students[logins[5].ID]]; !x.Exchange {
		t.Errorf("the exchange student is %+v", x)
	}
	if !strings.Contains(IDForms(), "ma10000") {
		t.Error(IDForms())
	}
}
