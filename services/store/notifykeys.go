package store

// The notifier's keys share the hash tag {notify}, so that its scripts,
// which change a message, the queue and the log together, run on one slot
// of a Redis Cluster. What each holds is said in package notifier.
const (
	NotifyLeaseKey      = "leap:{notify}:lease"
	NotifySinceKey      = "leap:{notify}:since"
	NotifyDueKey        = "leap:{notify}:due"
	NotifyLogKey        = "leap:{notify}:log"
	NotifySlotsKey      = "leap:{notify}:slots"
	NotifyLastDigestKey = "leap:{notify}:lastdigest"
	NotifySeenKey       = "leap:{notify}:seen"
	NotifyTriggerKey    = "leap:{notify}:trigger"
	NotifySMTPStateKey  = "leap:{notify}:smtp"
)

// NotifyMessageKey holds a queued message under its idempotency key.
func NotifyMessageKey(id string) string { return "leap:{notify}:msg:" + id }

// NotifyPreferencesKey holds a student's email choices, on the student's
// slot like the rest of their data.
func NotifyPreferencesKey(student string) string { return "leap:{s:" + student + "}:notify" }
