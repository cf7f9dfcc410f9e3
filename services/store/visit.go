package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// A student's last visit to their own page, for the portal's "New" marks.
//
//	leap:{s:ID}:visit   STRING "RECORDSVERSION RECORDS AT DECIDED": what the student's
//	                           page showed: the records version, how many records, when
//	                           (RFC 3339, UTC), and the ids of the decided challenges
//	                           (comma-separated)
//
// What was shown, not only when: records are an append-only list, so the
// ones after the first RECORDS are new, and a decision is new when its
// challenge is not among DECIDED, whatever the clocks of the replicas that
// wrote them said. Staff views never write it: the marks are about what
// the student has read.

// LastVisitKey holds a student's last visit to their own page.
func LastVisitKey(student string) string { return studentTag(student) + ":visit" }

// visitLifetime: a student away longer than a year sees nothing marked new.
const visitLifetime = 400 * 24 * time.Hour

// Visit is what a student's page showed them.
type Visit struct {
	RecordsVersion string
	Records        int
	At             time.Time
	Decided        []string
}

// ParseVisit reads a LastVisitKey value; ok is false for none or a value
// that does not parse, which count as no visit.
func ParseVisit(v string) (Visit, bool) {
	parts := strings.Split(v, " ")
	if len(parts) != 4 {
		return Visit{}, false
	}
	n, err1 := strconv.Atoi(parts[1])
	at, err2 := time.Parse(time.RFC3339Nano, parts[2])
	if err1 != nil || err2 != nil || n < 0 {
		return Visit{}, false
	}
	out := Visit{RecordsVersion: parts[0], Records: n, At: at}
	if parts[3] != "" {
		out.Decided = strings.Split(parts[3], ",")
	}
	return out, true
}

// VisitShowed reports whether a LastVisitKey value is of a visit that
// showed records version recordsVersion; it parses no more than that, as
// it is asked on every view of a student's own page.
func VisitShowed(v, recordsVersion string) bool {
	version, _, ok := strings.Cut(v, " ")
	return ok && version == recordsVersion
}

// RecordVisit keeps v as the student's last visit.
func RecordVisit(ctx context.Context, c redis.UniversalClient, student string, v Visit) error {
	val := strings.Join([]string{v.RecordsVersion, strconv.Itoa(v.Records), v.At.UTC().Format(time.RFC3339Nano), strings.Join(v.Decided, ",")}, " ")
	if err := c.Set(ctx, LastVisitKey(student), val, visitLifetime).Err(); err != nil {
		return fmt.Errorf("record the visit of %s: %w", student, err)
	}
	return nil
}
