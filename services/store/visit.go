package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// A student's last visit to their own page, for the portal's "New" marks.
//
//	leap:{s:ID}:visit   STRING "RECORDSVERSION AT": the student's records version as
//	                           their page showed it, and when (RFC 3339, UTC)
//
// Staff views never write it: the marks are about what the student has
// read.

// LastVisitKey holds a student's last visit to their own page.
func LastVisitKey(student string) string { return studentTag(student) + ":visit" }

// visitLifetime: a student away longer than a year sees nothing marked new.
const visitLifetime = 400 * 24 * time.Hour

// Visit is a student's visit to their page: the records version it showed
// and when it was read.
type Visit struct {
	RecordsVersion string
	At             time.Time
}

// ParseVisit reads a LastVisitKey value; ok is false for none or a value
// that does not parse, which count as no visit.
func ParseVisit(v string) (Visit, bool) {
	version, at, found := strings.Cut(v, " ")
	t, err := time.Parse(time.RFC3339Nano, at)
	if !found || err != nil {
		return Visit{}, false
	}
	return Visit{RecordsVersion: version, At: t}, true
}

// RecordVisit keeps v as the student's last visit.
func RecordVisit(ctx context.Context, c redis.UniversalClient, student string, v Visit) error {
	val := v.RecordsVersion + " " + v.At.UTC().Format(time.RFC3339Nano)
	if err := c.Set(ctx, LastVisitKey(student), val, visitLifetime).Err(); err != nil {
		return fmt.Errorf("record the visit of %s: %w", student, err)
	}
	return nil
}
