package store

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/leap-dev/leap/operator/api/calendar"
)

// StudentRecord is one student's roster profile and counts, as read in
// bulk by ReadStudents.
type StudentRecord struct {
	Student Student
	// Found is false for an id in the index that has no profile.
	Found  bool
	Counts map[calendar.Day]Counts
}

// ReadStudents reads the profiles and the counts from..to of a chunk of
// students in one pipeline: a profile hash and one counts hash per month
// each, single-key commands all, so that on a Cluster the client sends
// each to its slot's node and no command spans slots. Callers bound the
// chunk, and so the memory, themselves: a whole year of a whole
// university is never read at once.
func ReadStudents(ctx context.Context, c redis.UniversalClient, ids []string, from, to calendar.Day) ([]StudentRecord, error) {
	var months []calendar.Day
	for m := (calendar.Day{Year: from.Year, Month: from.Month, Day: 1}); !to.Before(m); m = nextMonth(m) {
		months = append(months, m)
	}
	pipe := c.Pipeline()
	profiles := make([]*redis.MapStringStringCmd, len(ids))
	counts := make([]*redis.MapStringStringCmd, len(ids)*len(months))
	for i, id := range ids {
		profiles[i] = pipe.HGetAll(ctx, ProfileKey(id))
		for j, m := range months {
			counts[i*len(months)+j] = pipe.HGetAll(ctx, CountsKey(id, m))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read %d students: %w", len(ids), err)
	}
	out := make([]StudentRecord, len(ids))
	for i, id := range ids {
		r := &out[i]
		r.Student, r.Found = StudentFromProfile(profiles[i].Val())
		if !r.Found {
			continue
		}
		n := 0
		for j := range months {
			n += len(counts[i*len(months)+j].Val())
		}
		r.Counts = make(map[calendar.Day]Counts, n)
		for j, m := range months {
			for field, packed := range counts[i*len(months)+j].Val() {
				dom, err := strconv.Atoi(field)
				if err != nil {
					continue
				}
				d := calendar.Day{Year: m.Year, Month: m.Month, Day: dom}
				if dayKey(d) < dayKey(from) || dayKey(to) < dayKey(d) {
					continue
				}
				cs, err := parsePacked(packed)
				if err != nil {
					return nil, fmt.Errorf("counts of %s on %s: %w", id, d, err)
				}
				r.Counts[d] = cs
			}
		}
	}
	return out, nil
}

// dayKey orders days as numbers, without the time arithmetic of
// Day.Compare: a chunk compares each of its tens of thousands of days.
func dayKey(d calendar.Day) int { return d.Year*10000 + int(d.Month)*100 + d.Day }

// parsePacked is ParseCounts without its allocations, for the bulk read
// of a whole university; FuzzParsePacked holds the two to the same answers.
func parsePacked(packed string) (Counts, error) {
	var c Counts
	if packed == "" {
		return c, nil
	}
	i, n, digits := 0, int64(0), 0
	for k := 0; k <= len(packed); k++ {
		if k == len(packed) || packed[k] == ',' {
			if digits == 0 || i >= len(c) {
				return ParseCounts(packed) // its error, in its words
			}
			c[i] = int32(n)
			i, n, digits = i+1, 0, 0
			continue
		}
		ch := packed[k]
		if ch < '0' || ch > '9' || digits >= 9 {
			return ParseCounts(packed)
		}
		n = n*10 + int64(ch-'0')
		digits++
	}
	return c, nil
}
