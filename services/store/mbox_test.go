package store

import (
	"context"
	"testing"

	"github.com/leap-dev/leap/services/internal/redistest"
)

// TestMboxIndexFollowsTheRoster: a student is found by the mbox_sha1sum of
// the address as written and lower-cased; a changed address leaves the old
// one pointing nowhere, and never removes the entry of another student.
func TestMboxIndexFollowsTheRoster(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	ada := Student{ID: "s1", Name: "Ada", Email: "Ada.Lovelace@Uni.example", Department: "Maths", Course: "C", Year: 1, Level: "ug", Mode: "FT"}
	ben := Student{ID: "s2", Name: "Ben", Email: "ben@uni.example", Department: "Maths", Course: "C", Year: 1, Level: "ug", Mode: "FT"}
	if err := PutStudents(ctx, rdb, []Student{ada, ben}); err != nil {
		t.Fatal(err)
	}
	lookup := func(emails ...string) []string {
		t.Helper()
		var hashes []string
		for _, e := range emails {
			hashes = append(hashes, MboxSHA1(e))
		}
		got, err := StudentsByMbox(ctx, rdb, hashes)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	got := lookup("Ada.Lovelace@Uni.example", "ada.lovelace@uni.example", "ADA.LOVELACE@UNI.EXAMPLE", "ben@uni.example", "nobody@uni.example")
	want := []string{"s1", "s1", "", "s2", ""}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("lookup %d: %q, want %q (all %v)", i, got[i], want[i], got)
		}
	}

	// Ada changes address; Ben takes her old one in the same upload.
	ada.Email, ben.Email = "ada@uni.example", "ada.lovelace@uni.example"
	if err := PutStudents(ctx, rdb, []Student{ben, ada}); err != nil {
		t.Fatal(err)
	}
	got = lookup("ada@uni.example", "ada.lovelace@uni.example", "Ada.Lovelace@Uni.example", "ben@uni.example")
	want = []string{"s1", "s2", "", ""}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("after the change, lookup %d: %q, want %q (all %v)", i, got[i], want[i], got)
		}
	}
}

// TestStaffEmailIndex: single sign-on may name staff by email. The index
// ignores case, follows a changed address, and never removes the entry of
// someone who took the old address in the same upload.
func TestStaffEmailIndex(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Start(t).Client(t)
	tutor := Staff{ID: "t1", Name: "Dr Tutor", Email: "T.Utor@Uni.example", Department: "Maths", Role: "tutor"}
	office := Staff{ID: "o1", Name: "Office", Email: "office@uni.example", Department: "History", Role: "staff"}
	if err := PutStaff(ctx, rdb, []Staff{tutor, office}); err != nil {
		t.Fatal(err)
	}
	check := func(when string, want map[string]string) {
		t.Helper()
		for email, id := range want {
			got, err := StaffByEmail(ctx, rdb, email)
			if err != nil {
				t.Fatal(err)
			}
			if got != id {
				t.Errorf("%s: StaffByEmail(%q) = %q, want %q", when, email, got, id)
			}
		}
	}
	check("first upload", map[string]string{"t.utor@uni.example": "t1", "T.UTOR@UNI.EXAMPLE": "t1", "office@uni.example": "o1", "nobody@uni.example": ""})
	if got, err := StudentByEmail(ctx, rdb, "t.utor@uni.example"); err != nil || got != "" {
		t.Errorf("a member of staff found as a student: %q, %v", got, err)
	}

	tutor.Email, office.Email = "tutor@uni.example", "t.utor@uni.example"
	if err := PutStaff(ctx, rdb, []Staff{office, tutor}); err != nil {
		t.Fatal(err)
	}
	check("after the change", map[string]string{"tutor@uni.example": "t1", "t.utor@uni.example": "o1", "office@uni.example": ""})
	got, ok, err := GetStaff(ctx, rdb, "t1")
	if err != nil || !ok || got != tutor {
		t.Errorf("GetStaff = %+v, %v, %v; want %+v", got, ok, err, tutor)
	}
	if _, ok, err := GetStaff(ctx, rdb, "nobody"); err != nil || ok {
		t.Errorf("GetStaff(nobody) = %v, %v; want not found", ok, err)
	}
}
