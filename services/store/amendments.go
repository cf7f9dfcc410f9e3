package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/calendar"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// The LEAP team's corrections of a student's counts, upheld challenges:
//
//	leap:{s:ID}:a   HASH  "YYYY-MM-DD/activity" -> JSON Amendment, the count scoring uses for that day and activity
//
// An amendment sits beside the source's counts and never overwrites them:
// ingestion keeps adding to the counts hash (a resend, a late event), the
// source's figure stays readable (SourceCounts), and every reader of counts
// for scoring (StudentCounts, ReadStudents) lays the amendments over it in
// applyAmendments, so a resend cannot undo a correction. The key shares the
// student's hash tag, so one pipeline, script or transaction reads or
// writes it with the counts and the versions on a Cluster too.

// AmendmentsKey holds the LEAP team's corrections of a student's counts.
func AmendmentsKey(student string) string { return studentTag(student) + ":a" }

// MaxAmendedCount bounds a corrected count: far above any real day (the
// engine caps each activity's daily points well below it), low enough that
// a typing slip of a few extra digits is refused rather than stored.
const MaxAmendedCount = 1000

// ErrAttendanceNotAmendable refuses a correction of attendance. The
// attendance system is the record of taps: a missed tap is reported there,
// and its correction reaches LEAP as a late event.
var ErrAttendanceNotAmendable = errors.New("attendance cannot be amended in LEAP")

// Amendment is the LEAP team's correction of one activity's count on one
// day of one student, made when upholding their challenge.
type Amendment struct {
	Date     string `json:"date"`     // YYYY-MM-DD
	Activity string `json:"activity"` // an activity key
	// Count is the count scoring uses; Discard marks "none of the source's
	// counts of that day stand" (a shared-PC mix-up, say), with Count 0.
	Count   int32 `json:"count"`
	Discard bool  `json:"discard,omitempty"`
	// Original is the source's count when the amendment was made; the
	// source's current figure is read with SourceCounts.
	Original  int32     `json:"original"`
	Challenge string    `json:"challenge"`
	By        string    `json:"by"`
	ByName    string    `json:"byName"`
	At        time.Time `json:"at"`
}

func amendmentField(date, activity string) string { return date + "/" + activity }

// check says what is wrong with an amendment, in words for the LEAP team.
func (a Amendment) check() error {
	if _, err := calendar.ParseDay(a.Date); err != nil {
		return fmt.Errorf("%w amendment date %q", ErrInvalid, a.Date)
	}
	if a.Activity == string(v1alpha1.TapIn) {
		return ErrAttendanceNotAmendable
	}
	if !v1alpha1.KnownActivity(a.Activity) {
		return fmt.Errorf("%w amendment: %q is not an activity whose count can be corrected", ErrInvalid, a.Activity)
	}
	if a.Count < 0 || a.Count > MaxAmendedCount || (a.Discard && a.Count != 0) {
		return fmt.Errorf("%w amendment: a count from 0 to %d, or discard", ErrInvalid, MaxAmendedCount)
	}
	return nil
}

// Amendments reads a student's amendments, oldest day first.
func Amendments(ctx context.Context, c redis.UniversalClient, student string) ([]Amendment, error) {
	raw, err := c.HGetAll(ctx, AmendmentsKey(student)).Result()
	if err != nil {
		return nil, fmt.Errorf("read amendments of %s: %w", student, err)
	}
	out := make([]Amendment, 0, len(raw))
	for field, v := range raw {
		var a Amendment
		if err := json.Unmarshal([]byte(v), &a); err != nil {
			return nil, fmt.Errorf("amendment %s of %s: %w", field, student, err)
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Amendment) int {
		return strings.Compare(amendmentField(a.Date, a.Activity), amendmentField(b.Date, b.Activity))
	})
	return out, nil
}

// applyAmendments lays a student's amendments (their hash as read) over
// their counts of the days from..to: the one place where the source's
// counts become the counts scoring uses.
func applyAmendments(counts map[calendar.Day]Counts, raw map[string]string, from, to calendar.Day) error {
	for field, v := range raw {
		date, activity, _ := strings.Cut(field, "/")
		d, err := calendar.ParseDay(date)
		if err != nil {
			return fmt.Errorf("amendment %q: %w", field, err)
		}
		if dayNumber(d) < dayNumber(from) || dayNumber(to) < dayNumber(d) {
			continue
		}
		i, ok := v1alpha1.ActivityIndex(activity)
		if !ok {
			return fmt.Errorf("amendment %q: unknown activity", field)
		}
		var a Amendment
		if err := json.Unmarshal([]byte(v), &a); err != nil {
			return fmt.Errorf("amendment %q: %w", field, err)
		}
		cs := counts[d]
		cs[i] = a.Count
		counts[d] = cs
	}
	return nil
}

// SourceCounts reads a student's counts for the days from..to as the
// sources sent them, without the LEAP team's amendments: what an audit or
// the student's download shows as the original.
func SourceCounts(ctx context.Context, c redis.UniversalClient, id string, from, to calendar.Day) (map[calendar.Day]Counts, error) {
	return readCounts(ctx, c, id, from, to, false)
}

// decideScript writes a decision once and, with it, its amendment: the
// decision is HSETNX, so of two LEAP team members deciding at once one
// wins, and only the winner's amendment is stored, in the same step. An
// amendment bumps the data version, which keys scoring's cache; every
// decision bumps the records version, which keys the student's page.
// KEYS: decisions, amendments, records version, data version. ARGV:
// challenge id, decision JSON, amendment field ("" for none), amendment
// JSON. Plain Lua, for both Redis kinds.
var decideScript = redis.NewScript(`
redis.call('INCR', KEYS[3])
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
  redis.call('INCR', KEYS[4])
end
return 1
`)
