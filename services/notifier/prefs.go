package notifier

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Preferences are a student's choices about email.
type Preferences struct {
	// Notices: an email when staff write a note or an objective, or the
	// LEAP team decides one of their challenges (never the text itself).
	Notices bool `json:"notices"`
	// NoticesSince is when they asked: records from before are not
	// announced.
	NoticesSince time.Time `json:"noticesSince,omitzero"`
	// What a referral may tell the service it names: contact (name, email,
	// student id), course (course and year), reason (the referral's text).
	// Nothing by default: the service hears that someone was referred, and
	// by whom.
	ShareContact bool `json:"shareContact"`
	ShareCourse  bool `json:"shareCourse"`
	ShareReason  bool `json:"shareReason"`
}

// GetPreferences reads a student's choices; the zero value when none.
func GetPreferences(ctx context.Context, rdb redis.UniversalClient, student string) (Preferences, error) {
	m, err := rdb.HGetAll(ctx, PreferencesKey(student)).Result()
	if err != nil {
		return Preferences{}, fmt.Errorf("read %s's notification choices: %w", student, err)
	}
	p := Preferences{Notices: m["notices"] == "1", ShareContact: m["contact"] == "1", ShareCourse: m["course"] == "1", ShareReason: m["reason"] == "1"}
	if t, err := time.Parse(time.RFC3339Nano, m["noticesSince"]); err == nil {
		p.NoticesSince = t
	}
	return p, nil
}

// SetPreferences stores a student's choices. Turning notices on starts
// them from now; leaving them on keeps their start.
func SetPreferences(ctx context.Context, rdb redis.UniversalClient, student string, p Preferences, now time.Time) error {
	flag := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	key := PreferencesKey(student)
	_, err := rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.HSet(ctx, key, "notices", flag(p.Notices), "contact", flag(p.ShareContact), "course", flag(p.ShareCourse), "reason", flag(p.ShareReason))
		if p.Notices {
			pipe.HSetNX(ctx, key, "noticesSince", now.UTC().Format(time.RFC3339Nano))
		} else {
			pipe.HDel(ctx, key, "noticesSince")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store %s's notification choices: %w", student, err)
	}
	return nil
}
