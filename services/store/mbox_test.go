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
