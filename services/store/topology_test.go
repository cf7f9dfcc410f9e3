package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/services/internal/redistest"
)

// TestEveryTopology runs the store's operations against a real
// standalone Redis, a real Sentinel in front of one, and a real three-node
// Cluster, each reached through Open as the services reach it. On the
// Cluster this proves the key layout: each Lua script and transaction
// touches one student's slot only, and pipelines across students work.
func TestEveryTopology(t *testing.T) {
	t.Run("standalone", func(t *testing.T) {
		exercise(t, Options{URL: redistest.Start(t).URL()})
	})
	t.Run("sentinel", func(t *testing.T) {
		master := redistest.Start(t)
		sentinel := redistest.StartSentinel(t, master, "leap")
		exercise(t, Options{URL: "redis://" + sentinel, Topology: Sentinel, SentinelMaster: "leap"})
	})
	t.Run("cluster", func(t *testing.T) {
		addrs := redistest.StartCluster(t, 3)
		exercise(t, Options{URL: fmt.Sprintf("redis://%s?addr=%s&addr=%s", addrs[0], addrs[1], addrs[2]), Topology: Cluster})
	})
}

func exercise(t *testing.T, o Options) {
	ctx := context.Background()
	c, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := Ping(ctx, c); err != nil {
		t.Fatal(err)
	}
	if cc, ok := c.(*redis.ClusterClient); ok {
		// Spread over the nodes: the test means nothing on one node.
		var nodes atomic.Int32 // ForEachMaster calls back concurrently
		_ = cc.ForEachMaster(ctx, func(context.Context, *redis.Client) error { nodes.Add(1); return nil })
		if n := nodes.Load(); n != 3 {
			t.Fatalf("cluster has %d masters, want 3", n)
		}
	}

	const n = 150 // more student-days than one script call takes
	var students []Student
	for i := range n {
		students = append(students, Student{ID: fmt.Sprintf("s%02d", i), Name: "S", Email: fmt.Sprintf("s%02d@uni.example", i),
			Department: "Maths", Course: "BSc", Year: 1, Level: "ug", Mode: "FT"})
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(PutStudents(ctx, c, students))
	must(PutStaff(ctx, c, []Staff{{ID: "t1", Name: "Tutor", Email: "tutor@uni.example", Department: "Maths", Role: "tutor"}}))
	must(PutTutors(ctx, c, []Tutoring{{Staff: "t1", Student: "s07"}}))

	day, _ := calendar.ParseDay("2026-10-19")
	var events []Event
	for i := range n {
		for a := range 3 {
			events = append(events, Event{ID: fmt.Sprintf("e%d-%d", i, a), Student: students[i].ID, Activity: a, Day: day})
		}
	}
	events = append(events, Event{ID: "ghost", Student: "nobody", Activity: 0, Day: day})
	rec := Recorder{Client: c, Retention: 30 * 24 * time.Hour}
	out, err := rec.Record(ctx, events)
	must(err)
	for i, o := range out[:len(out)-1] {
		if o != Counted {
			t.Fatalf("event %d: %v, want counted", i, o)
		}
	}
	if out[len(out)-1] != UnknownStudent {
		t.Errorf("an event for nobody: %v", out[len(out)-1])
	}
	again, err := rec.Record(ctx, events[:3])
	must(err)
	for _, o := range again {
		if o != Duplicate {
			t.Errorf("a resent event: %v, want duplicate", o)
		}
	}
	counts, err := StudentCounts(ctx, c, "s42", day, day)
	must(err)
	if got := counts[day]; got[0] != 1 || got[1] != 1 || got[2] != 1 {
		t.Errorf("counts of s42: %v", got)
	}
	if v, err := Version(ctx, c, "s42"); err != nil || v != 1 {
		t.Errorf("version of s42: %d, %v", v, err)
	}

	ids, err := StudentsByMbox(ctx, c, []string{MboxSHA1("s01@uni.example"), MboxSHA1("s149@uni.example")})
	must(err)
	if ids[0] != "s01" || ids[1] != "s149" {
		t.Errorf("mbox lookup: %v", ids)
	}
	if id, err := StaffByEmail(ctx, c, "Tutor@Uni.example"); err != nil || id != "t1" {
		t.Errorf("staff by email: %q, %v", id, err)
	}
	if st, ok, err := GetStudent(ctx, c, "s07"); err != nil || !ok || st.Tutor != "t1" {
		t.Errorf("s07: %+v %v %v", st, ok, err)
	}

	_, err = AddRecord(ctx, c, "s07", Record{Author: "t1", AuthorName: "Tutor", Kind: KindNote, Text: "Met today."})
	must(err)
	recs, err := ListRecords(ctx, c, "s07")
	must(err)
	if len(recs) != 1 || recs[0].Text != "Met today." {
		t.Errorf("records of s07: %+v", recs)
	}
	chs := make([]Challenge, 0, 3)
	for _, s := range []string{"s03", "s30", "s57"} {
		ch, err := AddChallenge(ctx, c, s, Challenge{Date: "2026-10-19", Activity: "vle", Reason: "I was ill."})
		must(err)
		chs = append(chs, ch)
	}
	open, err := OpenChallenges(ctx, c)
	must(err)
	if len(open) != 3 {
		t.Fatalf("open challenges: %d, want 3", len(open))
	}
	must(DecideChallenge(ctx, c, "s30", chs[1].ID, ChallengeRejected, "The data stand."))
	open, err = OpenChallenges(ctx, c)
	must(err)
	if len(open) != 2 {
		t.Errorf("open challenges after a decision: %d, want 2", len(open))
	}
	// A correction: the decision, the amendment and both versions in one
	// script, and the amended count read with the counts.
	fix, err := AddChallenge(ctx, c, "s42", Challenge{Date: "2026-10-19", Activity: "faser_upload", Reason: "Not mine."})
	must(err)
	a, err := Decide(ctx, c, "s42", fix.ID, Decision{State: ChallengeCorrected, Reason: "Shared PC.", Correction: &Amendment{Discard: true}})
	must(err)
	counts, err = StudentCounts(ctx, c, "s42", day, day)
	must(err)
	if a.Original != 1 || counts[day][1] != 0 || counts[day][0] != 1 {
		t.Errorf("s42 after the amendment %+v: counts %v", a, counts[day])
	}
	if v, err := Version(ctx, c, "s42"); err != nil || v != 2 {
		t.Errorf("version of s42 after the amendment: %d, %v; want 2", v, err)
	}
}
