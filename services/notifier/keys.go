// Package notifier decides what LEAP sends by email and sends it: tutors'
// digests of their tutees' alerts, referrals to the services named in them,
// and notices to students who asked for them. One replica at a time (a
// lease in Redis) plans and sends; every message is queued in Redis under
// an idempotency key before it is sent, so a restart sends what remains
// once, and a message the mail server accepted is marked sent and never
// sent again.
package notifier

import "github.com/leap-dev/leap/services/store"

// The notifier's keys share the hash tag {notify}, so that its scripts,
// which change a message, the queue and the log together, run on one slot
// of a Redis Cluster.
const (
	// LeaseKey is held by the replica that plans and sends.
	LeaseKey = store.NotifyLeaseKey
	// SinceKey holds when notifications were first switched on (RFC 3339):
	// records written before then are never announced, so switching them
	// on does not mail the year's history.
	SinceKey = store.NotifySinceKey
	// DueKey orders the messages to send by when each is next tried (Unix
	// milliseconds).
	DueKey = store.NotifyDueKey
	// LogKey is the stream of every send: to whom, what kind, when, the
	// result. The LEAP team reads it in the portal.
	LogKey = store.NotifyLogKey
	// SlotsKey lists the digest slots planned in full.
	SlotsKey = store.NotifySlotsKey
	// LastDigestKey holds the time of the last digest planned (RFC 3339):
	// the next digest lists the alerts raised since.
	LastDigestKey = store.NotifyLastDigestKey
	// SeenKey maps a student to the records version last looked at.
	SeenKey = store.NotifySeenKey
	// TriggerKey lists requests to send the digests now (the LEAP team's
	// button), each the name of whoever asked.
	TriggerKey = store.NotifyTriggerKey
	// SMTPStateKey holds the outcome of the last attempt to reach the mail
	// server: ok, error, at.
	SMTPStateKey = store.NotifySMTPStateKey
)

// MessageKey holds a queued message, its state and its attempts, under its
// idempotency key. It is kept after sending: it is what makes a second
// plan of the same notification a no-op.
func MessageKey(id string) string { return store.NotifyMessageKey(id) }

// PreferencesKey holds a student's choices: notices by email, and what a
// referral may tell the service. It carries the student's hash tag, like
// the rest of the student's data.
func PreferencesKey(student string) string { return store.NotifyPreferencesKey(student) }
