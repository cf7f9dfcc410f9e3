package store

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/services/scoring/engine"
)

// Counts are one student's counts on one day, indexed by catalogue
// position: the engine's type, so counts go from Redis to scoring as read.
type Counts = engine.Counts

// The key layout. A student's keys share the hash tag {s:ID}.
//
//	leap:{s:ID}:p             HASH  the roster profile
//	leap:{s:ID}:c:YYYYMM      HASH  day of month -> counts "n,n,..." in catalogue order, trailing zeros trimmed
//	leap:{s:ID}:i:YYYYMMDD    SET   event ids counted for that day, expiring after the late-arrival window
//	leap:{s:ID}:v             INT   data version, bumped by every change of counts or amendments (keys the scoring cache)
//	leap:{s:ID}:a             HASH  the LEAP team's amendments of counts (amendments.go)
//	leap:{s:ID}:k             HASH  scoring's cached answers, at most a few (scoring.maxCachedRanges)
//
// One hash per student and month keeps every hash at 31 fields or fewer, so
// Redis stores it as a compact listpack: about 30 bytes a student-day.
func studentTag(id string) string { return "leap:{s:" + id + "}" }

// ProfileKey holds a student's roster profile.
func ProfileKey(id string) string { return studentTag(id) + ":p" }

// CountsKey holds a student's counts for the month of d.
func CountsKey(id string, d calendar.Day) string {
	return fmt.Sprintf("%s:c:%04d%02d", studentTag(id), d.Year, d.Month)
}

// EventIDsKey holds the event ids counted for a student on day d.
func EventIDsKey(id string, d calendar.Day) string {
	return fmt.Sprintf("%s:i:%04d%02d%02d", studentTag(id), d.Year, d.Month, d.Day)
}

// VersionKey holds a student's data version.
func VersionKey(id string) string { return studentTag(id) + ":v" }

// SourcesKey holds, per source system, when it last sent an event.
const SourcesKey = "leap:sources"

// recordScript counts groups of events, each one student on one day, each
// event exactly once, atomically with the record of their ids: a retried or
// concurrently repeated batch can never count twice, and nothing is ever
// half-written. It is plain Lua, so both redis-server and the embedded
// Redis of `make run` run it.
//
//go:embed record.lua
var recordLua string

var recordScript = redis.NewScript(recordLua)

// ScopedID is the id under which an event is counted once: its source's
// name, "/", and the id the source gave it. Sources number their events
// independently (an LRS's statement ids are unique to that LRS), so one
// source can neither collide with nor squat another's ids. Source names
// hold no "/". Ids counted before they were scoped are bare; the record
// script takes an event whose bare id is already held as a duplicate, so
// a batch resent across the change counts once.
func ScopedID(source, id string) string { return source + "/" + id }

// Event is one activity to count.
type Event struct {
	ID       string
	Student  string
	Activity int // catalogue index
	Day      calendar.Day
}

// Outcome of recording one event.
type Outcome uint8

// Outcomes.
const (
	Counted Outcome = iota
	Duplicate
	UnknownStudent
)

// Recorder writes events to Redis.
type Recorder struct {
	Client redis.UniversalClient
	// Retention is how long an event id is remembered after its day: at
	// least the late-arrival window, after which the event is refused anyway.
	Retention time.Duration
	// Now is the service's clock; ids expire relative to it.
	Now func() time.Time
}

func (r Recorder) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

// groupsPerCall bounds the student-days one script call counts: enough to
// make the per-call cost small, few enough that one call holds Redis for
// well under a millisecond.
const groupsPerCall = 64

// Record counts events and returns one outcome per event, in order. Events
// are grouped by student and day; groups go to Redis in script calls of up
// to groupsPerCall, all pipelined. On a Cluster one call holds only groups
// whose keys share a slot.
func (r Recorder) Record(ctx context.Context, events []Event) ([]Outcome, error) {
	type group struct {
		student string
		day     calendar.Day
		pairs   []any
		index   []int
		ttl     int64
	}
	groups := map[string]*group{}
	var order []*group
	for i, e := range events {
		k := e.Student + "\x00" + e.Day.String()
		g := groups[k]
		if g == nil {
			// Ids live at least Retention from now, so a backfill of old
			// days resent within that time still counts once.
			ttl := max(e.Day.Start(time.UTC).Add(24*time.Hour+r.Retention).Sub(r.now()), r.Retention, time.Hour)
			g = &group{student: e.Student, day: e.Day, ttl: int64(ttl.Seconds())}
			groups[k] = g
			order = append(order, g)
		}
		g.pairs = append(g.pairs, e.ID, e.Activity+1)
		g.index = append(g.index, i)
	}

	// Calls: groups in order, split by slot on a Cluster.
	type call struct {
		groups []*group
		keys   []string
		args   []any
	}
	_, cluster := r.Client.(*redis.ClusterClient)
	open := map[uint16]*call{}
	var calls []*call
	for _, g := range order {
		var slot uint16
		if cluster {
			slot = Slot(g.student)
		}
		c := open[slot]
		if c == nil || len(c.groups) == groupsPerCall {
			c = &call{}
			open[slot] = c
			calls = append(calls, c)
		}
		c.groups = append(c.groups, g)
		c.keys = append(c.keys, ProfileKey(g.student), EventIDsKey(g.student, g.day), CountsKey(g.student, g.day), VersionKey(g.student))
		c.args = append(c.args, strconv.Itoa(g.day.Day), g.ttl, len(g.index))
		c.args = append(c.args, g.pairs...)
	}

	cmds := make([]*redis.Cmd, len(calls))
	send := func(which []int) error {
		pipe := r.Client.Pipeline()
		for _, i := range which {
			cmds[i] = recordScript.EvalSha(ctx, pipe, calls[i].keys, calls[i].args...)
		}
		_, err := pipe.Exec(ctx)
		return err
	}
	all := make([]int, len(calls))
	for i := range all {
		all[i] = i
	}
	if err := send(all); err != nil && !redis.HasErrorPrefix(err, "NOSCRIPT") {
		return nil, fmt.Errorf("record events: %w", err)
	}
	// Scripts unknown to this Redis (first use, or after a restart) are
	// loaded and the affected calls sent again; ids already counted come
	// back as duplicates, so nothing counts twice. On a Cluster each
	// master loads it when first asked.
	var retry []int
	for i, c := range cmds {
		if err := c.Err(); err != nil {
			if !redis.HasErrorPrefix(err, "NOSCRIPT") {
				return nil, fmt.Errorf("record events: %w", err)
			}
			retry = append(retry, i)
		}
	}
	if len(retry) > 0 {
		if err := loadScript(ctx, r.Client); err != nil {
			return nil, err
		}
		if err := send(retry); err != nil {
			return nil, fmt.Errorf("record events: %w", err)
		}
	}

	out := make([]Outcome, len(events))
	for ci, c := range calls {
		res, err := cmds[ci].Slice()
		if err != nil {
			return nil, fmt.Errorf("record events: %w", err)
		}
		if len(res) != len(c.groups) {
			return nil, fmt.Errorf("record events: %d answers for %d groups", len(res), len(c.groups))
		}
		for gi, g := range c.groups {
			got, _ := res[gi].([]any)
			if len(got) == 1 && got[0] == int64(-1) {
				for _, i := range g.index {
					out[i] = UnknownStudent
				}
				continue
			}
			if len(got) != len(g.index) {
				return nil, fmt.Errorf("record events: %d answers for %d events", len(got), len(g.index))
			}
			for j, i := range g.index {
				if got[j] == int64(1) {
					out[i] = Counted
				} else {
					out[i] = Duplicate
				}
			}
		}
	}
	return out, nil
}

// loadScript loads the count script: on every master of a Cluster, since
// each runs the calls for its own slots.
func loadScript(ctx context.Context, c redis.UniversalClient) error {
	var err error
	if cc, ok := c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			return recordScript.Load(ctx, m).Err()
		})
	} else {
		err = recordScript.Load(ctx, c).Err()
	}
	if err != nil {
		return fmt.Errorf("load record script: %w", err)
	}
	return nil
}

// StudentCounts reads a student's counts for the days from..to as scoring
// uses them: the sources' counts with the LEAP team's amendments laid
// over them (see AmendmentsKey). SourceCounts reads them without.
func StudentCounts(ctx context.Context, c redis.UniversalClient, id string, from, to calendar.Day) (map[calendar.Day]Counts, error) {
	return readCounts(ctx, c, id, from, to, true)
}

// readCounts reads the months' counts hashes and, when amended, the
// amendments, in one pipeline: all on the student's slot.
func readCounts(ctx context.Context, c redis.UniversalClient, id string, from, to calendar.Day, amended bool) (map[calendar.Day]Counts, error) {
	var months []calendar.Day
	for m := (calendar.Day{Year: from.Year, Month: from.Month, Day: 1}); !to.Before(m); m = nextMonth(m) {
		months = append(months, m)
	}
	pipe := c.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(months))
	for i, m := range months {
		cmds[i] = pipe.HGetAll(ctx, CountsKey(id, m))
	}
	var amendments *redis.MapStringStringCmd
	if amended {
		amendments = pipe.HGetAll(ctx, AmendmentsKey(id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read counts of %s: %w", id, err)
	}
	out := map[calendar.Day]Counts{}
	for i, m := range months {
		for field, packed := range cmds[i].Val() {
			dom, err := strconv.Atoi(field)
			if err != nil {
				continue
			}
			d := calendar.Day{Year: m.Year, Month: m.Month, Day: dom}
			if d.Before(from) || to.Before(d) {
				continue
			}
			counts, err := ParseCounts(packed)
			if err != nil {
				return nil, fmt.Errorf("counts of %s on %s: %w", id, d, err)
			}
			out[d] = counts
		}
	}
	if amended {
		if err := applyAmendments(out, amendments.Val(), from, to); err != nil {
			return nil, fmt.Errorf("counts of %s: %w", id, err)
		}
	}
	return out, nil
}

// ParseCounts reads the packed form "n,n,..." of a day's counts.
func ParseCounts(packed string) (Counts, error) {
	var c Counts
	if packed == "" {
		return c, nil
	}
	for i, f := range strings.Split(packed, ",") {
		if i >= len(c) {
			return c, fmt.Errorf("packed counts %q: more than %d values", packed, len(c))
		}
		n, err := strconv.ParseInt(f, 10, 32)
		if err != nil || n < 0 {
			return c, fmt.Errorf("packed counts %q: %q is not a count", packed, f)
		}
		c[i] = int32(n)
	}
	return c, nil
}

// Version is a student's data version: it changes whenever counts change.
func Version(ctx context.Context, c redis.UniversalClient, id string) (int64, error) {
	v, err := c.Get(ctx, VersionKey(id)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return v, err
}

func nextMonth(d calendar.Day) calendar.Day {
	if d.Month == 12 {
		return calendar.Day{Year: d.Year + 1, Month: 1, Day: 1}
	}
	return calendar.Day{Year: d.Year, Month: d.Month + 1, Day: 1}
}
