package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

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

// readStudentScript reads one student: their profile and their counts
// hashes, one per month, each packed as "day=counts;day=counts". One call
// per student touches only that student's keys, which share a hash slot,
// so it runs on a Cluster as on one Redis; a reply of a few strings
// instead of a map per month keeps the reader's allocations down. Plain
// Lua, for both Redis kinds. KEYS: the profile, the amendments, then the
// months; the amendments come back as read, after the months.
var readStudentScript = redis.NewScript(`
local out = {redis.call('HGETALL', KEYS[1])}
for i = 3, #KEYS do
  local h = redis.call('HGETALL', KEYS[i])
  local parts = {}
  for j = 1, #h, 2 do parts[#parts + 1] = h[j] .. '=' .. h[j + 1] end
  out[#out + 1] = table.concat(parts, ';')
end
out[#out + 1] = redis.call('HGETALL', KEYS[2])
return out
`)

// ReadStudents reads the profiles and the counts from..to, amended as
// StudentCounts amends them, of a chunk of students in one pipeline, one
// script call per student (see readStudentScript). Callers bound the chunk, and so the memory,
// themselves: a whole year of a whole university is never read at once.
func ReadStudents(ctx context.Context, c redis.UniversalClient, ids []string, from, to calendar.Day) ([]StudentRecord, error) {
	var months []calendar.Day
	for m := (calendar.Day{Year: from.Year, Month: from.Month, Day: 1}); !to.Before(m); m = nextMonth(m) {
		months = append(months, m)
	}
	cmds := make([]*redis.Cmd, len(ids))
	send := func() error {
		pipe := c.Pipeline()
		keys := make([]string, 2+len(months))
		for i, id := range ids {
			keys[0], keys[1] = ProfileKey(id), AmendmentsKey(id)
			for j, m := range months {
				keys[2+j] = CountsKey(id, m)
			}
			cmds[i] = readStudentScript.EvalSha(ctx, pipe, keys)
		}
		_, err := pipe.Exec(ctx)
		return err
	}
	err := send()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// First use on this Redis (or on one of a Cluster's masters).
		if err := forEachMaster(ctx, c, func(ctx context.Context, m redis.UniversalClient) error {
			return readStudentScript.Load(ctx, m).Err()
		}); err != nil {
			return nil, fmt.Errorf("load the read script: %w", err)
		}
		err = send()
	}
	if err != nil {
		return nil, fmt.Errorf("read %d students: %w", len(ids), err)
	}
	out := make([]StudentRecord, len(ids))
	for i, id := range ids {
		reply, _ := cmds[i].Val().([]any)
		if len(reply) != 2+len(months) {
			return nil, fmt.Errorf("read %s: %d parts in the reply, want %d", id, len(reply), 2+len(months))
		}
		r := &out[i]
		r.Student, r.Found = StudentFromProfile(pairs(reply[0]))
		if !r.Found {
			continue
		}
		n := 0
		for _, part := range reply[1 : 1+len(months)] {
			if s, _ := part.(string); s != "" {
				n += strings.Count(s, ";") + 1
			}
		}
		r.Counts = make(map[calendar.Day]Counts, n)
		for j, m := range months {
			packed, _ := reply[1+j].(string)
			for packed != "" {
				var entry string
				entry, packed, _ = strings.Cut(packed, ";")
				field, value, _ := strings.Cut(entry, "=")
				dom, err := strconv.Atoi(field)
				if err != nil {
					continue
				}
				d := calendar.Day{Year: m.Year, Month: m.Month, Day: dom}
				if dayNumber(d) < dayNumber(from) || dayNumber(to) < dayNumber(d) {
					continue
				}
				cs, err := parsePacked(value)
				if err != nil {
					return nil, fmt.Errorf("counts of %s on %s: %w", id, d, err)
				}
				r.Counts[d] = cs
			}
		}
		if amendments, _ := reply[1+len(months)].([]any); len(amendments) > 0 {
			if err := applyAmendments(r.Counts, pairs(amendments), from, to); err != nil {
				return nil, fmt.Errorf("counts of %s: %w", id, err)
			}
		}
	}
	return out, nil
}

// pairs is a flat HGETALL reply as a map.
func pairs(v any) map[string]string {
	flat, _ := v.([]any)
	m := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		m[k], _ = flat[i+1].(string)
	}
	return m
}

// forEachMaster runs f on every master of a Cluster, or on c itself.
func forEachMaster(ctx context.Context, c redis.UniversalClient, f func(context.Context, redis.UniversalClient) error) error {
	if cc, ok := c.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return f(ctx, m) })
	}
	return f(ctx, c)
}

// dayNumber orders days as numbers, without the time arithmetic of
// Day.Compare: a chunk compares each of its tens of thousands of days.
func dayNumber(d calendar.Day) int { return d.Year*10000 + int(d.Month)*100 + d.Day }

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
